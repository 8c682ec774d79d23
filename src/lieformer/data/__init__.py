"""Datasets: generation or loading, caching, collation (constellation; QM9, RotMNIST and springs to come)."""

from .constellation import ConstellationConfig, ConstellationData, PointSetDataset, generate, make_splits, transform_split

__all__ = ["ConstellationConfig", "ConstellationData", "PointSetDataset", "generate", "make_splits", "transform_split"]
