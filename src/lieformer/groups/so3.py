"""Rotations SO(3): float32-accurate exp/log over the whole group, Haar sampling.

log goes through a unit quaternion found by Shepperd's method (the largest of four candidate
pivots, so no division by a small number anywhere), then ω = 2·atan2(‖v‖, w)·v/‖v‖: accurate at
angles within 1e-7 of π and below 1e-7, with finite gradients everywhere. Never acos(trace).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import randn
from .rigid import RotationGroup
from .registry import register

_SMALL = 0.1  # angle below which Taylor series replace the closed forms


def hat(w: Tensor) -> Tensor:
    """(..., 3) → skew matrices (..., 3, 3) with hat(w) x = w × x."""
    x, y, z = w.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack([
        torch.stack([zero, -z, y], -1),
        torch.stack([z, zero, -x], -1),
        torch.stack([-y, x, zero], -1),
    ], -2)


def vee(K: Tensor) -> Tensor:
    """Skew part of (..., 3, 3) as a vector: the inverse of hat on skew matrices."""
    return torch.stack([K[..., 2, 1] - K[..., 1, 2], K[..., 0, 2] - K[..., 2, 0], K[..., 1, 0] - K[..., 0, 1]], -1) / 2


def _angle_and_square(w: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(θ safe for division, θ², small mask) with no sqrt(0) in any gradient path."""
    t2 = (w * w).sum(-1)
    small = t2 < _SMALL**2
    theta = torch.where(small, torch.ones_like(t2), t2).sqrt()
    return theta, t2, small


def rodrigues_coefficients(w: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """A = sin θ/θ, B = (1 − cos θ)/θ², C = (θ − sin θ)/θ³ for θ = ‖w‖, series near 0."""
    theta, t2, small = _angle_and_square(w)
    s = torch.sin(theta)
    # series to θ⁸ (Horner): truncation < 3e-18 for θ < _SMALL, so float64 is accurate too
    A_series = 1 - t2 / 6 * (1 - t2 / 20 * (1 - t2 / 42 * (1 - t2 / 72)))
    B_series = 0.5 * (1 - t2 / 12 * (1 - t2 / 30 * (1 - t2 / 56 * (1 - t2 / 90))))
    C_series = (1 - t2 / 20 * (1 - t2 / 42 * (1 - t2 / 72 * (1 - t2 / 110)))) / 6
    A = torch.where(small, A_series, s / theta)
    B = torch.where(small, B_series, 2 * (torch.sin(theta / 2) / theta) ** 2)
    C = torch.where(small, C_series, (theta - s) / (theta * t2.where(~small, torch.ones_like(t2))))
    return A, B, C


def so3_exp(w: Tensor) -> Tensor:
    """Rodrigues: (..., 3) → (..., 3, 3), R = I + A K + B K², K = hat(w)."""
    A, B, _ = rodrigues_coefficients(w)
    K = hat(w)
    eye = torch.eye(3, dtype=w.dtype, device=w.device)
    return eye + A[..., None, None] * K + B[..., None, None] * (K @ K)


def quaternion_to_matrix(q: Tensor) -> Tensor:
    """Unit quaternions (w, x, y, z) (..., 4) → rotation matrices (..., 3, 3)."""
    w, x, y, z = q.unbind(-1)
    return torch.stack([
        torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        torch.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        torch.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def matrix_to_quaternion(R: Tensor) -> Tensor:
    """Rotation matrices (..., 3, 3) → unit quaternions (w, x, y, z) with w ≥ 0 (Shepperd).

    Each of the four pivots (w, x, y, z) gives a formula dividing by 4·pivot; the largest pivot
    is ≥ ½, so the chosen one is well conditioned. The others are evaluated with clamped pivots
    so that no branch produces inf/NaN values or gradients.
    """
    m00, m01, m02 = R[..., 0, 0], R[..., 0, 1], R[..., 0, 2]
    m10, m11, m12 = R[..., 1, 0], R[..., 1, 1], R[..., 1, 2]
    m20, m21, m22 = R[..., 2, 0], R[..., 2, 1], R[..., 2, 2]
    pivots = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    p = 0.5 * pivots.clamp_min(0.25).sqrt()  # candidate pivot values; the chosen one is ≥ 0.5
    d = 4 * p
    a, b, c = m21 - m12, m02 - m20, m10 - m01  # 4w·(x, y, z)
    e, f, g = m01 + m10, m02 + m20, m12 + m21  # 4x·y, 4x·z, 4y·z
    candidates = torch.stack([
        torch.stack([p[..., 0], a / d[..., 0], b / d[..., 0], c / d[..., 0]], -1),
        torch.stack([a / d[..., 1], p[..., 1], e / d[..., 1], f / d[..., 1]], -1),
        torch.stack([b / d[..., 2], e / d[..., 2], p[..., 2], g / d[..., 2]], -1),
        torch.stack([c / d[..., 3], f / d[..., 3], g / d[..., 3], p[..., 3]], -1),
    ], -2)  # (..., 4 cases, 4 components)
    choice = pivots.argmax(-1)
    q = torch.gather(candidates, -2, choice[..., None, None].expand(*choice.shape, 1, 4)).squeeze(-2)
    q = torch.where(q[..., :1] < 0, -q, q)
    return q / q.norm(dim=-1, keepdim=True)


def so3_log(R: Tensor) -> Tensor:
    """(..., 3, 3) → rotation vectors ω (..., 3), ‖ω‖ ∈ [0, π]."""
    q = matrix_to_quaternion(R)
    w, v = q[..., 0], q[..., 1:]
    s2 = (v * v).sum(-1)
    small = s2 < 1e-6
    s = torch.where(small, torch.ones_like(s2), s2).sqrt()
    w_safe = torch.where(small, w, torch.ones_like(w))  # w ≈ 1 when ‖v‖ is small
    r2 = s2 / (w_safe * w_safe)  # tan²(θ/2); atan(r)/r = 1 − r²/3 + r⁴/5 − …
    ratio = torch.where(small, 2 / w_safe * (1 - r2 / 3 + r2 * r2 / 5), 2 * torch.atan2(s, w) / s)
    return ratio.unsqueeze(-1) * v


def haar_so3(shape=(), generator=None, dtype=None, device=None) -> Tensor:
    """Uniformly random rotations (*shape, 3, 3): normalised 4-D Gaussian quaternions."""
    q = randn((*shape, 4), generator, dtype, device)
    return quaternion_to_matrix(q / q.norm(dim=-1, keepdim=True))


def haar_so3_from_uniform(u: Tensor) -> Tensor:
    """Uniformly random rotations (..., 3, 3) from three U[0, 1) numbers u (..., 3) (Shoemake's
    subgroup algorithm: a uniformly random unit quaternion)."""
    a, b, c = u.unbind(-1)
    r1, r2 = (1 - a).clamp_min(0).sqrt(), a.clamp_min(0).sqrt()
    t1, t2 = 2 * math.pi * b, 2 * math.pi * c
    return quaternion_to_matrix(torch.stack([r2 * torch.cos(t2), r1 * torch.sin(t1), r1 * torch.cos(t1), r2 * torch.sin(t2)], -1))


def rotation_embedding(R: Tensor) -> tuple[Tensor, Tensor]:
    """(first (..., 3), second (..., 6)) of rotations (..., 3, 3): the skew part vee(R − Rᵀ)/2 =
    sin θ·n (the rotation vector to first order), and the second-order rest: diag(R) − 1 and the
    symmetric off-diagonal entries (R₀₁+R₁₀)/2, (R₀₂+R₂₀)/2, (R₁₂+R₂₁)/2. Together a linear
    image of R − I: continuous and injective on SO(3), where the log jumps from ω to −ω at π."""
    sym = (R + R.transpose(-1, -2)) / 2
    diag = torch.diagonal(R, dim1=-2, dim2=-1) - 1
    return vee(R), torch.cat([diag, torch.stack([sym[..., 0, 1], sym[..., 0, 2], sym[..., 1, 2]], -1)], -1)


def relative_angle(Ra: Tensor, Rb: Tensor) -> Tensor:
    """Angle of R_aᵀR_b ∈ [0, π] for rotations (B, M, 3, 3), (B, N, 3, 3) → (B, M, N), with no
    per-pair matrix: θ = 2·atan2(sin(θ/2), cos(θ/2)) where sin(θ/2) = ‖R_a − R_b‖_F/√8 (exact
    near 0, from cdist) and cos(θ/2) = |q_a·q_b| (exact near π, from the unit quaternions)."""
    frob = torch.cdist(Ra.flatten(-2), Rb.flatten(-2), compute_mode="donot_use_mm_for_euclid_dist")
    cos_half = (matrix_to_quaternion(Ra) @ matrix_to_quaternion(Rb).transpose(-1, -2)).abs()
    return 2 * torch.atan2(frob / math.sqrt(8), cos_half)


def rotation_angle_from_trace(tr: Tensor) -> Tensor:
    """Rotation angle θ ∈ [0, π] from tr R = 1 + 2 cos θ: θ = 2·atan2(√(3 − tr), √(1 + tr)),
    both square-root arguments clamped to [tiny, 4]: no NaN for traces rounded outside [−1, 3],
    finite gradients at θ = 0 and π. Like anything computed from the trace alone it loses
    accuracy within ~√ε of 0 and of π (θ error ≈ √ε there), which is why distances use
    relative_angle, accurate at both ends."""
    tiny = torch.finfo(tr.dtype).tiny
    return 2 * torch.atan2((3 - tr).clamp(tiny, 4).sqrt(), (1 + tr).clamp(tiny, 4).sqrt())


def rotation_about_z(theta: Tensor) -> Tensor:
    c, s = torch.cos(theta), torch.sin(theta)
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    return torch.stack([torch.stack([c, -s, zero], -1), torch.stack([s, c, zero], -1), torch.stack([zero, zero, one], -1)], -2)


def _rodrigues_between(e: Tensor, x: Tensor) -> Tensor:
    """Rotation about e × x taking unit e to unit x, valid for e·x > −1 (used for e·x ≥ 0)."""
    v = torch.linalg.cross(e.expand_as(x), x, dim=-1)
    c = (e * x).sum(-1)
    K = hat(v)
    eye = torch.eye(3, dtype=x.dtype, device=x.device)
    return eye + K + (K @ K) / (1 + c.clamp_min(0))[..., None, None]


def rotation_between(e: Tensor, x_hat: Tensor) -> Tensor:
    """Rotations (..., 3, 3) taking the fixed unit axis e (3,) to unit vectors x_hat (..., 3).

    For e·x̂ ≥ 0 Rodrigues about e × x̂; otherwise the well-conditioned rotation taking e to −x̂
    composed with a π-rotation about an axis ⟂ e, so x̂ = −e and its neighbours are exact.
    """
    c = (e * x_hat).sum(-1)
    perp = torch.zeros_like(e)
    perp[int(torch.argmin(e.abs()))] = 1
    perp = perp - (perp @ e) * e
    perp = perp / perp.norm()
    flip = 2 * torch.outer(perp, perp) - torch.eye(3, dtype=e.dtype, device=e.device)  # π about perp
    direct = _rodrigues_between(e, torch.where((c >= 0)[..., None], x_hat, -x_hat))
    return torch.where((c >= 0)[..., None, None], direct, direct @ flip)


@register
class SO3(RotationGroup):
    """Rotations of R³, 3×3; coefficients ω (rotation vector). sample: Haar. embed:
    rotation_embedding (3 + 6), continuous where the log jumps from ω to −ω (angle π). Default
    space: R³ (rotations about 0, orbits the spheres; lieformer.spaces.SO3Space)."""

    lie_dim, rep_dim = 3, 3
    embed_dim = 9
    #: uniforms one Haar draw takes (haar_from_uniform)
    haar_uniforms = 3

    def exp(self, a: Tensor) -> Tensor:
        return so3_exp(a)

    def log(self, g: Tensor) -> Tensor:
        return so3_log(g)

    haar_from_uniform = staticmethod(haar_so3_from_uniform)
    relative_angle = staticmethod(relative_angle)
    embedding_parts = staticmethod(rotation_embedding)

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return haar_so3(shape, generator, dtype, device)


__all__ = [
    "SO3", "haar_so3", "haar_so3_from_uniform", "hat", "matrix_to_quaternion", "quaternion_to_matrix", "rodrigues_coefficients",
    "relative_angle", "rotation_about_z", "rotation_angle_from_trace", "rotation_embedding", "rotation_between", "so3_exp", "so3_log", "vee",
]
