"""Shape classification from camera rays: sets of rays in Plücker coordinates (d, m) ∈ R⁶ (the
space lieformer.spaces.RaySpace), each carrying whether it hits the object and at what depth.

A scene is one of SHAPES (sphere, cube, torus, cylinder, octahedron; uniform scale U(0.8, 1.2),
axis-aligned, centred at 0) seen by `cameras` pinhole cameras. Training distribution of poses:
each camera at distance U(3, 4) from the origin in a direction drawn uniformly from the cap
z ≥ 0.3 (seen from above), looking at a point N(0, 0.1²·I) near the origin with a uniform roll;
`rays_per_camera` pixels drawn uniformly in the square image plane [−0.4, 0.4]² at focal length 1.
Each ray: d the unit viewing direction, m = c × d (c the camera centre), values (hit ∈ {0, 1},
depth − the scene's mean hit depth, 0 for a miss), depth the distance from c to the first surface
point along d. Intersections by
sphere tracing the shapes' signed distance functions (converged to 1e-5; a ray that does not
reach the surface within 512 steps or beyond 8 units is a miss).

Test variants (`VARIANTS`): "original" as generated; "moved" every scene (object and cameras
together) moved by one rigid motion: a Haar rotation about the origin, then a translation
N(0, 2²·I). Hits and depths do not change; Plücker coordinates move by (d, m) ↦ (R d, R m + t × R d).
Rays and camera centres are kept in float64, so that a moved scene is the original moved to ~1e-16
(models cast them to their own dtype); values in float32. Splits are cached (lieformer.data.cache,
kind "rays"); plots: lieformer.data.rays_plots.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .cache import cache_key, cached_arrays
from .loaders import SplitDataModule

SHAPES = ("sphere", "cube", "torus", "cylinder", "octahedron")
VARIANTS = ("original", "moved")
DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: bump when generate() returns something else for the same RayConfig
GENERATOR_VERSION = 3


def signed_distance(shape: str, x: np.ndarray) -> np.ndarray:
    """Signed distance (…,) from points x (…, 3) to the unit-size shape (exact, or a lower bound
    with Lipschitz constant ≤ 1 for the octahedron: safe for sphere tracing)."""
    if shape == "sphere":
        return np.linalg.norm(x, axis=-1) - 1.0
    if shape == "cube":  # half side 0.75
        q = np.abs(x) - 0.75
        return np.linalg.norm(np.maximum(q, 0), axis=-1) + np.minimum(q.max(-1), 0)
    if shape == "torus":  # about the z axis, radii 0.8 and 0.35
        q = np.stack([np.linalg.norm(x[..., :2], axis=-1) - 0.8, x[..., 2]], -1)
        return np.linalg.norm(q, axis=-1) - 0.35
    if shape == "cylinder":  # about the z axis, radius 0.7, half height 0.8
        q = np.stack([np.linalg.norm(x[..., :2], axis=-1) - 0.7, np.abs(x[..., 2]) - 0.8], -1)
        return np.linalg.norm(np.maximum(q, 0), axis=-1) + np.minimum(q.max(-1), 0)
    if shape == "octahedron":  # |x| + |y| + |z| = 1.2
        return (np.abs(x).sum(-1) - 1.2) / np.sqrt(3)
    raise ValueError(f"unknown shape {shape!r}; choose one of {SHAPES}")


def trace(shape: str, scale: np.ndarray, origins: np.ndarray, directions: np.ndarray,
          steps: int = 512, far: float = 8.0, eps: float = 1e-5):
    """Sphere tracing of rays origins + s·directions (n, R, 3) against the shape scaled by scale
    (n,): (hit (n, R) bool, depth (n, R), 0 where missed)."""
    s = scale[:, None]
    t = np.zeros(origins.shape[:2])
    active = np.ones(origins.shape[:2], bool)
    hit = np.zeros(origins.shape[:2], bool)
    for _ in range(steps):
        x = origins + t[..., None] * directions
        dist = s * signed_distance(shape, x / s[..., None])
        hit |= active & (dist < eps)
        active &= ~hit & (t < far)
        if not active.any():
            break
        t = np.where(active, t + dist, t)
    return hit, np.where(hit, t, 0.0)


def look_at_cameras(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n camera centres (n, 3) and rotations (n, 3, 3) (columns: right, up, forward) of the
    training pose distribution (module docstring)."""
    z = rng.uniform(0.3, 1.0, n)
    phi = rng.uniform(0, 2 * np.pi, n)
    rho = np.sqrt(1 - z**2)
    view = np.stack([rho * np.cos(phi), rho * np.sin(phi), z], -1)
    centre = view * rng.uniform(3.0, 4.0, n)[:, None]
    forward = rng.normal(0, 0.1, (n, 3)) - centre
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    helper = np.where(np.abs(forward[:, 2:]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    right = np.cross(forward, helper)
    right /= np.linalg.norm(right, axis=-1, keepdims=True)
    up = np.cross(right, forward)
    roll = rng.uniform(0, 2 * np.pi, n)[:, None]
    right, up = np.cos(roll) * right + np.sin(roll) * up, -np.sin(roll) * right + np.cos(roll) * up
    return centre, np.stack([right, up, forward], -1)


@dataclass(frozen=True)
class RayConfig:
    """One generated split: n scenes, `cameras` cameras × `rays_per_camera` rays each."""

    n: int = 1000
    seed: int = 0
    cameras: int = 2
    rays_per_camera: int = 32
    half_field: float = 0.4

    def cache_params(self) -> dict:
        return {**asdict(self), "version": GENERATOR_VERSION}

    def key(self) -> str:
        return cache_key("rays", self.cache_params())


def generate(cfg: RayConfig) -> dict[str, np.ndarray]:
    """rays (n, N, 6) float64 Plücker (d, m), values (n, N, 2) float32 (hit, depth − the scene's mean
    hit depth; both 0 for a miss), depth (n, N) float32 (0 for a miss), origins (n, N, 3)
    float64 (each ray's camera centre: for plots only, no model sees it), labels (n,) int64 (index
    into SHAPES); N = cameras × rays_per_camera, in random order."""
    rng = np.random.default_rng(cfg.seed)
    n, C, P = cfg.n, cfg.cameras, cfg.rays_per_camera
    labels = rng.integers(0, len(SHAPES), n)
    scale = rng.uniform(0.8, 1.2, n)
    centre, frame = look_at_cameras(rng, n * C)
    pixels = rng.uniform(-cfg.half_field, cfg.half_field, (n * C, P, 2))
    local = np.concatenate([pixels, np.ones((n * C, P, 1))], -1)
    d = np.einsum("kij,kpj->kpi", frame, local)
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    d, origins = d.reshape(n, C * P, 3), np.repeat(centre.reshape(n, C, 3), P, axis=1)
    hit, depth = np.zeros((n, C * P), bool), np.zeros((n, C * P))
    for k, shape in enumerate(SHAPES):
        rows = labels == k
        if rows.any():
            hit[rows], depth[rows] = trace(shape, scale[rows], origins[rows], d[rows])
    order = np.argsort(rng.random((n, C * P)), -1)
    take = lambda a: np.take_along_axis(a, order[..., None] if a.ndim == 3 else order, 1)  # noqa: E731
    d, origins, hit, depth = take(d), take(origins), take(hit), take(depth)
    rays = np.concatenate([d, np.cross(origins, d)], -1)
    # depth relative to the scene's mean hit depth: the camera distance is a nuisance shared by all rays
    mean_depth = (depth * hit).sum(-1, keepdims=True) / np.maximum(hit.sum(-1, keepdims=True), 1)
    relative = np.where(hit, depth - mean_depth, 0.0)
    return {"rays": rays, "values": np.stack([hit, relative], -1).astype(np.float32),
            "depth": depth.astype(np.float32), "origins": origins, "labels": labels.astype(np.int64)}


def load_or_generate(cfg: RayConfig, cache_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    return cached_arrays("rays", cfg.cache_params(), lambda: generate(cfg), cache_dir)


def haar_rotations(rng: np.random.Generator, n: int) -> np.ndarray:
    """n Haar-random rotations (n, 3, 3) (QR of Gaussian matrices, signs fixed, det +1)."""
    q, r = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[:, None, :]
    q[np.linalg.det(q) < 0, :, 0] *= -1
    return q


def move_rays(rays: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(d, m) ↦ (R d, R m + t × R d) for rays (n, N, 6), R (n, 3, 3), t (n, 3); in float64."""
    d = np.einsum("nij,nkj->nki", R, rays[..., :3].astype(np.float64))
    m = np.einsum("nij,nkj->nki", R, rays[..., 3:].astype(np.float64)) + np.cross(t[:, None], d)
    return np.concatenate([d, m], -1)


def transform_split(data: dict[str, np.ndarray], variant: str, seed: int) -> dict[str, np.ndarray]:
    """A test variant of a split (module docstring): "original" or "moved" (one rigid motion per
    scene: Haar rotation about 0, then a translation N(0, 2²·I); camera centres moved alike)."""
    if variant == "original":
        return data
    if variant != "moved":
        raise ValueError(f"unknown test variant {variant!r}; choose one of {VARIANTS}")
    rng = np.random.default_rng(seed)
    n = len(data["rays"])
    R, t = haar_rotations(rng, n), rng.normal(0, 2.0, (n, 3))
    origins = np.einsum("nij,nkj->nki", R, data["origins"].astype(np.float64)) + t[:, None]
    return {**data, "rays": move_rays(data["rays"], R, t), "origins": origins}


class RaySetDataset(Dataset):
    """(rays (N, 6), values (N, 2), mask (N,), label (1,)) items of a split, rays and values in
    `dtype` (origins and depth kept for plots)."""

    def __init__(self, data: dict[str, np.ndarray], dtype: torch.dtype = torch.float32):
        self.rays = torch.from_numpy(data["rays"]).to(dtype)
        self.values = torch.from_numpy(data["values"]).to(dtype)
        self.origins = torch.from_numpy(data["origins"])
        self.depth = torch.from_numpy(data["depth"])
        self.labels = torch.from_numpy(data["labels"]).unsqueeze(-1)
        self.mask = torch.ones(self.rays.shape[:2], dtype=torch.bool)

    def __len__(self) -> int:
        return len(self.rays)

    def __getitem__(self, i: int):
        return self.rays[i], self.values[i], self.mask[i], self.labels[i]


def make_splits(n_train: int, n_val: int, n_test: int, seed: int, cache_dir=None, **scene) -> dict[str, dict]:
    """Train / validation / test from three independent seeds derived from `seed`."""
    seeds = np.random.SeedSequence(seed).generate_state(3)
    return {name: load_or_generate(RayConfig(n=n, seed=int(s), **scene), cache_dir)
            for name, n, s in zip(("train", "val", "test"), (n_train, n_val, n_test), seeds)}


class RayShapesData(SplitDataModule):
    """Ray-shape splits for Lightning (PointSetClassifier with labels=1, classes=len(SHAPES)):
    training on the training pose distribution, validation and test on `variants` (default
    original and moved; one dataloader each, their names the metrics' names). cache_dir: where
    generated splits are cached (None: $LIEFORMER_CACHE, else ~/.cache/lieformer). dtype: of the
    rays and values the loaders give ("float64" with trainer.precision 64-true evaluates a moved
    scene as the exact motion of the original, to ~1e-16)."""

    def __init__(self, n_train: int = 4000, n_val: int = 500, n_test: int = 1000, seed: int = 0,
                 cameras: int = 2, rays_per_camera: int = 32, batch_size: int = 32,
                 variants: tuple[str, ...] = VARIANTS, cache_dir: str | None = None, num_workers: int = 0,
                 dtype: str = "float32"):
        super().__init__()
        if dtype not in DTYPES:
            raise ValueError(f"data.dtype: {dtype!r}; choose one of {tuple(DTYPES)}")
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown:
            raise ValueError(f"data.variants: unknown test variant {unknown[0]!r}; choose from {VARIANTS}")
        if cameras < 1 or rays_per_camera < 1:
            raise ValueError("data.cameras and data.rays_per_camera must be >= 1")
        self.save_hyperparameters()

    @property
    def eval_names(self) -> tuple[str, ...]:
        return tuple(self.hparams.variants)

    def _splits(self):
        hp = self.hparams
        return make_splits(hp.n_train, hp.n_val, hp.n_test, hp.seed, hp.cache_dir,
                           cameras=hp.cameras, rays_per_camera=hp.rays_per_camera)

    def prepare_data(self) -> None:
        self._splits()

    def setup(self, stage: str | None = None) -> None:
        if hasattr(self, "train_set"):
            return
        hp = self.hparams
        splits = self._splits()
        dtype = DTYPES[hp.dtype]
        self.train_set = RaySetDataset(splits["train"], dtype)
        self.val_sets = [RaySetDataset(transform_split(splits["val"], v, hp.seed + 101), dtype) for v in hp.variants]
        self.test_sets = [RaySetDataset(transform_split(splits["test"], v, hp.seed + 202), dtype) for v in hp.variants]

