"""Rigid motions SE(3) of R³ as homogeneous 4×4 matrices; coefficients (ω, v), rotation first.

exp(ω, v) = [[R, V v], [0, 1]] with V = I + B K + C K² (K = hat(ω)); log inverts it with
V⁻¹ = I − ½K + D K², D = (1 − (θ/2)·cot(θ/2))/θ², finite for θ ≤ π; series near θ = 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .affine import homogeneous, split
from .registry import register
from .rigid import RigidMotions
from .so3 import SO3, _SMALL, hat, rodrigues_coefficients, so3_exp, so3_log


def se3_exp(a: Tensor) -> Tensor:
    """(..., 6) = (ω, v) → (..., 4, 4)."""
    w, v = a[..., :3], a[..., 3:]
    _, B, C = rodrigues_coefficients(w)
    K = hat(w)
    Kv = (K @ v.unsqueeze(-1)).squeeze(-1)
    KKv = (K @ Kv.unsqueeze(-1)).squeeze(-1)
    return homogeneous(so3_exp(w), v + B[..., None] * Kv + C[..., None] * KKv)


def se3_log(g: Tensor) -> Tensor:
    """(..., 4, 4) → (ω, v) (..., 6), ‖ω‖ ∈ [0, π]."""
    R, t = split(g)
    w = so3_log(R)
    t2 = (w * w).sum(-1)
    small = t2 < _SMALL**2
    theta = torch.where(small, torch.ones_like(t2), t2).sqrt()
    half_cot = (theta / 2) / torch.tan(theta / 2)
    D = torch.where(small, 1 / 12 + t2 * (1 / 720 + t2 * (1 / 30240 + t2 * (1 / 1209600 + t2 / 47900160))), (1 - half_cot) / torch.where(small, torch.ones_like(t2), t2))
    K = hat(w)
    Kt = (K @ t.unsqueeze(-1)).squeeze(-1)
    KKt = (K @ Kt.unsqueeze(-1)).squeeze(-1)
    return torch.cat([w, t - 0.5 * Kt + D[..., None] * KKt], -1)


@register
class SE3(RigidMotions):
    """Rigid motions of R³ x ↦ R x + t, homogeneous 4×4; coefficients (ω, v). sample: Haar
    rotation, t ~ N(0, I). embed: (sin θ·n, t, second-order rotation part) (3 + 3 + 6),
    continuous where the log jumps (rotations by π). Default space: R³
    (lieformer.spaces.EuclideanSpace: stabilizer SO(3))."""

    lie_dim, rep_dim = 6, 4
    rotations = SO3()

    def exp(self, a: Tensor) -> Tensor:
        return se3_exp(a)

    def log(self, g: Tensor) -> Tensor:
        return se3_log(g)
