"""Homogeneous spaces X = G/H that groups act on (DESIGN.md §2): the action, section, orbit ids,
stabilizer draws, frames, domain checks, the lift, pair features and distances. Every group has a
default space (R^d or the part of it it acts on); make_space builds one from a group, a space or
a string."""

from ..groups import SE2, SE3, SO2, SO3, SQ, Rx, RxSO2, RxSQ, SE2Canonical, T, Trivial, Tx, Ty
from .base import PAIR_FEATURES, HomogeneousSpace, Lifted, check_features, check_lifted, gather_points
from .euclidean import CanonicalLiftSpace, EuclideanSpace
from .registry import DEFAULT_SPACES, SPACES, default_space, make_space, register_space, space_names
from .rays import RaySpace
from .rotations import SO2Space, SO3Space
from .scalings import RxSO2Space, RxSpace, RxSQSpace, SQSpace
from .sphere import SphereSpace
from .translations import AxisTranslationSpace, PointSpace

register_space(EuclideanSpace, T, SE2, SE3)
register_space(CanonicalLiftSpace, SE2Canonical)
register_space(SO2Space, SO2)
register_space(SO3Space, SO3)
register_space(RxSO2Space, RxSO2)
register_space(RxSpace, Rx)
register_space(RxSQSpace, RxSQ)
register_space(SQSpace, SQ)
register_space(AxisTranslationSpace, Tx, Ty)
register_space(PointSpace, Trivial)
register_space(SphereSpace)  # S² under SO3: SphereSpace(SO3())
register_space(RaySpace)  # rays under SE3 (Plücker coordinates): RaySpace(SE3(alpha=0.2))

__all__ = [
    "DEFAULT_SPACES", "PAIR_FEATURES", "SPACES", "AxisTranslationSpace", "CanonicalLiftSpace", "EuclideanSpace",
    "HomogeneousSpace", "Lifted", "PointSpace", "RaySpace", "RxSO2Space", "RxSQSpace", "RxSpace", "SO2Space", "SO3Space",
    "SQSpace", "SphereSpace", "check_features", "check_lifted", "default_space", "gather_points", "make_space", "register_space",
    "space_names",
]
