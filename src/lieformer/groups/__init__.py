"""Lie groups: the group laws (DESIGN.md §3). Build one by name with make_group; what a group
acts on is a homogeneous space (lieformer.spaces), by default R^d (`group.space`)."""

from .base import LieGroup
from .registry import GROUPS, group_names, make_group, register
from .rigid import RigidMotions, RotationGroup
from .scalings import SQ, Rx, RxSO2, RxSQ
from .se2_canonical import SE2Canonical
from .se3 import SE3
from .so2 import SE2, SO2
from .so3 import SO3
from .translations import T, Trivial, Tx, Ty

__all__ = [
    "GROUPS", "SE2", "SE3", "SO2", "SO3", "SQ", "LieGroup", "RigidMotions", "RotationGroup", "Rx", "RxSO2", "RxSQ", "SE2Canonical",
    "T", "Trivial", "Tx", "Ty", "group_names", "make_group", "register",
]
