"""Datasets, one module per experiment (constellation, QM9, RotMNIST, springs, charged n-body, ray
shapes): generation or loading, its test variants (named by the data module's `eval_names`), its
plots (a callback its configs declare); all cache through lieformer.data.cache."""

from .constellation import ConstellationConfig, ConstellationData, PointSetDataset, generate, make_splits, transform_split
from .nbody import NBodyConfig, NBodyData  # charged n-body, the EGNN benchmark
from .qm9 import QM9Data, load_qm9, qm9_split  # building the QM9 cache needs the qm9 extra
from .rays import RayShapesData  # the ray-shape experiment
from .rotmnist import RotMNISTData
from .springs import SpringsData, simulate_springs  # Hamiltonian springs

__all__ = ["ConstellationConfig", "ConstellationData", "PointSetDataset", "generate", "make_splits", "transform_split",
           "NBodyConfig", "NBodyData", "QM9Data", "load_qm9", "qm9_split", "RayShapesData", "RotMNISTData",
           "SpringsData", "simulate_springs"]
