"""SE2Canonical(L): R² ⋊ C_L, the group of the LieTransformer's deterministic planar lift.

Its default space (lieformer.spaces.CanonicalLiftSpace) copies each point L times with the
rotations 2πk/L (k = 0…L−1), no randomness; pair features [R(θ_i)⁻¹(x_j − x_i), (k_j − k_i) mod L]
are exactly invariant to translations and to rotations by multiples of 2π/L.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .affine import homogeneous, split
from .base import randn, rotation_2d
from .registry import register
from .so2 import SE2, angle_of


@register
class SE2Canonical(SE2):
    """R² ⋊ C_L as SE(2) matrices; exp/log as SE2. sample: t ~ N(0, I) and a uniformly random
    rotation of C_L, so equivariance tests draw g from the group the lift is exact for."""

    def __init__(self, L: int = 6, alpha: float = 0.2):
        super().__init__(alpha)
        if not isinstance(L, int) or L < 1:
            raise ValueError(f"SE2Canonical(L): L must be a positive integer, got {L!r}")
        self.L = L

    def _init_args(self) -> dict:
        return {"L": self.L, "alpha": self.alpha}

    def rotation_index(self, g: Tensor) -> Tensor:
        """k ∈ {0…L−1} of the C_L rotation part of (..., 3, 3) elements (nearest multiple)."""
        return torch.remainder(torch.round(angle_of(split(g)[0]) * self.L / (2 * math.pi)), self.L)

    def grid_rotations(self, k: Tensor, dtype=None) -> Tensor:
        """The elements R(2πk/L) (..., 3, 3) for integer k (...)."""
        return self.rotation_elements(rotation_2d(k.to(dtype or torch.get_default_dtype()) * (2 * math.pi / self.L)))

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        k = torch.randint(0, self.L, shape, generator=generator, device=device)
        return homogeneous(split(self.grid_rotations(k, dtype))[0], randn((*shape, 2), generator, dtype, device))
