"""Training tasks as LightningModules (classification, regression, dynamics), and their plots."""

from .base import NETWORKS, PointSetTask, build_network
from .classification import PointSetClassifier
from .dynamics import DirectDynamics, DynamicsTask, HamiltonianDynamics, PotentialModule
from .regression import PointSetRegressor

__all__ = [
    "NETWORKS", "DirectDynamics", "DynamicsTask", "HamiltonianDynamics", "PointSetClassifier", "PointSetRegressor", "PointSetTask",
    "PotentialModule", "build_network",
]
from .nbody import NBodyTask  # noqa: E402  (charged n-body: lieformer.data.nbody)

__all__ += ["NBodyTask"]
