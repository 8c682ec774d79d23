"""Training tasks as LightningModules, and their plots."""

from .classification import NETWORKS, PointSetClassifier, build_network

__all__ = ["NETWORKS", "PointSetClassifier", "build_network"]
