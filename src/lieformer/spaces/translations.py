"""R² under translations along one axis (Tx, Ty), and R^d under the Trivial group (no symmetry)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..groups.affine import affine_act, split
from ..groups.base import euclidean_distance
from .base import HomogeneousSpace


class AxisTranslationSpace(HomogeneousSpace):
    """R² under translations along the group's axis: the other coordinate is the orbit id q,
    o_q has 0 on the axis, s(x) = the translation along the axis by x's coordinate there;
    trivial stabilizer. distance: α|Δa| + (1−α)|Δq|."""

    space_dim, q_dim = 2, 1
    trivial_stabilizer = True

    def __init__(self, group):
        super().__init__(group)
        self.axis = group.axis
        self.translation_axes = (group.axis,)

    def act(self, g: Tensor, coords: Tensor) -> Tensor:
        return affine_act(g, coords)

    def section(self, coords: Tensor) -> Tensor:
        return self.group.exp(coords[..., self.axis : self.axis + 1])

    def orbit(self, coords: Tensor) -> Tensor:
        return coords[..., 1 - self.axis : 2 - self.axis]

    def origin(self, orbits: Tensor) -> Tensor:
        zero = torch.zeros_like(orbits)
        return torch.cat([zero, orbits] if self.axis == 0 else [orbits, zero], dim=-1)

    def distance(self, ua, qa, ub, qb) -> Tensor:
        ta = split(ua)[1][..., self.axis : self.axis + 1]
        tb = split(ub)[1][..., self.axis : self.axis + 1]
        return self.alpha * euclidean_distance(ta, tb) + (1 - self.alpha) * euclidean_distance(qa, qb)


class PointSpace(HomogeneousSpace):
    """R^d under the Trivial group: every point its own orbit (q = x), elements the 1×1 identity,
    pair features [x_i, x_j], distance ‖x_i − x_j‖."""

    trivial_stabilizer = True
    position_weight = 1.0
    distance_is_position_norm = True

    def __init__(self, group):
        super().__init__(group)
        self.space_dim = self.q_dim = group.d

    def act(self, g: Tensor, coords: Tensor) -> Tensor:
        return coords

    def section(self, coords: Tensor) -> Tensor:
        return self.group.identity(coords.shape[:-1], coords.dtype, coords.device)

    def orbit(self, coords: Tensor) -> Tensor:
        return coords

    def origin(self, orbits: Tensor) -> Tensor:
        return orbits

    def positions(self, elements: Tensor, orbits: Tensor) -> Tensor:
        return orbits

    def distance(self, ua, qa, ub, qb) -> Tensor:
        return euclidean_distance(qa, qb)
