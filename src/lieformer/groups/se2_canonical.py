"""SE2Canonical(L): the LieTransformer's deterministic lift of R² onto R² ⋊ C_L.

Each point is copied L times with the rotations 2πk/L (k = 0…L−1), no randomness. Pair features
are [R(θ_i)⁻¹(x_j − x_i), (k_j − k_i) mod L]: exactly invariant to translations and to rotations
by multiples of 2π/L, the symmetry group this lift is exact for.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .affine import homogeneous, split
from .base import Lifted, check_features, euclidean_distance, gather_points, randn, rotation_2d
from .registry import register
from .so2 import SE2, angle_of


@register
class SE2Canonical(SE2):
    """R² ⋊ C_L with the deterministic lift (fixed_lift_samples = L). Elements are SE(2)
    matrices; exp/log as SE2. sample: t ~ N(0, I) and a uniformly random rotation of C_L, so
    equivariance tests draw g from the group the model is exact for. pair_dim 3.

    distance: α·(2π/L)·min(Δk, L − Δk) + (1−α)‖t_a − t_b‖.
    """

    def __init__(self, L: int = 6, alpha: float = 0.2):
        super().__init__(alpha)
        if not isinstance(L, int) or L < 1:
            raise ValueError(f"SE2Canonical(L): L must be a positive integer, got {L!r}")
        self.L = L
        self.fixed_lift_samples = L

    def _init_args(self) -> dict:
        return {"L": self.L, "alpha": self.alpha}

    @property
    def pair_dim(self) -> int:
        return 3

    def pair_dim_of(self, features: str = "log") -> int:
        return 3  # its pair features are continuous already: the frame offset and Δk

    def rotation_index(self, g: Tensor) -> Tensor:
        """k ∈ {0…L−1} of the C_L rotation part of (..., 3, 3) elements (nearest multiple)."""
        return torch.remainder(torch.round(angle_of(split(g)[0]) * self.L / (2 * math.pi)), self.L)

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        k = torch.randint(0, self.L, shape, generator=generator, device=device)
        theta = k.to(dtype or torch.get_default_dtype()) * (2 * math.pi / self.L)
        return homogeneous(rotation_2d(theta), randn((*shape, 2), generator, dtype, device))

    def sample_stabilizer(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        k = torch.randint(0, self.L, shape, generator=generator, device=device)
        return self._rotations(k.to(dtype or torch.get_default_dtype()) * (2 * math.pi / self.L))

    def lift_stabilizer(self, B, N, S, generator=None, dtype=None, device=None, coords=None) -> Tensor:
        """The fixed grid R(2πk/L), k = 0…L−1, for every point (no randomness)."""
        k = torch.arange(self.L, device=device, dtype=dtype or torch.get_default_dtype())
        return self._rotations(k * (2 * math.pi / self.L)).expand(B, N, self.L, 3, 3)

    def stabilizer_contains(self, h: Tensor, coords: Tensor, atol: float) -> Tensor:
        """Rotations about the origin by a multiple of 2π/L (the lift's grid is C_L, not SO(2))."""
        steps = angle_of(split(h)[0]) * self.L / (2 * math.pi)
        on_grid = (steps - torch.round(steps)).abs() <= atol * self.L
        return super().stabilizer_contains(h, coords, atol) & on_grid

    def frame_stabilizer(self, coords: Tensor, mask: Tensor, n_samples: int) -> Tensor:
        """The fixed C_L grid: this lift is deterministic already (exact for C_L, not SE(2))."""
        B, N, _ = coords.shape
        return self.lift_stabilizer(B, N, self.L, None, coords.dtype, coords.device)

    def pair_features(self, lifted: Lifted, idx: Tensor, query_idx: Tensor | None = None,
                      features: str = "log") -> Tensor:
        """[R(θ_i)⁻¹(x_j − x_i), (k_j − k_i) mod L] (B, M, K, 3) for either `features` kind:
        continuous already (Δk is an exact integer)."""
        check_features(features)
        ui, _ = self._queries(lifted, idx, query_idx)
        uj = gather_points(lifted.elements, idx)
        Ri, ti = split(ui.unsqueeze(2))
        _, tj = split(uj)
        local = (Ri.transpose(-1, -2) @ (tj - ti).unsqueeze(-1)).squeeze(-1)
        dk = torch.remainder(self.rotation_index(uj) - self.rotation_index(ui).unsqueeze(2), self.L)
        return torch.cat([local, dk.unsqueeze(-1)], -1)

    def distance(self, ua, qa, ub, qb) -> Tensor:
        ka, kb = self.rotation_index(ua), self.rotation_index(ub)
        dk = torch.remainder(kb.unsqueeze(-2) - ka.unsqueeze(-1), self.L)
        angle = torch.minimum(dk, self.L - dk) * (2 * math.pi / self.L)
        _, ta = split(ua)
        _, tb = split(ub)
        return self.alpha * angle + (1 - self.alpha) * euclidean_distance(ta, tb)
