"""Lie groups and the spaces they act on (DESIGN.md §3). Build one by name with make_group."""

from .base import Lifted, LieGroup, gather_points
from .registry import GROUPS, group_names, make_group, register
from .scalings import SQ, Rx, RxSO2, RxSQ
from .se2_canonical import SE2Canonical
from .se3 import SE3
from .so2 import SE2, SO2
from .so3 import SO3
from .translations import T, Trivial, Tx, Ty

__all__ = [
    "GROUPS", "SE2", "SE3", "SO2", "SO3", "SQ", "Lifted", "LieGroup", "Rx", "RxSO2", "RxSQ", "SE2Canonical",
    "T", "Trivial", "Tx", "Ty", "gather_points", "group_names", "make_group", "register",
]
