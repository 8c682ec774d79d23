"""The unit sphere S² ⊂ R³ under SO(3): X = SO(3)/SO(2), one orbit.

Representative o = e_z; its stabilizer is SO(2), the rotations R_z(θ) about e_z; the section
s(x) is the rotation about e_z × x taking e_z to x (rotation_from_pole), smooth on S² except at
the antipode −e_z, where it is the fixed half-turn about e_y (the limit from the +x side).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..groups.so3 import SO3, rotation_about_z
from .base import HomogeneousSpace, safe_norm


def rotation_from_pole(x: Tensor) -> Tensor:
    """Rotations (..., 3, 3) taking e_z to unit vectors x = (a, b, c) (..., 3), about e_z × x:

        [[1 − a²w, −abw, a], [−abw, 1 − b²w, b], [−a, −b, c]],  w = 1/(1 + c).

    Smooth except at x = −e_z. Near it w is computed as (1 − c)/(a² + b²) (equal on S², and
    accurate where 1 + c cancels), so each column stays orthonormal to rounding; at x = −e_z
    exactly (a = b = 0, c < 0) the half-turn about e_y, diag(−1, 1, −1).
    """
    a, b, c = x.unbind(-1)
    s2 = a * a + b * b
    south = c < 0
    antipode = south & (s2 == 0)
    # both branches finite everywhere (no inf behind torch.where: gradients stay finite)
    w = torch.where(south, (1 - c) / torch.where(south & (s2 > 0), s2, torch.ones_like(s2)), 1 / (1 + c.clamp_min(0)))
    one = torch.ones_like(a)
    R = torch.stack([
        torch.stack([one - a * a * w, -a * b * w, a], -1),
        torch.stack([-a * b * w, one - b * b * w, b], -1),
        torch.stack([-a, -b, c], -1),
    ], -2)
    half_turn = torch.diag(torch.tensor([-1.0, 1.0, -1.0], dtype=x.dtype, device=x.device))
    return torch.where(antipode[..., None, None], half_turn, R)


def unit(x: Tensor) -> Tensor:
    """x/‖x‖ (..., 3); zero vectors stay zero (they are refused by the domain checks)."""
    n = safe_norm(x)
    return x / torch.where(n > 0, n, torch.ones_like(n))


def angle_between_units(xa: Tensor, xb: Tensor) -> Tensor:
    """Angles ∈ [0, π] between unit vectors of two sets (B, M, 3), (B, N, 3) → (B, M, N):
    2·atan2(‖x_a − x_b‖, ‖x_a + x_b‖), accurate near 0 and π (no arccos of a rounded cosine)."""
    mode = "donot_use_mm_for_euclid_dist"
    return 2 * torch.atan2(torch.cdist(xa, xb, compute_mode=mode), torch.cdist(-xa, xb, compute_mode=mode))


class SphereSpace(HomogeneousSpace):
    """S² (unit vectors x ∈ R³) under rotations x ↦ R x. One orbit (q_dim 0), o = e_z, stabilizer
    SO(2) about e_z drawn uniformly (R_z(θ), θ ~ U(−π, π)), s(x) = rotation_from_pole(x/‖x‖).

    Inputs must be unit vectors to within `tolerance` (|‖x‖ − 1| ≤ tolerance); others are refused
    naming the point. pair_features="invariants": (cos θ_ij, sin θ_ij), θ_ij the angle between
    x_i and x_j — complete for pairs on S² under SO(3), independent of the lift. distance: the
    great-circle angle between the points u_a·e_z and u_b·e_z (it ignores the stabilizer draw, so
    neighbourhoods are the same for every lift).
    """

    space_dim, q_dim = 3, 0
    stabilizer_uniforms = 1
    invariant_dim = 2

    def __init__(self, group: SO3, tolerance: float = 1e-4):
        if not isinstance(group, SO3):
            raise TypeError(f"SphereSpace: the group must be SO3, got {group!r}")
        super().__init__(group)
        self.tolerance = float(tolerance)
        self.domain_description = f"the unit sphere S² (|‖x‖ − 1| ≤ {self.tolerance:g})"

    def _init_args(self) -> dict:
        return {} if self.tolerance == 1e-4 else {"tolerance": self.tolerance}

    def section(self, coords: Tensor) -> Tensor:
        return rotation_from_pole(unit(coords))

    def origin(self, orbits: Tensor) -> Tensor:
        return torch.tensor([0.0, 0.0, 1.0], dtype=orbits.dtype, device=orbits.device).expand(*orbits.shape[:-1], 3)

    def sample_points(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        """Uniform points on S²."""
        return unit(super().sample_points(shape, generator, dtype, device))

    def outside_domain(self, coords: Tensor) -> Tensor:
        return (safe_norm(coords)[..., 0] - 1).abs() > self.tolerance

    def why_outside(self, point: Tensor) -> str:
        return f": ‖x‖ = {float(point.norm()):.6g}"

    def stabilizer_from_uniform(self, u: Tensor, coords: Tensor | None) -> Tensor:
        """R_z((2u₀ − 1)π): Haar on SO(2) about e_z."""
        return rotation_about_z((2 * u[..., 0] - 1) * math.pi)

    def points(self, elements: Tensor) -> Tensor:
        """x = u·e_z (..., 3): the third column of lifted rotations (..., 3, 3)."""
        return elements[..., :, 2]

    def pair_invariants(self, xi: Tensor, xj: Tensor) -> Tensor:
        """(cos θ, sin θ) (..., 2) of the angle θ between x_i and x_j (x_i·x_j and ‖x_i × x_j‖)."""
        return torch.cat([(xi * xj).sum(-1, keepdim=True), safe_norm(torch.linalg.cross(xi, xj, dim=-1))], -1)

    def distance(self, ua, qa, ub, qb) -> Tensor:
        return angle_between_units(self.points(ua), self.points(ub))

