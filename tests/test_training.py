"""Training stack: the CLI's errors, resuming a killed run, two-process DDP, invariance of the
trained classifier on moved test sets (issue 4)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import lieformer
from lieformer.cli import main
from lieformer.data.constellation import PointSetDataset, generate, ConstellationConfig, transform_split
from lieformer.tasks.base import NETWORKS
from lieformer.tasks.classification import PointSetClassifier
from lieformer.testing import transformed_inputs

TINY = {
    "seed_everything": 0,
    "trainer": {"max_epochs": 3, "accelerator": "cpu", "devices": 1, "log_every_n_steps": 1,
                "enable_progress_bar": False, "enable_model_summary": False, "num_sanity_val_steps": 0,
                "callbacks": [{"class_path": "lieformer.data.constellation_plots.ConstellationPlots"}]},
    "model": {"class_path": "lieformer.tasks.PointSetClassifier", "init_args": {
        "network": "LieTransformer", "group": "SE2(alpha=0.2)", "in_channels": 1,
        "network_args": {"dim": 16, "num_layers": 1, "heads": 2, "nbhd": 8, "kernel_dim": 8}, "lr": 0.003}},
    "data": {"class_path": "lieformer.data.ConstellationData", "init_args": {
        "n_train": 48, "n_val": 16, "n_test": 16, "features": "ones", "batch_size": 16}},
}


def write_config(tmp_path: Path, root: str, **changes) -> Path:
    config = yaml.safe_load(yaml.safe_dump(TINY))
    for key, value in changes.items():
        section, field = key.split(".", 1)
        (config[section]["init_args"] if "init_args" in config[section] else config[section])[field] = value
    config["trainer"]["default_root_dir"] = str(tmp_path / root)
    config["data"]["init_args"]["cache_dir"] = str(tmp_path / "cache")
    path = tmp_path / f"{root}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_cli(args, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code, capsys.readouterr().err


def test_unknown_group_is_a_one_line_error(tmp_path, capsys):
    config = write_config(tmp_path, "bad_group")
    code, err = run_cli(["fit", "--config", str(config), "--model.group", "SE5(alpha=0.2)"], capsys)
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and "model.group" in lines[0] and "unknown group 'SE5'" in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("field,value,expected", [
    ("trainer.max_epochs", "three", "trainer.max_epochs"),
    ("model.no_such_option", 1, "no_such_option"),
    ("data.features", "colour", "data.features"),
])
def test_malformed_config_is_a_one_line_error(tmp_path, capsys, field, value, expected):
    config = write_config(tmp_path, "bad", **{field: value})
    code, err = run_cli(["fit", "--config", str(config)], capsys)
    assert code == 2 and "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and expected in lines[0], err


def raise_inside_forward():
    raise ValueError("a deliberate bug inside forward")


class ForwardBug(PointSetClassifier):
    """A classifier whose forward has a bug (a ValueError, which the old CLI turned into one line)."""

    def forward(self, coords, values, mask):
        raise_inside_forward()


def test_an_error_while_training_keeps_its_traceback(tmp_path):
    """`lieformer fit` whose model raises inside forward: the user sees the traceback down to the
    raising function and a non-zero exit code, not a one-line config error."""
    config = yaml.safe_load(write_config(tmp_path, "bug").read_text())
    config["model"]["class_path"] = "tests.test_training.ForwardBug"
    (tmp_path / "bug.yaml").write_text(yaml.safe_dump(config))
    repo = Path(__file__).resolve().parents[1]
    src = Path(lieformer.__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "lieformer.cli", "fit", "--config", str(tmp_path / "bug.yaml")],
                          cwd=repo, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{repo}", "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback (most recent call last)" in proc.stderr and "lieformer: error" not in proc.stderr
    assert 'in raise_inside_forward\n    raise ValueError("a deliberate bug inside forward")' in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "ValueError: a deliberate bug inside forward"


def broken_layer():
    raise TypeError("a deliberate bug inside a constructor")


class BrokenNetwork(torch.nn.Module):
    """Takes any arguments, then fails inside its constructor with a TypeError (a bug, not a config error)."""

    def __init__(self, in_channels, out_channels, group, **kwargs):
        super().__init__()
        broken_layer()


def test_a_type_error_inside_a_constructor_keeps_its_traceback(tmp_path, capsys, monkeypatch):
    """build_network checks the argument names against the constructor's signature and then calls
    it without relabelling: a TypeError from inside is the user's to see, with its traceback; a
    wrong argument name is a one-line config error naming model.network_args."""
    monkeypatch.setitem(NETWORKS, "Broken", BrokenNetwork)
    config = write_config(tmp_path, "broken", **{"model.network": "Broken"})
    with pytest.raises(TypeError, match="a deliberate bug inside a constructor") as info:
        main(["fit", "--config", str(config)])
    assert info.traceback[-1].name == "broken_layer" and "BrokenNetwork" not in str(info.value)
    assert any(entry.name == "build_network" for entry in info.traceback)
    code, err = run_cli(["fit", "--config", str(config), "--model.network", "LieTransformer",
                         "--model.network_args", "{dim: 16, heads: 2, no_such_arg: 1}"], capsys)
    lines = [line for line in err.strip().splitlines() if line]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "model.network_args: LieTransformer: got an unexpected keyword argument 'no_such_arg'" in lines[0]


def test_eval_names_that_do_not_match_the_data_are_a_one_line_error(tmp_path, capsys):
    config = write_config(tmp_path, "names")
    code, err = run_cli(["fit", "--config", str(config), "--model.eval_names", "[D, T2]"], capsys)
    lines = [line for line in err.strip().splitlines() if line]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "model.eval_names: 2 names ('D', 'T2') for the 3 evaluation sets of ConstellationData" in lines[0]


def final_state(root: Path):
    ckpt = torch.load(root / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return ckpt["state_dict"], ckpt["epoch"]


KILLER = textwrap.dedent("""
    import os, sys
    from lightning.pytorch.callbacks import Callback
    import lieformer.cli as cli

    class Kill(Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            # epoch 1's checkpoint is written and epoch 2's first row logged: die without cleanup
            if trainer.current_epoch == 2 and batch_idx == 1:
                os._exit(17)

    original = cli.LieformerCLI.instantiate_trainer
    def with_kill(self, **kwargs):
        trainer = original(self, **kwargs)
        trainer.callbacks.insert(0, Kill())
        return trainer
    cli.LieformerCLI.instantiate_trainer = with_kill
    cli.main(sys.argv[1:])
""")


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def assert_same_history(rows: list[dict[str, str]], reference: list[dict[str, str]]) -> None:
    """Row for row the same metrics at the same (epoch, step), values equal to float tolerance."""
    assert [(r["epoch"], r["step"], sorted(k for k, v in r.items() if v)) for r in rows] == \
        [(r["epoch"], r["step"], sorted(k for k, v in r.items() if v)) for r in reference]
    for row, ref in zip(rows, reference):
        for key, value in ref.items():
            if value and key not in ("epoch", "step"):
                assert float(row[key]) == pytest.approx(float(value), rel=1e-5, abs=1e-7), (key, row["step"])


def test_killed_run_resumes_to_the_same_result(tmp_path):
    """Kill a run hard in its third epoch, resume from last.ckpt: the final weights equal an
    uninterrupted run's with the same seed, and so does the history: metrics.csv holds every
    epoch's rows exactly once (the row logged after the checkpoint, before the kill, is set aside
    in metrics.superseded-1.csv and logged again by the resumed run); TensorBoard likewise."""
    full = write_config(tmp_path, "full")
    main(["fit", "--config", str(full)])
    killed = write_config(tmp_path, "killed")
    proc = subprocess.run([sys.executable, "-c", KILLER, "fit", "--config", str(killed)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 17, proc.stderr[-2000:]
    _, epoch = final_state(tmp_path / "killed")
    assert epoch == 1
    logs = tmp_path / "killed" / "logs"
    before = read_rows(logs / "metrics.csv")  # written as logged: the kill lost none
    assert [r["step"] for r in before if r["train/loss_step"]] == [str(i) for i in range(7)]

    time.sleep(1.1)  # TensorBoard orders event files by the second they were opened in, as a real resume would
    main(["fit", "--config", str(killed), "--ckpt_path", "last"])
    a, epoch_a = final_state(tmp_path / "full")
    b, epoch_b = final_state(tmp_path / "killed")
    assert epoch_a == epoch_b == 2
    for key in a:
        torch.testing.assert_close(b[key], a[key], atol=1e-6, rtol=1e-6, msg=key)
    reference = read_rows(tmp_path / "full" / "logs" / "metrics.csv")
    assert len(reference) == 3 * 5  # per epoch: 3 training steps, validation, epoch means
    assert_same_history(read_rows(logs / "metrics.csv"), reference)
    assert_same_history(read_rows(logs / "metrics.superseded-1.csv"), reference[10:11])  # epoch 2's first step
    assert (logs / "config.yaml").exists() and (logs / "config-1.yaml").exists()  # both invocations' configs

    events = EventAccumulator(str(tmp_path / "killed" / "tensorboard" / "logs"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss_step")] == list(range(9))
    assert [e.step for e in events.Scalars("val/D/exact")] == [2, 5, 8]


def test_se2_classifier_is_invariant_on_moved_test_sets():
    """Predictions of the SE2 LieTransformer on the SE2 test variant equal those on the plain one
    (given the compensating lift), so its accuracies are equal; the Set Transformer's change."""
    torch.manual_seed(0)
    data = generate(ConstellationConfig(n=40, seed=9))
    plain = PointSetDataset(data, "ones")
    moved = PointSetDataset(transform_split(data, "SE2", 3), "ones")
    lt = PointSetClassifier("LieTransformer", "SE2(alpha=0.2)", 1, network_args=TINY["model"]["init_args"]["network_args"]).double().eval()
    group = lt.net.group
    x, v, m = plain.coords.double(), plain.values.double(), plain.mask
    gx_data = moved.coords.double()
    # the rigid motion per set, recovered from two points (the data module applied it)
    g = torch.zeros(len(x), 3, 3, dtype=torch.float64)
    d0, d1 = x[:, 1] - x[:, 0], gx_data[:, 1] - gx_data[:, 0]
    theta = torch.atan2(d1[:, 1], d1[:, 0]) - torch.atan2(d0[:, 1], d0[:, 0])
    R = torch.stack([torch.stack([theta.cos(), -theta.sin()], -1), torch.stack([theta.sin(), theta.cos()], -1)], -2)
    g[:, :2, :2], g[:, 2, 2] = R, 1
    g[:, :2, 2] = gx_data[:, 0] - (R @ x[:, 0].unsqueeze(-1)).squeeze(-1)
    h = group.lift_stabilizer(len(x), x.shape[1], 1, torch.Generator().manual_seed(0), torch.float64, None)
    gx, gh = transformed_inputs(group, g, x, m, h)
    torch.testing.assert_close(gx[m], gx_data[m], atol=1e-5, rtol=0)
    with torch.no_grad():
        pred = lt.net(x, v, m, stabilizer=h).view(-1, 4, 3).argmax(-1)
        pred_moved = lt.net(gx, v, m, stabilizer=gh).view(-1, 4, 3).argmax(-1)
    assert torch.equal(pred, pred_moved)
    targets = plain.counts
    assert (pred == targets).all(-1).float().mean() == (pred_moved == targets).all(-1).float().mean()

    st = PointSetClassifier("SetTransformer", in_channels=2, network_args={"dim": 32, "encoder_blocks": 1,
                                                                          "decoder_blocks": 1}).eval()
    with torch.no_grad():
        logits = st(plain.coords, plain.coords, plain.mask)
        logits_moved = st(moved.coords, moved.coords, moved.mask)
    assert (logits - logits_moved).abs().max() > 1e-2  # not invariant


def test_centroid_frame_classifier_scores_the_same_on_every_test_variant():
    """The demo's model (lift_frame="centroid", distance features): accuracy on the translated
    and rotated test sets equals the plain one, with no compensation anywhere."""
    torch.manual_seed(1)
    data = generate(ConstellationConfig(n=60, seed=11))
    model = PointSetClassifier("LieTransformer", "SE2(alpha=0.2)", 33, network_args={
        **TINY["model"]["init_args"]["network_args"], "lift_frame": "centroid"}).double().eval()
    scores = []
    for variant in ("D", "T2", "SE2"):
        ds = PointSetDataset(transform_split(data, variant, 4), "distances")
        with torch.no_grad():
            logits = model(ds.coords.double(), ds.values.double(), ds.mask)
        scores.append((logits.argmax(-1) == ds.counts).float().mean(-1))
        if variant == "D":
            reference = logits
        else:
            torch.testing.assert_close(logits, reference, atol=1e-6, rtol=1e-6)
    assert torch.equal(scores[0], scores[1]) and torch.equal(scores[0], scores[2])


def test_testing_keeps_the_training_logs(tmp_path):
    config = write_config(tmp_path, "logs", **{"trainer.max_epochs": 1})
    main(["fit", "--config", str(config)])
    training_logs = (tmp_path / "logs" / "logs" / "metrics.csv").read_text()
    main(["test", "--config", str(config), "--ckpt_path", str(tmp_path / "logs" / "checkpoints" / "last.ckpt")])
    for ckpt in ("last", "best"):  # each evaluation its own version; one epoch: the best is the last
        main(["test", "--config", str(config), "--ckpt_path", ckpt])
    assert "train/loss_epoch" in training_logs
    assert (tmp_path / "logs" / "logs" / "metrics.csv").read_text() == training_logs
    tests = [read_rows(tmp_path / "logs" / "logs_test" / f"version_{v}" / "metrics.csv") for v in (0, 1, 2)]
    assert all(len(t) == 1 and t[0]["test/SE2/loss"] == tests[0][0]["test/SE2/loss"] for t in tests)
    assert (tmp_path / "logs" / "constellations_SE2.png").exists()


def test_trained_set_transformer_loses_accuracy_on_moved_test_sets():
    """RESULTS.md's contrast at small scale: a Set Transformer trained on raw coordinates scores
    worse on the translated and rotated test sets than on the plain one (mean per-pattern
    accuracy and loss), where the SE2 models score the same (tests above)."""
    torch.manual_seed(1)  # (400 training sets: across seeds the loss always rises, the accuracy drop varies)
    train = PointSetDataset(generate(ConstellationConfig(n=400, seed=21)), "coords")
    test = generate(ConstellationConfig(n=300, seed=22))
    st = PointSetClassifier("SetTransformer", in_channels=2, network_args={"dim": 32, "encoder_blocks": 1, "decoder_blocks": 1})
    optimizer = torch.optim.Adam(st.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(1)
    for _ in range(250):
        i = torch.randint(0, len(train), (50,), generator=gen)
        loss, _ = st.loss_and_metrics((train.coords[i], train.values[i], train.mask[i], train.counts[i]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    st.eval()
    scores = {}
    for variant in ("D", "T2", "SE2"):
        ds = PointSetDataset(transform_split(test, variant, 5), "coords")
        with torch.no_grad():
            scores[variant] = st.loss_and_metrics((ds.coords, ds.values, ds.mask, ds.counts))[1]
    for moved in ("T2", "SE2"):
        assert scores[moved]["mean"] < scores["D"]["mean"] - 0.04
        assert scores[moved]["loss"] > scores["D"]["loss"] + 0.05
