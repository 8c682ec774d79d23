"""Rigid motions SE(3) of R³ as homogeneous 4×4 matrices; coefficients (ω, v), rotation first.

exp(ω, v) = [[R, V v], [0, 1]] with V = I + B K + C K² (K = hat(ω)); log inverts it with
V⁻¹ = I − ½K + D K², D = (1 − (θ/2)·cot(θ/2))/θ², finite for θ ≤ π; series near θ = 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .affine import affine_act, homogeneous, orthogonal_affine_inv, split, translation
from .base import LieGroup, euclidean_distance, randn
from .registry import register
from .so3 import (
    _SMALL, haar_so3, haar_so3_from_uniform, hat, relative_angle, rodrigues_coefficients, rotation_embedding, so3_exp,
    so3_log,
)


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


def _rotations(R: Tensor) -> Tensor:
    return homogeneous(R, torch.zeros(*R.shape[:-1], dtype=R.dtype, device=R.device))


@register
class SE3(LieGroup):
    """Rigid motions of R³: x ↦ R x + t. Transitive: o = 0, q_dim 0, stabilizer SO(3) (Haar
    samples in the lift). sample: Haar rotation, t ~ N(0, I).

    distance: α·(rotation angle of u_a⁻¹u_b) + (1−α)‖t_a − t_b‖. The original uses the norm of
    the log's translation part; ours is the Euclidean distance, computable for all pairs without
    a per-pair log (a deliberate difference). embed: (sin θ·n, t, second-order rotation part)
    (3 + 3 + 6; rotation_embedding), continuous where the log jumps (rotations by π).
    """

    lie_dim, rep_dim, q_dim, space_dim = 6, 4, 0, 3
    translation_axes = (0, 1, 2)
    stabilizer_uniforms = 3
    embed_dim = 12

    def exp(self, a: Tensor) -> Tensor:
        return se3_exp(a)

    def log(self, g: Tensor) -> Tensor:
        return se3_log(g)

    def embed(self, g: Tensor) -> Tensor:
        R, t = split(g)
        first, second = rotation_embedding(R)
        return torch.cat([first, t, second], -1)

    def inv(self, g: Tensor) -> Tensor:
        return orthogonal_affine_inv(g)

    def act(self, g: Tensor, coords: Tensor) -> Tensor:
        return affine_act(g, coords)

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return homogeneous(haar_so3(shape, generator, dtype, device), randn((*shape, 3), generator, dtype, device))

    def section(self, coords: Tensor) -> Tensor:
        return translation(coords)

    def orbit(self, coords: Tensor) -> Tensor:
        return coords.new_zeros(*coords.shape[:-1], 0)

    def origin(self, orbits: Tensor) -> Tensor:
        return orbits.new_zeros(*orbits.shape[:-1], 3)

    def sample_stabilizer(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return _rotations(haar_so3(shape, generator, dtype, device))

    def stabilizer_from_uniform(self, u: Tensor, coords: Tensor | None) -> Tensor:
        return _rotations(haar_so3_from_uniform(u))

    @property
    def position_weight(self) -> float:  # distance ≥ (1 − α)·‖t_a − t_b‖
        return 1.0 - self.alpha

    def positions(self, elements: Tensor, orbits: Tensor) -> Tensor:
        return split(elements)[1]

    def distance(self, ua, qa, ub, qb) -> Tensor:
        Ra, ta = split(ua)
        Rb, tb = split(ub)
        angle = relative_angle(Ra, Rb)
        return self.alpha * angle + (1 - self.alpha) * euclidean_distance(ta, tb)
