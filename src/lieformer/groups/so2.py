"""Planar rotations SO(2) and rigid motions SE(2) = R² ⋊ SO(2): the group laws, closed-form exp/log.

SE(2) coefficients are ordered (θ, v_x, v_y): exp(θ, v) = [[R(θ), V(θ)v], [0, 1]] with
V(θ) = (sin θ/θ) I + ((1 − cos θ)/θ) J, J = [[0, −1], [1, 0]]. V(θ) is a rotation times the
scale 2 sin(θ/2)/θ, so V⁻¹ is closed-form too; series are used for |θ| < 1e-2.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .affine import homogeneous, split
from .base import rotation_2d, uniform_angle
from .registry import register
from .rigid import RigidMotions, RotationGroup

_SMALL = 1e-2  # |θ| below which Taylor series replace the closed forms


def angle_of(R: Tensor) -> Tensor:
    """θ ∈ (−π, π] of rotation (or rotation-scaling) matrices (..., 2, 2)."""
    return torch.atan2(R[..., 1, 0] - R[..., 0, 1], R[..., 0, 0] + R[..., 1, 1])


def relative_angle(Ra: Tensor, Rb: Tensor) -> Tensor:
    """|θ_b − θ_a| ∈ [0, π] for rotations (B, M, 2, 2), (B, N, 2, 2) → (B, M, N), by matmuls."""
    ca, sa = Ra[..., 0, 0], Ra[..., 1, 0]
    cb, sb = Rb[..., 0, 0], Rb[..., 1, 0]
    cos = ca.unsqueeze(-1) * cb.unsqueeze(-2) + sa.unsqueeze(-1) * sb.unsqueeze(-2)
    sin = ca.unsqueeze(-1) * sb.unsqueeze(-2) - sa.unsqueeze(-1) * cb.unsqueeze(-2)
    return torch.atan2(sin.abs(), cos)


def _sinc_terms(theta: Tensor) -> tuple[Tensor, Tensor]:
    """(sin θ/θ, (1 − cos θ)/θ), series below _SMALL (finite values and gradients at 0)."""
    small = theta.abs() < _SMALL
    t = torch.where(small, torch.ones_like(theta), theta)
    t2 = theta * theta
    a = torch.where(small, 1 - t2 / 6 + t2 * t2 / 120, torch.sin(t) / t)
    series_b = theta / 2 - theta * t2 / 24 + theta * t2 * t2 / 720
    b = torch.where(small, series_b, 2 * torch.sin(t / 2) ** 2 / t)  # 1 − cos t = 2 sin²(t/2)
    return a, b


def _half_cot_terms(theta: Tensor) -> Tensor:
    """(θ/2)·cot(θ/2), series below _SMALL; finite on (−2π, 2π). No 1 − cos θ (cancellation)."""
    small = theta.abs() < _SMALL
    t = torch.where(small, torch.ones_like(theta), theta)
    t2 = theta * theta
    return torch.where(small, 1 - t2 / 12 - t2 * t2 / 720, (t / 2) / torch.tan(t / 2))


def se2_exp(a: Tensor) -> Tensor:
    """(θ, v_x, v_y) (..., 3) → (..., 3, 3)."""
    theta, v = a[..., 0], a[..., 1:]
    s, c = _sinc_terms(theta)
    Vv = torch.stack([s * v[..., 0] - c * v[..., 1], c * v[..., 0] + s * v[..., 1]], -1)
    return homogeneous(rotation_2d(theta), Vv)


def se2_log(g: Tensor) -> Tensor:
    """(..., 3, 3) → (θ, v_x, v_y) (..., 3); V⁻¹ = (θ/2)cot(θ/2) I − (θ/2) J."""
    R, t = split(g)
    theta = angle_of(R)
    a = _half_cot_terms(theta)
    h = theta / 2
    v = torch.stack([a * t[..., 0] + h * t[..., 1], -h * t[..., 0] + a * t[..., 1]], -1)
    return torch.cat([theta.unsqueeze(-1), v], -1)


def rotation_embedding(R: Tensor) -> tuple[Tensor, Tensor]:
    """(sin θ (..., 1), 1 − cos θ (..., 1)) of rotation matrices (..., 2, 2): together continuous
    and injective on SO(2), θ and 0 to first order at θ = 0, where θ itself jumps from π to −π."""
    return R[..., 1, 0, None], 1 - R[..., 0, 0, None]


def haar_so2_from_uniform(u: Tensor) -> Tensor:
    """Haar rotations (..., 2, 2) from U[0, 1) numbers u (..., 1): θ = (2u − 1)π."""
    return rotation_2d((2 * u[..., 0] - 1) * math.pi)


@register
class SO2(RotationGroup):
    """Rotations R(θ) of the plane, 2×2; coefficient θ. sample: θ uniform (Haar).
    embed: (sin θ, 1 − cos θ). Default space: R² (rotations about 0; lieformer.spaces.SO2Space)."""

    lie_dim, rep_dim = 1, 2
    embed_dim = 2
    #: uniforms one Haar draw takes (haar_from_uniform)
    haar_uniforms = 1

    def exp(self, a: Tensor) -> Tensor:
        return rotation_2d(a[..., 0])

    def log(self, g: Tensor) -> Tensor:
        return angle_of(g).unsqueeze(-1)

    haar_from_uniform = staticmethod(haar_so2_from_uniform)
    relative_angle = staticmethod(relative_angle)
    embedding_parts = staticmethod(rotation_embedding)

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return rotation_2d(uniform_angle(shape, generator, dtype, device))


@register
class SE2(RigidMotions):
    """Rigid motions of the plane x ↦ R(θ)x + t, homogeneous 3×3; coefficients (θ, v_x, v_y).
    sample: θ uniform, t ~ N(0, I). embed: (sin θ, t, 1 − cos θ), continuous where the log
    jumps (θ = ±π). Default space: R² (lieformer.spaces.EuclideanSpace: stabilizer SO(2))."""

    lie_dim, rep_dim = 3, 3
    rotations = SO2()

    def exp(self, a: Tensor) -> Tensor:
        return se2_exp(a)

    def log(self, g: Tensor) -> Tensor:
        return se2_log(g)
