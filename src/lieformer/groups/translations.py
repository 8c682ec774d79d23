"""Translation groups T(d), Tx, Ty, and the Trivial group (no symmetry: a baseline).

Elements are homogeneous translation matrices [[I, t], [0, 1]]; the Lie algebra coefficient is t.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .affine import affine_act, split, translation
from .base import Lifted, LieGroup, check_features, euclidean_distance, gather_points, randn
from .registry import register


@register
class T(LieGroup):
    """Translations of R^d acting by x ↦ x + t. Transitive: o = 0, q_dim 0, trivial stabilizer.

    Pair features are x_j − x_i; the distance is ‖x_i − x_j‖ (α plays no role).
    sample: t ~ N(0, I).
    """

    trivial_stabilizer = True

    q_dim = 0

    def __init__(self, d: int = 2, alpha: float = 0.2):
        super().__init__(alpha)
        if not isinstance(d, int) or d < 1:
            raise ValueError(f"T(d): d must be a positive integer, got {d!r}")
        self.space_dim = self.lie_dim = d
        self.rep_dim = d + 1
        self.translation_axes = tuple(range(d))

    def _init_args(self) -> dict:
        return {"d": self.space_dim, "alpha": self.alpha}

    def __repr__(self) -> str:
        return f"T({self.space_dim})"

    def exp(self, a: Tensor) -> Tensor:
        return translation(a)

    def log(self, g: Tensor) -> Tensor:
        return split(g)[1]

    def inv(self, g: Tensor) -> Tensor:
        return translation(-split(g)[1])

    def act(self, g: Tensor, coords: Tensor) -> Tensor:
        return affine_act(g, coords)

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return translation(randn((*shape, self.space_dim), generator, dtype, device))

    def section(self, coords: Tensor) -> Tensor:
        return translation(coords)

    def orbit(self, coords: Tensor) -> Tensor:
        return coords.new_zeros(*coords.shape[:-1], 0)

    def origin(self, orbits: Tensor) -> Tensor:
        return orbits.new_zeros(*orbits.shape[:-1], self.space_dim)

    def sample_stabilizer(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return self.identity(shape, dtype, device)

    def pair_features(self, lifted: Lifted, idx: Tensor, query_idx: Tensor | None = None,
                      features: str = "log") -> Tensor:
        """x_j − x_i (B, M, K, d): log and embed agree (continuous on the whole group)."""
        check_features(features)
        ui, _ = self._queries(lifted, idx, query_idx)
        return split(gather_points(lifted.elements, idx))[1] - split(ui)[1].unsqueeze(2)

    position_weight = 1.0

    def positions(self, elements: Tensor, orbits: Tensor) -> Tensor:
        return split(elements)[1]

    def distance(self, ua, qa, ub, qb) -> Tensor:
        return euclidean_distance(split(ua)[1], split(ub)[1])


class _AxisTranslation(LieGroup):
    """Translations of R² along one axis; the other coordinate is the orbit identifier."""

    trivial_stabilizer = True

    lie_dim, rep_dim, q_dim, space_dim = 1, 3, 1, 2
    axis: int

    def _embed(self, a: Tensor) -> Tensor:
        zero = torch.zeros_like(a)
        return torch.cat([a, zero] if self.axis == 0 else [zero, a], dim=-1)

    def exp(self, a: Tensor) -> Tensor:
        return translation(self._embed(a))

    def log(self, g: Tensor) -> Tensor:
        return split(g)[1][..., self.axis : self.axis + 1]

    def inv(self, g: Tensor) -> Tensor:
        return translation(-split(g)[1])

    def act(self, g: Tensor, coords: Tensor) -> Tensor:
        return affine_act(g, coords)

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return self.exp(randn((*shape, 1), generator, dtype, device))

    def section(self, coords: Tensor) -> Tensor:
        return self.exp(coords[..., self.axis : self.axis + 1])

    def orbit(self, coords: Tensor) -> Tensor:
        return coords[..., 1 - self.axis : 2 - self.axis]

    def origin(self, orbits: Tensor) -> Tensor:
        zero = torch.zeros_like(orbits)
        return torch.cat([zero, orbits] if self.axis == 0 else [orbits, zero], dim=-1)

    def sample_stabilizer(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return self.identity(shape, dtype, device)

    def distance(self, ua, qa, ub, qb) -> Tensor:
        ta = split(ua)[1][..., self.axis : self.axis + 1]
        tb = split(ub)[1][..., self.axis : self.axis + 1]
        return self.alpha * euclidean_distance(ta, tb) + (1 - self.alpha) * euclidean_distance(qa, qb)


@register
class Tx(_AxisTranslation):
    """Translations of R² along x: x ↦ x + (a, 0). Orbit id q = y; o_q = (0, q)."""

    axis = 0
    translation_axes = (0,)


@register
class Ty(_AxisTranslation):
    """Translations of R² along y: x ↦ x + (0, a). Orbit id q = x; o_q = (q, 0)."""

    axis = 1
    translation_axes = (1,)


@register
class Trivial(LieGroup):
    """The one-element group on R^d: no symmetry, every point its own orbit (q = x).

    Elements are the 1×1 identity; pair features are [x_i, x_j]; distance ‖x_i − x_j‖.
    """

    trivial_stabilizer = True

    lie_dim, rep_dim = 0, 1

    def __init__(self, d: int = 2, alpha: float = 0.2):
        super().__init__(alpha)
        if not isinstance(d, int) or d < 1:
            raise ValueError(f"Trivial(d): d must be a positive integer, got {d!r}")
        self.space_dim = self.q_dim = d

    def _init_args(self) -> dict:
        return {"d": self.space_dim, "alpha": self.alpha}

    def __repr__(self) -> str:
        return f"Trivial({self.space_dim})"

    def exp(self, a: Tensor) -> Tensor:
        return self.identity(a.shape[:-1], a.dtype, a.device)

    def log(self, g: Tensor) -> Tensor:
        return g.new_zeros(*g.shape[:-2], 0)

    def inv(self, g: Tensor) -> Tensor:
        return g

    def act(self, g: Tensor, coords: Tensor) -> Tensor:
        return coords

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return self.identity(shape, dtype, device)

    def section(self, coords: Tensor) -> Tensor:
        return self.identity(coords.shape[:-1], coords.dtype, coords.device)

    def orbit(self, coords: Tensor) -> Tensor:
        return coords

    def origin(self, orbits: Tensor) -> Tensor:
        return orbits

    def sample_stabilizer(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return self.identity(shape, dtype, device)

    position_weight = 1.0

    def positions(self, elements: Tensor, orbits: Tensor) -> Tensor:
        return orbits

    def distance(self, ua, qa, ub, qb) -> Tensor:
        return euclidean_distance(qa, qb)
