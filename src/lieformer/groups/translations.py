"""Translation groups T(d), Tx, Ty, and the Trivial group (no symmetry: a baseline): group laws.

Elements are homogeneous translation matrices [[I, t], [0, 1]]; the Lie algebra coefficient is t.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .affine import split, translation
from .base import LieGroup, randn
from .registry import register


@register
class T(LieGroup):
    """Translations of R^d: x ↦ x + t, homogeneous (d+1)×(d+1); coefficient t. sample: t ~ N(0, I).
    Default space: R^d (transitive, trivial stabilizer; lieformer.spaces.EuclideanSpace)."""

    #: R^d ⋊ K with K trivial: the rotation part EuclideanSpace looks for
    rotations = None

    def __init__(self, d: int = 2, alpha: float = 0.2):
        super().__init__(alpha)
        if not isinstance(d, int) or d < 1:
            raise ValueError(f"T(d): d must be a positive integer, got {d!r}")
        self.lie_dim = d
        self.rep_dim = d + 1

    @property
    def n(self) -> int:
        return self.lie_dim

    def _init_args(self) -> dict:
        return {"d": self.lie_dim, "alpha": self.alpha}

    def __repr__(self) -> str:
        return f"T({self.lie_dim})"

    def exp(self, a: Tensor) -> Tensor:
        return translation(a)

    def log(self, g: Tensor) -> Tensor:
        return split(g)[1]

    def inv(self, g: Tensor) -> Tensor:
        return translation(-split(g)[1])

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return translation(randn((*shape, self.lie_dim), generator, dtype, device))


class _AxisTranslation(LieGroup):
    """Translations of R² along one axis, as 3×3 homogeneous matrices; coefficient the shift."""

    lie_dim, rep_dim = 1, 3
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

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return self.exp(randn((*shape, 1), generator, dtype, device))


@register
class Tx(_AxisTranslation):
    """Translations of R² along x: x ↦ x + (a, 0). Default space: R², orbit id q = y."""

    axis = 0


@register
class Ty(_AxisTranslation):
    """Translations of R² along y: x ↦ x + (0, a). Default space: R², orbit id q = x."""

    axis = 1


@register
class Trivial(LieGroup):
    """The one-element group (elements: the 1×1 identity; lie_dim 0): no symmetry. Default space:
    R^d with every point its own orbit (q = x)."""

    lie_dim, rep_dim = 0, 1

    def __init__(self, d: int = 2, alpha: float = 0.2):
        super().__init__(alpha)
        if not isinstance(d, int) or d < 1:
            raise ValueError(f"Trivial(d): d must be a positive integer, got {d!r}")
        self.d = d

    def _init_args(self) -> dict:
        return {"d": self.d, "alpha": self.alpha}

    def __repr__(self) -> str:
        return f"Trivial({self.d})"

    def exp(self, a: Tensor) -> Tensor:
        return self.identity(a.shape[:-1], a.dtype, a.device)

    def log(self, g: Tensor) -> Tensor:
        return g.new_zeros(*g.shape[:-2], 0)

    def inv(self, g: Tensor) -> Tensor:
        return g

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return self.identity(shape, dtype, device)
