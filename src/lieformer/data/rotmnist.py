"""Rotated MNIST (LieConv's image benchmark, DESIGN.md §5): digits rotated by U[0, 2π), as point clouds.

The set, as mnist_rotation_new (Larochelle et al. 2007): 12,000 training digits (10,000 train +
2,000 validation) and 50,000 test digits, each rotated by its own angle from U[0, 2π) with bilinear
interpolation. mnist_rotation_new drew its digits from MNIST without publishing which ones; our
protocol (`build_rotmnist`): pool the 70,000 MNIST digits (the 60,000 of train-images-idx3-ubyte,
then the 10,000 of t10k-images-idx3-ubyte, in file order), draw one permutation with
np.random.default_rng(seed) (seed 0), take its first 10,000 as train, the next 2,000 as
validation, the next 50,000 as test (so no digit is in two splits; 8,000 are unused), then draw
the 62,000 angles from the same generator in that order. Rotated intensities are rounded back to
uint8 (as MNIST stores them). The result is cached by lieformer.data.cache (kind "rotmnist", key:
seed and ROTMNIST_VERSION), so every run sees the same digits and angles.

Rotation (`rotate_images`): pixel (i, j) has centred coordinates p = (i − 13.5, j − 13.5) (row,
column); the image rotated by θ has value img(R(−θ)·p) at p, R(θ) = [[cos θ, −sin θ], [sin θ, cos θ]],
bilinear between the four neighbouring pixels and zero outside the image. θ = π/2 is np.rot90.

Point clouds (`image_to_points`, in the collate step): the pixel centres of the grid
linspace(−14, 14, 28)² (LieConv's image model: coordinates (row, column)) inside radius 15, 648
points, each with its intensity in [0, 1] as value. The image rotated by θ is then the cloud rotated
by R(θ) (exactly so for θ a multiple of π/2, where the grid maps onto itself).

Test variants (`VARIANTS`): "plain", and "rot90" where every test digit is turned by exactly 90°
(np.rot90: the pixel grid maps onto itself, no interpolation), so an SE(2)-invariant model scores the
same on both while a T(2) one need not.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from .cache import cached_arrays
from .loaders import SplitDataModule
from .mnist import fetch_mnist, load_mnist

N_TRAIN, N_VAL, N_TEST = 10_000, 2_000, 50_000
SIDE = 28
#: bump when build_rotmnist returns something else for the same seed: old cache entries then miss
ROTMNIST_VERSION = 1
VARIANTS = ("plain", "rot90")


def rotate_images(images: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """images (n, H, W) rotated by angles (n,) radians about the image centre, bilinear, zero outside
    (module docstring: out(p) = img(R(−θ)p) in centred (row, column) coordinates) → (n, H, W) float64."""
    images = np.asarray(images, np.float64)
    n, H, W = images.shape
    ci, cj = (H - 1) / 2, (W - 1) / 2
    i, j = np.meshgrid(np.arange(H) - ci, np.arange(W) - cj, indexing="ij")
    c, s = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    # R(−θ)·(i, j) = (c i + s j, −s i + c j)
    src_i, src_j = c * i + s * j + ci, -s * i + c * j + cj
    i0, j0 = np.floor(src_i).astype(np.int64), np.floor(src_j).astype(np.int64)
    fi, fj = src_i - i0, src_j - j0
    padded = np.zeros((n, H + 2, W + 2))
    padded[:, 1:-1, 1:-1] = images
    # indices into the zero-padded image; anything farther out than one pixel reads the zero border
    a0, b0 = np.clip(i0 + 1, 0, H + 1), np.clip(j0 + 1, 0, W + 1)
    a1, b1 = np.clip(i0 + 2, 0, H + 1), np.clip(j0 + 2, 0, W + 1)
    k = np.arange(n)[:, None, None]
    return ((1 - fi) * (1 - fj) * padded[k, a0, b0] + (1 - fi) * fj * padded[k, a0, b1]
            + fi * (1 - fj) * padded[k, a1, b0] + fi * fj * padded[k, a1, b1])


def build_rotmnist(mnist: dict[str, np.ndarray], seed: int = 0, chunk: int = 5_000) -> dict[str, np.ndarray]:
    """The RotMNIST splits from the four MNIST arrays (load_mnist), by the protocol of the module
    docstring: {split}_images (n, 28, 28) uint8, {split}_labels (n,) int64, {split}_angles (n,)
    float64 and {split}_source (n,) int64 (index into the 70,000 pooled digits: train file first)
    for split in train (10,000), val (2,000), test (50,000)."""
    images = np.concatenate([mnist["train_images"], mnist["test_images"]])
    labels = np.concatenate([mnist["train_labels"], mnist["test_labels"]]).astype(np.int64)
    if images.shape[1:] != (SIDE, SIDE) or len(images) != len(labels):
        raise ValueError(f"MNIST arrays: expected (n, 28, 28) images and n labels, got {images.shape} and {labels.shape}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))[: N_TRAIN + N_VAL + N_TEST]
    angles = rng.uniform(0.0, 2 * math.pi, len(order))
    rotated = np.concatenate([
        np.clip(np.rint(rotate_images(images[order[a:a + chunk]], angles[a:a + chunk])), 0, 255).astype(np.uint8)
        for a in range(0, len(order), chunk)])
    out = {}
    bounds = {"train": (0, N_TRAIN), "val": (N_TRAIN, N_TRAIN + N_VAL), "test": (N_TRAIN + N_VAL, N_TRAIN + N_VAL + N_TEST)}
    for split, (a, b) in bounds.items():
        out[f"{split}_images"], out[f"{split}_labels"] = rotated[a:b], labels[order[a:b]]
        out[f"{split}_angles"], out[f"{split}_source"] = angles[a:b], order[a:b].astype(np.int64)
    return out


def load_rotmnist(seed: int = 0, cache_dir: str | Path | None = None, source: str | None = None) -> dict[str, np.ndarray]:
    """build_rotmnist(MNIST, seed), cached as rotmnist-<key>.npz (lieformer.data.cache); fetches and
    verifies MNIST first when the entry is not there (lieformer.data.mnist.fetch_mnist)."""
    return cached_arrays("rotmnist", {"seed": seed, "version": ROTMNIST_VERSION},
                         lambda: build_rotmnist(load_mnist(fetch_mnist(cache_dir, source)), seed), cache_dir)


def grid_points(side: int = SIDE, radius: float = 15.0) -> tuple[np.ndarray, np.ndarray]:
    """(coords (P, 2) float32, inside (side, side) bool): the centres of the grid
    linspace(−side/2, side/2, side)² in (row, column) order that lie within `radius` of the origin
    (P = 648 for MNIST), and which pixels they are."""
    axis = np.linspace(-side / 2, side / 2, side)
    coords = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1)
    inside = np.linalg.norm(coords, axis=-1) < radius
    return coords[inside].astype(np.float32), inside


def image_to_points(images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """images (B, 28, 28) uint8 → coords (B, 648, 2) float32, values (B, 648, 1) intensity/255,
    mask (B, 648) all True (grid_points)."""
    coords, inside = grid_points(images.shape[-1])
    B = images.shape[0]
    values = images[:, torch.from_numpy(inside)].float().div_(255.0).unsqueeze(-1)
    coords = torch.from_numpy(coords).expand(B, -1, -1).clone()
    return coords, values, torch.ones(B, coords.shape[1], dtype=torch.bool)


def rot90_order(coords: Tensor) -> tuple[Tensor, Tensor]:
    """(R, perm) for the grid coords (P, 2): R = [[0, −1], [1, 0]], the 90° turn of np.rot90 on
    the point clouds, and perm (P,) with coords[perm] = coords @ Rᵀ (the grid maps onto itself), so
    that cloud_of(rot90 image)[:, perm] lists the turned digit's points in the original's order:
    point i of it is R·x_i with the value of x_i (what pairs the models' random draws)."""
    R = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=coords.dtype)
    d = torch.cdist(coords @ R.T, coords, compute_mode="donot_use_mm_for_euclid_dist")
    nearest = d.min(1)
    if nearest.values.max() > 1e-4:
        raise ValueError("rot90_order: these coordinates are not a grid that a 90° turn maps onto itself")
    return R, nearest.indices


class DigitDataset(Dataset):
    """(image (28, 28) uint8, label) items of one RotMNIST split."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = torch.from_numpy(np.asarray(labels, np.int64))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images[i], self.labels[i]


def transform_split(images: np.ndarray, variant: str) -> np.ndarray:
    """A test variant of a split's images: "plain" as built, "rot90" each turned by 90°
    (np.rot90 over the pixel axes: rotate_images by π/2, exactly, with no interpolation)."""
    if variant == "plain":
        return images
    if variant == "rot90":
        return np.ascontiguousarray(np.rot90(images, 1, axes=(1, 2)))
    raise ValueError(f"unknown RotMNIST test variant {variant!r}; choose one of {VARIANTS}")


class PointCloudCollate:
    """DataLoader collate_fn: (image, label) items → (coords (B, 648, 2), values (B, 648, 1),
    mask (B, 648), labels (B, 1)) (image_to_points; one label per digit, the classifier's layout).
    augment=True rotates each cloud by its own angle from U[0, 2π) about the centre (the
    coordinates, not the pixels: no interpolation), drawn from the global torch RNG (seeded by
    seed_everything, restored from checkpoints)."""

    def __init__(self, augment: bool = False):
        self.augment = augment

    def __call__(self, items):
        images = torch.stack([image for image, _ in items])
        labels = torch.stack([label for _, label in items]).unsqueeze(-1)
        coords, values, mask = image_to_points(images)
        if self.augment:
            theta = 2 * math.pi * torch.rand(len(items))
            c, s = torch.cos(theta), torch.sin(theta)
            R = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
            coords = coords @ R.transpose(-1, -2)
        return coords, values, mask, labels


class RotMNISTData(SplitDataModule):
    """RotMNIST for Lightning (module docstring): 10,000 train / 2,000 validation / 50,000 test
    digits as 648-point clouds. Validation and test run on every one of `variants` (default
    "plain" and "rot90"; one dataloader each, in that order), which name the metrics (eval_names).
    n_val / n_test: evaluate only the first n digits of those splits (None: all; a stated subset
    for CPU budgets). augment: rotate each training cloud by U[0, 2π) (PointCloudCollate).
    cache_dir: where MNIST and the built set are kept (lieformer.data.cache); source: a folder or
    URL holding the MNIST files, tried first (lieformer.data.mnist.fetch_mnist). eval_batch_size:
    the validation and test batch size (None: batch_size; evaluation has no backward pass, so a
    larger batch is cheaper per digit; in eval mode BatchNorm uses running statistics and each digit
    is pooled alone, so the batch size changes no deterministic model's output)."""

    def __init__(self, seed: int = 0, batch_size: int = 25, augment: bool = False,
                 variants: tuple[str, ...] = VARIANTS, n_val: int | None = None, n_test: int | None = None,
                 cache_dir: str | None = None, source: str | None = None, num_workers: int = 0,
                 eval_batch_size: int | None = None):
        super().__init__()
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown:
            raise ValueError(f"data.variants: unknown test variant {unknown[0]!r}; choose from {VARIANTS}")
        if not variants:
            raise ValueError(f"data.variants: name at least one of {VARIANTS}")
        for name, n, most in (("n_val", n_val, N_VAL), ("n_test", n_test, N_TEST)):
            if n is not None and not 1 <= n <= most:
                raise ValueError(f"data.{name}: must lie in 1..{most} (or null for all), got {n}")
        self.save_hyperparameters()

    @property
    def eval_names(self) -> tuple[str, ...]:
        """The names of the validation and test sets, in dataloader order: the variants."""
        return tuple(self.hparams.variants)

    def prepare_data(self) -> None:
        """Fetch and verify MNIST, build and cache RotMNIST (Lightning calls this once per node)."""
        load_rotmnist(self.hparams.seed, self.hparams.cache_dir, self.hparams.source)

    def setup(self, stage: str | None = None) -> None:
        if hasattr(self, "train_set"):
            return
        hp = self.hparams
        data = load_rotmnist(hp.seed, hp.cache_dir, hp.source)
        self.train_set = DigitDataset(data["train_images"], data["train_labels"])

        def sets(split: str, n: int | None):
            images, labels = data[f"{split}_images"][:n], data[f"{split}_labels"][:n]
            return [DigitDataset(transform_split(images, v), labels) for v in hp.variants]

        self.val_sets, self.test_sets = sets("val", hp.n_val), sets("test", hp.n_test)

    def train_options(self) -> dict:
        return {"collate_fn": PointCloudCollate(self.hparams.augment)}

    def eval_options(self) -> dict:
        return {"collate_fn": PointCloudCollate(False), "batch_size": self.hparams.eval_batch_size}
