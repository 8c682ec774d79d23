"""QM9 on the real data (qm9pack): the table, the split, the 12 targets against an independent reading
of qm9pack's CSV files, the data module, exact SE(3) invariance on real molecules, training beating
the mean, and the loader's errors (unknown target, missing extra, corrupt cache)."""

from __future__ import annotations

import ast
import csv
import importlib.util
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from lieformer.data.qm9 import TARGETS, QM9Collate, QM9Data, load_qm9, qm9_split
from lieformer.testing import assert_equivariant, assert_padding_invariant

# No skip without qm9pack: the test extra installs it (make test), so CI always reads the real data.

# Independent statement of the conversion (DESIGN.md §5), written out here rather than imported.
MEV_PER_HARTREE = 27.2114 * 1000
ATOMREF_HARTREE = {  # H, C, N, O, F: B3LYP/6-31G(2df,p) atom energies
    "InternalEnergy_0K_au": [-0.500273, -37.846772, -54.583861, -75.064579, -99.718730],
    "InternalEnergy_298K_au": [-0.498857, -37.845355, -54.582445, -75.063163, -99.717314],
    "Enthalphy_298K_au": [-0.497912, -37.844411, -54.581501, -75.062219, -99.716370],
    "GibbsFreeEnergy_298K_au": [-0.510927, -37.861317, -54.598897, -75.079532, -99.733544],
}
Z = {"H": 1, "C": 6, "N": 7, "O": 8, "F": 9}


def expected_targets(row: dict) -> dict[str, float]:
    """The 12 targets of one qm9pack CSV row, from its Stoichiometry column ([nH, nC, nN, nO, nF])."""
    counts = np.array(json.loads(row["Stoichiometry"]), dtype=float)
    au = lambda col: float(row[col])  # noqa: E731
    atomised = lambda col: (au(col) - counts @ np.array(ATOMREF_HARTREE[col])) * MEV_PER_HARTREE  # noqa: E731
    return {
        "alpha": au("Polarizability_bohr3"), "mu": au("Dipole_debye"), "r2": au("R2_bohr2"),
        "homo": au("HOMO_au") * MEV_PER_HARTREE, "lumo": au("LUMO_au") * MEV_PER_HARTREE,
        "gap": au("HOMO_LUMO_gap_au") * MEV_PER_HARTREE, "zpve": au("ZPVE_au") * MEV_PER_HARTREE,
        "U0": atomised("InternalEnergy_0K_au"), "U": atomised("InternalEnergy_298K_au"),
        "H": atomised("Enthalphy_298K_au"), "G": atomised("GibbsFreeEnergy_298K_au"),
        "Cv": au("Heatcapacity_Cv_cal_mol_K") - 2.981 * counts.sum(),
    }


@pytest.fixture(scope="module")
def table():
    return load_qm9()


def test_table_molecules_atoms_and_elements(table):
    index, charges, coords = table["index"], table["charges"], table["coords"]
    assert len(index) == 130_831 and charges.shape == (130_831, 29) and coords.shape == (130_831, 29, 3)
    assert (index[1:] > index[:-1]).all() and int(index[0]) == 1 and int(index[-1]) == 133_885
    atoms = (charges > 0).sum(1)
    assert int(atoms.min()) == 3 and int(atoms.max()) == 29
    assert set(charges.unique().tolist()) == {0, 1, 6, 7, 8, 9}  # exactly H, C, N, O, F and padding
    # atoms first, padding after (zero coordinates)
    mask = charges > 0
    assert (mask[:, :-1] >= mask[:, 1:]).all()
    assert (coords[~mask] == 0).all()
    for name in TARGETS:
        assert table["targets"][name].shape == (130_831,) and table["targets"][name].dtype == torch.float64
        assert torch.isfinite(table["targets"][name]).all()


def test_split_sizes_disjoint_and_seeded():
    train, valid, test = qm9_split(seed=0)
    assert (len(train), len(valid), len(test)) == (100_000, 17_748, 13_083)
    everything = torch.cat([train, valid, test])
    assert torch.equal(everything.sort().values, torch.arange(130_831))  # disjoint and covering
    again = qm9_split(seed=0)
    assert all(torch.equal(a, b) for a, b in zip((train, valid, test), again))
    assert not torch.equal(qm9_split(seed=1)[2], test)
    # Cormorant's split (which LieConv and the LieTransformer used): the global legacy RNG seeded 0
    np.random.seed(0)
    perm = np.random.permutation(130_831)
    np.testing.assert_array_equal(test.numpy(), perm[117_748:])


def test_targets_and_atoms_equal_an_independent_reading_of_qm9pack(table):
    folder = Path(next(iter(importlib.util.find_spec("qm9pack").submodule_search_locations))) / "data"
    rng = np.random.default_rng(0)
    wanted = set(rng.choice(table["index"].numpy(), 150, replace=False).tolist()) | {1, 133_885}
    csv.field_size_limit(sys.maxsize)
    rows = {}
    for part in (1, 2, 3):
        with open(folder / f"qm9_part{part}.csv", newline="") as f:
            for row in csv.DictReader(f):
                if int(row["Index"]) in wanted:
                    rows[int(row["Index"])] = row
    assert set(rows) == wanted
    position = {int(i): p for p, i in enumerate(table["index"].tolist())}
    for index, row in rows.items():
        p = position[index]
        for name, value in expected_targets(row).items():
            got = float(table["targets"][name][p])
            assert got == pytest.approx(value, rel=1e-12, abs=1e-9), (index, name, got, value)
        elements = ast.literal_eval(row["Elements"])
        xyz = np.array(json.loads(row["XYZ_Ang"]))
        n = len(elements)
        assert n == int(row["N_atoms"])
        np.testing.assert_array_equal(table["charges"][p, :n].numpy(), [Z[e] for e in elements])
        assert (table["charges"][p, n:] == 0).all()
        np.testing.assert_allclose(table["coords"][p, :n].numpy(), xyz, rtol=1e-6, atol=1e-6)


def test_datamodule_batches_features_and_standardisation(tmp_path):
    dm = QM9Data(targets=["homo", "U0"], batch_size=16, n_train=300, n_valid=40, n_test=50)
    dm.setup()
    assert dm.eval_names == ("valid", "test") and len(dm.train_set) == 300 and len(dm.test_set) == 50
    assert len(dm.test_dataloader()) == 2 and len(dm.val_dataloader()) == 1
    coords, values, mask, y = next(iter(dm.test_dataloader()[1]))
    n = int(mask.sum(1).max())
    assert coords.shape == (16, n, 3) and values.shape == (16, n, 15) and mask.shape == (16, n) and y.shape == (16, 2)
    charges = dm.test_set.charges[:16, :n]
    torch.testing.assert_close(mask.sum(1), (dm.test_set.charges[:16] > 0).sum(1))  # every atom kept, in order
    assert torch.equal(mask, charges > 0)
    for z, column in zip((1, 6, 7, 8, 9), range(5)):  # one-hot of the element times [1, Z/9, (Z/9)²]
        sel = charges == z
        if sel.any():
            torch.testing.assert_close(values[sel][:, 3 * column:3 * column + 3],
                                       torch.tensor([1.0, z / 9, (z / 9) ** 2]).expand(int(sel.sum()), 3))
            assert (values[sel].abs().sum(-1) == values[sel][:, 3 * column:3 * column + 3].abs().sum(-1)).all()
    assert (values[~mask] == 0).all()
    mean, std = dm.target_stats()
    train_y = torch.stack([load_qm9()["targets"][t][qm9_split()[0][:300]] for t in ("homo", "U0")], -1)
    torch.testing.assert_close(mean, train_y.mean(0))
    torch.testing.assert_close(std, train_y.std(0))


def test_augmentation_moves_molecules_rigidly():
    dm = QM9Data(targets=["gap"], n_train=8, n_valid=1, n_test=1)
    dm.setup()
    items = [dm.train_set[i] for i in range(8)]
    torch.manual_seed(0)
    plain = QM9Collate()(items)
    moved = QM9Collate(augment=True)(items)
    mask = plain[2]
    for b in range(8):
        x, gx = plain[0][b][mask[b]].double(), moved[0][b][mask[b]].double()
        torch.testing.assert_close(torch.cdist(gx, gx), torch.cdist(x, x), atol=1e-4, rtol=0)
        assert not torch.allclose(gx, x, atol=1e-2)
    assert (moved[0][~mask] == 0).all()
    torch.testing.assert_close(moved[1], plain[1])
    torch.testing.assert_close(moved[3], plain[3])


@pytest.mark.parametrize("network,args", [
    ("LieResNet", dict(k=16, num_layers=2, nbhd=8, fill=0.5, lift_samples=2)),
    ("LieTransformer", dict(dim=16, num_layers=2, heads=2, nbhd=8, fill=0.5, kernel_dim=8, lift_samples=2)),
], ids=["LieResNet", "LieTransformer"])
def test_se3_predictions_invariant_on_real_molecules(network, args):
    from lieformer.tasks.base import build_network

    dm = QM9Data(targets=["homo"], n_train=1, n_valid=1, n_test=6)
    dm.setup()
    coords, values, mask, _ = QM9Collate()([dm.test_set[i] for i in range(6)])
    assert not mask.all()  # molecules of different sizes: padding in the batch
    torch.manual_seed(0)
    model = build_network(network, 15, 1, "SE3(alpha=0.2)", args).double().eval()
    batch = (coords.double(), values.double(), mask)
    out, out_g = assert_equivariant(model, "SE3(alpha=0.2)", batch)
    assert out.std() > 0  # not a constant model
    assert_padding_invariant(model, batch)


def test_unknown_target_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown QM9 target 'HOMO'") as err:
        QM9Data(targets=["homo", "HOMO"])
    assert all(name in str(err.value) for name in TARGETS)


def test_missing_extra_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "qm9pack", None)  # as if not installed
    with pytest.raises(ImportError) as err:
        load_qm9(tmp_path)
    message = str(err.value)
    assert "pip install 'lieformer[qm9]'" in message and "\n" not in message
    assert not list(tmp_path.iterdir())


def test_corrupt_cache_is_rebuilt(tmp_path):
    first = load_qm9(tmp_path)
    (path,) = tmp_path.glob("qm9-*.npz")
    data = bytearray(path.read_bytes())
    data[len(data) // 2: len(data) // 2 + 4096] = b"\0" * 4096  # a damaged middle
    path.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = load_qm9(tmp_path)
    assert any("rebuilding" in str(w.message) for w in caught)
    assert torch.equal(again["coords"], first["coords"]) and torch.equal(again["charges"], first["charges"])
    assert all(torch.equal(again["targets"][t], first["targets"][t]) for t in TARGETS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt file is sound: loads without a warning
        load_qm9(tmp_path)


def train_lieconv_t3(tmp_path, steps: int, overrides: list[str]) -> tuple[float, float]:
    """configs/qm9/lieconv_t3_cpu.yaml on homo through the `lieformer` command's classes, trained for
    `steps` steps, then tested on all 13,083 test molecules: (test MAE homo, mean-baseline MAE)."""
    from lieformer.cli import build_cli

    config = Path(__file__).resolve().parents[1] / "configs" / "qm9" / "lieconv_t3_cpu.yaml"
    args = ["--config", str(config), "--data.targets", "[homo]", "--trainer.default_root_dir", str(tmp_path / "run"),
            "--trainer.max_steps", str(steps), "--trainer.val_check_interval", str(steps), "--data.n_valid", "200",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
            "--trainer.callbacks", "[]", *overrides]
    cli = build_cli(args, run=False)
    cli.trainer.fit(cli.model, cli.datamodule)
    (_, test), = [cli.trainer.test(cli.model, cli.datamodule, verbose=False)]
    table, (train, _, test_positions) = load_qm9(), qm9_split()
    y = table["targets"]["homo"]
    baseline = float((y[test_positions] - y[train].mean()).abs().mean())  # predict the training mean
    assert len(cli.datamodule.test_set) == 13_083
    return test["test/test/mae_homo"], baseline


def test_small_lieconv_t3_beats_the_mean_on_homo(tmp_path):
    """CI version (~35 s): the CPU config narrowed to k=32, 2 layers, 300 steps of batch 32 (9,600
    molecules): test MAE on homo at least 15% below predicting the training mean (measured:
    320 vs 434 meV, 0.74×)."""
    mae, baseline = train_lieconv_t3(tmp_path, 300, ["--model.network_args", "{k: 32, num_layers: 2, nbhd: 100, fill: 1.0, pool: mean}"])
    assert 300 < baseline < 600  # meV: homo's spread about its mean (a units check)
    assert mae < 0.85 * baseline, (mae, baseline)


@pytest.mark.slow
def test_lieconv_t3_cpu_config_beats_the_mean_on_homo(tmp_path):
    """The CPU config as shipped (k=128, 4 layers), 2,000 steps of batch 32 (a few minutes on one core):
    test MAE on homo below 0.6× the mean baseline."""
    mae, baseline = train_lieconv_t3(tmp_path, 2000, [])
    assert mae < 0.6 * baseline, (mae, baseline)


def test_data_targets_choose_the_outputs_and_checkpoints_keep_them(tmp_path):
    """--data.targets alone sets what a QM9 config predicts (model.targets null); the checkpoint
    rebuilds the same network; a model whose own targets differ from the data's is refused."""
    from lieformer.cli import build_cli
    from lieformer.tasks import PointSetRegressor

    config = str(Path(__file__).resolve().parents[1] / "configs" / "qm9" / "lieconv_t3_cpu.yaml")
    common = ["--config", config, "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
              "--trainer.callbacks", "[]", "--data.n_train", "64", "--data.n_valid", "16", "--data.n_test", "16",
              "--data.batch_size", "16", "--model.network_args", "{k: 16, num_layers: 1, nbhd: 32, fill: 1.0}"]  # every atom a neighbour: deterministic
    cli = build_cli([*common, "--data.targets", "[lumo, gap]", "--trainer.default_root_dir", str(tmp_path / "a"),
                     "--trainer.max_steps", "2", "--trainer.val_check_interval", "2"], run=False)
    cli.trainer.fit(cli.model, cli.datamodule)
    assert cli.model.targets == ("lumo", "gap") and cli.model.net.head.out_features == 2
    assert {"val/valid/mae_lumo", "val/valid/mae_gap"} <= set(cli.trainer.logged_metrics)
    reloaded = PointSetRegressor.load_from_checkpoint(tmp_path / "a" / "checkpoints" / "last.ckpt").eval()
    batch = next(iter(cli.datamodule.test_dataloader()[1]))
    torch.testing.assert_close(reloaded(*batch[:3]), cli.model.eval()(*batch[:3]))
    cli = build_cli([*common, "--data.targets", "[homo]", "--model.targets", "[lumo]", "--trainer.default_root_dir",
                     str(tmp_path / "b"), "--trainer.fast_dev_run", "true"], run=False)
    with pytest.raises(ValueError, match=r"model.targets \['lumo'\] differ from data.targets \['homo'\]"):
        cli.trainer.fit(cli.model, cli.datamodule)
