"""Lie groups and the spaces they act on (DESIGN.md §3). Build one by name with make_group."""

from .base import Lifted, LieGroup, gather_points
from .registry import GROUPS, group_names, make_group, register
from .translations import T, Trivial, Tx, Ty

__all__ = ["GROUPS", "Lifted", "LieGroup", "T", "Trivial", "Tx", "Ty", "gather_points", "group_names", "make_group", "register"]
