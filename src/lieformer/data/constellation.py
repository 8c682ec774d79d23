"""Constellation counting (LieTransformer paper, DESIGN.md §5): count the patterns in a point cloud.

Four pattern types — triangle, square, pentagon (regular polygons of unit circumradius) and an L
of five points — each with two slots; labels: for each pattern type (in PATTERN_NAMES order), how
many copies are present (0, 1 or 2): four three-way classifications. Two generators
(`ConstellationConfig.generator`):

- "ours" (the default): the task as the paper describes it. Every slot is kept with probability ½
  (redrawn until at least one is kept); each kept pattern (polygons centred at (2, 2), the L
  [[0,2],[0,1],[0,0],[1,0],[2,0]]) is rotated about the origin by U(−0.33π, 0.33π), translated by
  U[0, 24)², its corners jittered by N(0, 0.1²); only the kept points are returned (first in the
  array, padding after), shuffled, centred and scaled by the longer side of their bounding box
  into [−1, 1]².
- "original": the task the original code (oxcsml/lie-transformer, configs/constellation/
  constellation.py) actually generates, where it differs from that description. Polygons are
  roots of unity + 2 in homogeneous coordinates (x, y, w = 3), so their translations are
  effectively 3·U[0, 24)² while the L's (w = 1) is U[0, 24)²: patterns lie ~3× farther apart. The
  L is [[1,1],[2,1],[3,1],[3,2],[3,3]]. All 8 instances (34 points) are always built, in the order
  square, triangle, pentagon, L, square, triangle, pentagon, L, each present with probability ½
  (if none is, one random instance is switched on); absent points stay in the array under
  mask False. The 34 points are shuffled, all jittered, and scaled by one scalar min/max over all
  34 points (absent ones included) and both axes: x ↦ (x − min)/(max − min + 1e-8)·2 − 1, so the
  set's scale varies at random. Random draws follow the original's order, so
  `generate(ConstellationConfig(n, seed=s, generator="original"))` is the original's
  `create_constellations` sequence for `np.random.RandomState(s)`, labels reordered to
  PATTERN_NAMES (bit for bit when checked against oxcsml/lie-transformer 81a0aa3: 4 seeds × 2,000
  sets, 2026-11-28).

We keep "ours" as the default on purpose: it is the task the paper states, with patterns at a
distance where they often overlap, and with nothing under the mask. The original's published
accuracies belong to "original" (and to the per-label mean accuracy, not exact match: RESULTS.md).

Train and test sets come from independent seeds (the original regenerated its test set with the
training seed, so the first 1,000 training examples *were* the test set); `make_splits` checks
that no test example equals a training one. Sets are cached by lieformer.data.cache (named by a
hash of their parameters, the generator included; in $LIEFORMER_CACHE or ~/.cache/lieformer unless
the data module's cache_dir says otherwise).

The test variants (`VARIANTS`, `transform_split`) belong to this module, and so do its plots
(lieformer.data.constellation_plots, a callback the constellation configs declare).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, default_collate

from .cache import cache_key, cached_arrays
from .loaders import SplitDataModule

PATTERN_NAMES = ("triangle", "square", "pentagon", "L")
SLOTS_PER_PATTERN = 2
MAX_POINTS = SLOTS_PER_PATTERN * (3 + 4 + 5 + 5)  # 34


def pattern_templates() -> list[np.ndarray]:
    """Corner coordinates of each pattern type before placement: (3,2), (4,2), (5,2), (5,2)."""
    polygons = [np.stack([np.cos(2 * np.pi * np.arange(n) / n), np.sin(2 * np.pi * np.arange(n) / n)], -1) + 2.0
                for n in (3, 4, 5)]
    ell = np.array([[0.0, 2.0], [0.0, 1.0], [0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    return polygons + [ell]


GENERATORS = ("ours", "original")


@dataclass(frozen=True)
class ConstellationConfig:
    """Parameters of one generated split. max_rotation in radians (patterns rotated by
    U(−max_rotation, max_rotation)); max_translation the side of the translation square (the
    original's polygons move 3× that: module docstring); keep_prob each instance's presence
    probability; noise the corner jitter's standard deviation; generator "ours" or "original"."""

    n: int = 10_000
    seed: int = 0
    keep_prob: float = 0.5
    max_rotation: float = 0.33 * math.pi
    max_translation: float = 24.0
    noise: float = 0.1
    generator: str = "ours"

    def __post_init__(self):
        if self.generator not in GENERATORS:
            raise ValueError(f"generator: unknown constellation generator {self.generator!r}; choose one of {GENERATORS}")

    def cache_params(self) -> dict:
        """What generate(self) depends on, for the cache key (GENERATOR_VERSION included)."""
        return {**asdict(self), "version": GENERATOR_VERSION}

    def key(self) -> str:
        """The cache key of this split (lieformer.data.cache.cache_key)."""
        return cache_key("constellation", self.cache_params())


#: bump when generate() returns something else for the same ConstellationConfig: old cache entries then miss
GENERATOR_VERSION = 1


def generate(cfg: ConstellationConfig) -> dict[str, np.ndarray]:
    """coords (n, 34, 2) float32, mask (n, 34) bool, counts (n, 4) int64 (PATTERN_NAMES order),
    by the generator cfg.generator names."""
    return generate_original(cfg) if cfg.generator == "original" else generate_ours(cfg)


def generate_ours(cfg: ConstellationConfig) -> dict[str, np.ndarray]:
    """The paper's description: kept points first (mask True), zero padding after."""
    rng = np.random.default_rng(cfg.seed)
    templates = pattern_templates()
    coords = np.zeros((cfg.n, MAX_POINTS, 2), np.float32)
    mask = np.zeros((cfg.n, MAX_POINTS), bool)
    counts = np.zeros((cfg.n, len(templates)), np.int64)
    for i in range(cfg.n):
        keep = rng.random((len(templates), SLOTS_PER_PATTERN)) < cfg.keep_prob
        while not keep.any():
            keep = rng.random((len(templates), SLOTS_PER_PATTERN)) < cfg.keep_prob
        points = []
        for p, template in enumerate(templates):
            for slot in range(SLOTS_PER_PATTERN):
                if not keep[p, slot]:
                    continue
                theta = rng.uniform(-cfg.max_rotation, cfg.max_rotation)
                R = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
                shift = rng.uniform(0, cfg.max_translation, 2)
                points.append(template @ R.T + shift + rng.normal(0, cfg.noise, template.shape))
                counts[i, p] += 1
        pts = np.concatenate(points)[rng.permutation(sum(len(q) for q in points))]
        lo, hi = pts.min(0), pts.max(0)
        centre, half = (lo + hi) / 2, max((hi - lo).max() / 2, 1e-6)
        coords[i, : len(pts)] = (pts - centre) / half
        mask[i, : len(pts)] = True
    return {"coords": coords, "mask": mask, "counts": counts}


#: the original's instance order (two passes over its pattern list); instance i has type ORIGINAL_INSTANCES[i]
ORIGINAL_INSTANCES = ("square", "triangle", "pentagon", "L") * SLOTS_PER_PATTERN


def original_templates() -> dict[str, np.ndarray]:
    """The original's patterns in homogeneous coordinates (x, y, w): polygons are the roots of unity
    (cos 2πk/n, sin 2πk/n, 1) plus 2 in every coordinate, so w = 3 (their translation counts
    three times); the L is [[1,1],[2,1],[3,1],[3,2],[3,3]] with w = 1."""
    polygons = {name: np.stack([np.cos(2 * np.pi * np.arange(n) / n), np.sin(2 * np.pi * np.arange(n) / n), np.ones(n)], -1) + 2.0
                for name, n in (("triangle", 3), ("square", 4), ("pentagon", 5))}
    ell = np.array([[1.0, 1.0, 1.0], [2.0, 1.0, 1.0], [3.0, 1.0, 1.0], [3.0, 2.0, 1.0], [3.0, 3.0, 1.0]])
    return {**polygons, "L": ell}


def original_constellation(rng: np.random.RandomState, cfg: ConstellationConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One set as the original builds it, before normalisation: points (34, 2) float32, present
    (34,) bool, instance (34,) int (index into ORIGINAL_INSTANCES), all three shuffled alike.

    Instance i, a template row (x, y, w), becomes R(θ)(x, y) + w·t with θ ~ U(−max_rotation,
    max_rotation) (counter-clockwise, about the origin), t ~ U[0, max_translation)²; it is present
    with probability keep_prob, and if no instance is, one drawn uniformly is switched on. Noise
    N(0, noise²) is added to all 34 points after the shuffle. Draws in the original's order (an
    unused scale draw included), from a legacy RandomState as the original used.
    """
    templates = original_templates()
    points, present, instance = [], [], []
    for i, name in enumerate(ORIGINAL_INSTANCES):
        template = templates[name]
        theta = (rng.random_sample() - 0.5) * 2.0 * cfg.max_rotation
        rng.random_sample()  # the original's pattern scale factor, 1 + U·max_upscale with max_upscale 0: unused
        shift = rng.random_sample(2) * cfg.max_translation
        c, s = np.cos(theta), np.sin(theta)
        rotated = template[:, :2] @ np.array([[c, s], [-s, c]])  # row vectors: R(θ)(x, y)
        points.append(rotated + template[:, 2:] * shift)
        present.append(rng.binomial(1, cfg.keep_prob) == 1)
        instance.append(np.full(len(template), i))
    if not any(present):
        present[rng.randint(len(ORIGINAL_INSTANCES))] = True
    present = np.concatenate([np.full(len(p), k) for p, k in zip(points, present)])
    points, instance = np.concatenate(points).astype(np.float32), np.concatenate(instance)
    order = rng.permutation(len(points))
    points, present, instance = points[order], present[order], instance[order]
    points += rng.normal(scale=cfg.noise, size=points.shape)  # in place: float32, as in the original
    return points, present, instance


def normalise_jointly(points: np.ndarray) -> np.ndarray:
    """The original's scaling: one scalar min and max over all points and both axes,
    x ↦ (x − min)/(max − min + 1e-8)·2 − 1 (float32)."""
    lo, hi = points.min(), points.max()
    return (points - lo) / (hi - lo + 1e-8) * 2 - 1


def generate_original(cfg: ConstellationConfig) -> dict[str, np.ndarray]:
    """The original's task (module docstring): all 34 slots filled, absent instances under mask
    False with their (normalised) coordinates kept; counts reordered to PATTERN_NAMES."""
    rng = np.random.RandomState(cfg.seed)
    coords = np.zeros((cfg.n, MAX_POINTS, 2), np.float32)
    mask = np.zeros((cfg.n, MAX_POINTS), bool)
    counts = np.zeros((cfg.n, len(PATTERN_NAMES)), np.int64)
    type_of_instance = np.array([PATTERN_NAMES.index(name) for name in ORIGINAL_INSTANCES])
    for i in range(cfg.n):
        points, present, instance = original_constellation(rng, cfg)
        coords[i], mask[i] = normalise_jointly(points), present
        np.add.at(counts[i], type_of_instance[np.unique(instance[present])], 1)
    return {"coords": coords, "mask": mask, "counts": counts}


def load_or_generate(cfg: ConstellationConfig, cache_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """generate(cfg), cached as constellation-<cfg.key()>.npz in cache_dir (None: $LIEFORMER_CACHE or
    ~/.cache/lieformer; lieformer.data.cache)."""
    return cached_arrays("constellation", cfg.cache_params(), lambda: generate(cfg), cache_dir)


VARIANTS = ("D", "T2", "SE2", "shift10", "rot10")


def transform_split(data: dict[str, np.ndarray], variant: str, seed: int) -> dict[str, np.ndarray]:
    """A test variant of a split, for either generator (each set moved rigidly as a whole):
    "D" as generated; "T2" each set translated by a random vector of norm 10; "SE2" rotated by
    U[0, 2π) about the origin and then translated likewise (the paper's table). The original
    code's own protocol (its scripts/data_to_file.py): "shift10" +10 added to both coordinates,
    "rot10" a fixed 10° counter-clockwise rotation about the origin. Padding slots (mask False,
    the original's absent points included) are set to zero in the moved copies."""
    if variant == "D":
        return data
    coords = data["coords"].astype(np.float64)
    n = len(coords)
    if variant in ("T2", "SE2"):
        rng = np.random.default_rng(seed)
        direction = rng.uniform(0, 2 * np.pi, n)
        shift = 10 * np.stack([np.cos(direction), np.sin(direction)], -1)[:, None]
        theta = rng.uniform(0, 2 * np.pi, n) if variant == "SE2" else np.zeros(n)
    elif variant == "shift10":
        shift, theta = np.full((n, 1, 2), 10.0), np.zeros(n)
    elif variant == "rot10":
        shift, theta = np.zeros((n, 1, 2)), np.full(n, np.deg2rad(10.0))
    else:
        raise ValueError(f"unknown test variant {variant!r}; choose one of {VARIANTS}")
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    coords = np.stack([c * coords[..., 0] - s * coords[..., 1], s * coords[..., 0] + c * coords[..., 1]], -1)
    coords = np.where(data["mask"][..., None], coords + shift, 0.0).astype(np.float32)
    return {**data, "coords": coords}


def assert_disjoint(train: dict[str, np.ndarray], test: dict[str, np.ndarray]) -> None:
    """No test point set equals a training one (the original's leak)."""
    def keys(d):
        return {hashlib.sha1(np.round(c[m], 5).tobytes()).hexdigest() for c, m in zip(d["coords"], d["mask"])}

    overlap = keys(train) & keys(test)
    if overlap:
        raise AssertionError(f"{len(overlap)} test examples also appear in the training set")


class PointSetDataset(Dataset):
    """(coords (N, 2), values (N, c), mask (N,), counts (4,)) items of a generated split.

    features: "ones" (a constant: all information comes through the coordinates, the honest test
    of the group machinery), "coords" (coordinates as values too: for non-equivariant baselines)
    or "distances" (each point's sorted distances to the others: the paper's invariant input).
    """

    def __init__(self, data: dict[str, np.ndarray], features: str = "ones"):
        self.coords = torch.from_numpy(data["coords"])
        self.mask = torch.from_numpy(data["mask"])
        self.counts = torch.from_numpy(data["counts"])
        self.values = point_features(self.coords, self.mask, features)

    def __len__(self) -> int:
        return len(self.coords)

    def __getitem__(self, i: int):
        return self.coords[i], self.values[i], self.mask[i], self.counts[i]


FEATURES = ("ones", "coords", "distances")


def point_features(coords: Tensor, mask: Tensor, features: str) -> Tensor:
    if features == "ones":
        return mask.unsqueeze(-1).float()
    if features == "coords":
        return coords * mask.unsqueeze(-1)
    if features == "distances":
        d = torch.cdist(coords, coords, compute_mode="donot_use_mm_for_euclid_dist")
        d = d.masked_fill(~mask.unsqueeze(1), float("inf"))
        d = d.sort(-1).values[..., 1:]  # drop the zero self-distance
        return torch.where(torch.isinf(d), torch.zeros_like(d), d) * mask.unsqueeze(-1)
    raise ValueError(f"unknown features {features!r}; choose one of {FEATURES}")


def make_splits(n_train: int, n_val: int, n_test: int, seed: int, cache_dir: str | Path | None = None,
                generator: str = "ours") -> dict[str, dict[str, np.ndarray]]:
    """Train / validation / test from three independent seeds derived from `seed`; checked disjoint."""
    seeds = np.random.SeedSequence(seed).generate_state(3)
    splits = {
        name: load_or_generate(ConstellationConfig(n=n, seed=int(s), generator=generator), cache_dir)
        for name, n, s in zip(("train", "val", "test"), (n_train, n_val, n_test), seeds)
    }
    assert_disjoint(splits["train"], splits["test"])
    assert_disjoint(splits["train"], splits["val"])
    return splits



class RigidAugment:
    """Training-batch augmentation of the original code: each set rotated by a uniform angle and
    shifted by one N(1, 1) scalar added to both coordinates; features recomputed from the moved
    coordinates. A DataLoader collate_fn; draws from the global torch RNG (seeded, checkpointed)."""

    def __init__(self, features: str):
        self.features = features

    def __call__(self, items):
        coords, _, mask, counts = default_collate(items)
        B = coords.shape[0]
        theta = 2 * math.pi * torch.rand(B)
        c, s = torch.cos(theta), torch.sin(theta)
        R = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2).to(coords.dtype)
        shift = (1 + torch.randn(B, 1, 1)).to(coords.dtype)
        moved = (coords @ R.transpose(-1, -2) + shift) * mask.unsqueeze(-1)
        return moved, point_features(moved, mask, self.features), mask, counts


class ConstellationData(SplitDataModule):
    """Constellation splits for Lightning: validation and test on the `variants` (default D, T2
    and SE2; one dataloader each, in that order), which name the task's metrics (`eval_names`).
    generator: "ours" (the paper's description, the default) or "original" (the task the
    original code generates; module docstring). augment=True moves every training set by a random
    rotation and shift (RigidAugment, the original's augmentation; the paper's Set Transformer
    was trained with it). Shuffling and augmentation draw from the global RNG, which
    seed_everything fixes and checkpoints restore. cache_dir: where generated splits are cached
    (None: $LIEFORMER_CACHE, else ~/.cache/lieformer; lieformer.data.cache)."""

    def __init__(self, n_train: int = 10_000, n_val: int = 1_000, n_test: int = 1_000, seed: int = 0,
                 features: str = "ones", batch_size: int = 64, cache_dir: str | None = None,
                 variants: tuple[str, ...] = ("D", "T2", "SE2"), num_workers: int = 0, augment: bool = False,
                 generator: str = "ours"):
        super().__init__()
        if features not in FEATURES:
            raise ValueError(f"data.features: unknown features {features!r}; choose one of {FEATURES}")
        if generator not in GENERATORS:
            raise ValueError(f"data.generator: unknown constellation generator {generator!r}; choose one of {GENERATORS}")
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown:
            raise ValueError(f"data.variants: unknown test variant {unknown[0]!r}; choose from {VARIANTS}")
        self.save_hyperparameters()

    @property
    def eval_names(self) -> tuple[str, ...]:
        """The names of the validation and test sets, in dataloader order: the test variants."""
        return tuple(self.hparams.variants)

    def prepare_data(self) -> None:
        """Generate and cache the splits once (Lightning calls this on one process per node)."""
        hp = self.hparams
        make_splits(hp.n_train, hp.n_val, hp.n_test, hp.seed, hp.cache_dir, hp.generator)

    def setup(self, stage: str | None = None) -> None:
        if hasattr(self, "train_set"):
            return
        hp = self.hparams
        splits = make_splits(hp.n_train, hp.n_val, hp.n_test, hp.seed, hp.cache_dir, hp.generator)
        self.train_set = PointSetDataset(splits["train"], hp.features)
        self.val_sets = [PointSetDataset(transform_split(splits["val"], v, hp.seed + 101), hp.features) for v in hp.variants]
        self.test_sets = [PointSetDataset(transform_split(splits["test"], v, hp.seed + 202), hp.features) for v in hp.variants]

    def train_options(self) -> dict:
        return {"collate_fn": RigidAugment(self.hparams.features) if self.hparams.augment else None}
