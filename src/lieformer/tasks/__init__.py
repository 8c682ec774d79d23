"""Training tasks as LightningModules (classification, regression, dynamics, n-body), and their plots."""

from .base import NETWORKS, PointSetTask, build_network, network_call
from .classification import PointSetClassifier
from .dynamics import DirectDynamics, DynamicsTask, HamiltonianDynamics, PotentialModule
from .nbody import NBodyTask
from .regression import PointSetRegressor

__all__ = [
    "NETWORKS", "DirectDynamics", "DynamicsTask", "HamiltonianDynamics", "NBodyTask", "PointSetClassifier",
    "PointSetRegressor", "PointSetTask", "PotentialModule", "build_network", "network_call",
]
