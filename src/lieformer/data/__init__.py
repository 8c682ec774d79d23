"""Datasets, one module per experiment (constellation; QM9, RotMNIST and springs to come): generation
or loading, its test variants (named by the data module's `eval_names`), its plots (a callback its
configs declare); all cache through lieformer.data.cache."""

from .constellation import ConstellationConfig, ConstellationData, PointSetDataset, generate, make_splits, transform_split
from .qm9 import QM9Data, load_qm9, qm9_split

__all__ = ["ConstellationConfig", "ConstellationData", "PointSetDataset", "generate", "make_splits", "transform_split"]
__all__ += ["QM9Data", "load_qm9", "qm9_split"]
