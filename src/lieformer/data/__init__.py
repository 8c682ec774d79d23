"""Datasets, one module per experiment (constellation, RotMNIST, springs, charged n-body, ray shapes; QM9): generation
or loading, its test variants (named by the data module's `eval_names`), its plots (a callback its
configs declare); all cache through lieformer.data.cache."""

from .constellation import ConstellationConfig, ConstellationData, PointSetDataset, generate, make_splits, transform_split
from .nbody import NBodyConfig, NBodyData  # charged n-body, the EGNN benchmark
from .rays import RayShapesData  # the ray-shape experiment
from .rotmnist import RotMNISTData
from .springs import SpringsData, simulate_springs  # Hamiltonian springs

__all__ = ["ConstellationConfig", "ConstellationData", "PointSetDataset", "generate", "make_splits", "transform_split",
           "NBodyConfig", "NBodyData", "RayShapesData", "RotMNISTData", "SpringsData", "simulate_springs"]
