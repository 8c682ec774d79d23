"""Datasets, one module per experiment (constellation; QM9, RotMNIST and springs to come): generation
or loading, its test variants (named by the data module's `eval_names`), its plots (a callback its
configs declare); all cache through lieformer.data.cache."""

from .constellation import ConstellationConfig, ConstellationData, PointSetDataset, generate, make_splits, transform_split
from .rays import RayShapesData  # the ray-shape experiment
from .rotmnist import RotMNISTData

__all__ = ["ConstellationConfig", "ConstellationData", "PointSetDataset", "generate", "make_splits", "transform_split",
           "RayShapesData", "RotMNISTData"]
from .nbody import NBodyConfig, NBodyData  # noqa: E402  (charged n-body, the EGNN benchmark)

__all__ += ["NBodyConfig", "NBodyData"]
