"""Planar rotations SO(2) on R² and rigid motions SE(2), with closed-form exp/log.

SE(2) coefficients are ordered (θ, v_x, v_y): exp(θ, v) = [[R(θ), V(θ)v], [0, 1]] with
V(θ) = (sin θ/θ) I + ((1 − cos θ)/θ) J, J = [[0, −1], [1, 0]]. V(θ) is a rotation times the
scale 2 sin(θ/2)/θ, so V⁻¹ is closed-form too; series are used for |θ| < 1e-2.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .affine import affine_act, homogeneous, orthogonal_affine_inv, split, translation
from .base import (
    GOLDEN_ANGLE, centroid_directions, Lifted, LieGroup, euclidean_distance, gather_points, randn, rotation_2d, uniform_angle,
)
from .registry import register

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


def _safe_direction_angle(coords: Tensor) -> Tensor:
    """atan2(y, x), 0 at the origin with a finite (zero) gradient there."""
    r2 = (coords * coords).sum(-1)
    zero = r2 == 0
    x = torch.where(zero, torch.ones_like(coords[..., 0]), coords[..., 0])
    y = torch.where(zero, torch.zeros_like(coords[..., 1]), coords[..., 1])
    return torch.atan2(y, x)


@register
class SO2(LieGroup):
    """Rotations of R² about 0: x ↦ R(θ)x. Orbits are circles, q = ‖x‖, o_q = (q, 0); the
    stabilizer of o_q is trivial (q > 0). s(x) = R(atan2(x_y, x_x)) (the identity at x = 0).

    distance: α|Δθ| + (1−α)|r_a − r_b|/(r_a + r_b + 1e-3), as in LieConv.
    """

    trivial_stabilizer = True

    lie_dim, rep_dim, q_dim, space_dim = 1, 2, 1, 2

    def exp(self, a: Tensor) -> Tensor:
        return rotation_2d(a[..., 0])

    def log(self, g: Tensor) -> Tensor:
        return angle_of(g).unsqueeze(-1)

    def inv(self, g: Tensor) -> Tensor:
        return g.transpose(-1, -2)

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return rotation_2d(uniform_angle(shape, generator, dtype, device))

    def section(self, coords: Tensor) -> Tensor:
        return rotation_2d(_safe_direction_angle(coords))

    def orbit(self, coords: Tensor) -> Tensor:
        r2 = (coords * coords).sum(-1, keepdim=True)
        nonzero = r2 > 0
        # sqrt only ever sees positive inputs, so x = 0 gets r = 0 with a finite (zero) gradient
        return torch.where(nonzero, torch.where(nonzero, r2, torch.ones_like(r2)).sqrt(), torch.zeros_like(r2))

    def origin(self, orbits: Tensor) -> Tensor:
        return torch.cat([orbits, torch.zeros_like(orbits)], -1)

    def sample_stabilizer(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return self.identity(shape, dtype, device)

    def distance(self, ua, qa, ub, qb) -> Tensor:
        ra, rb = qa[..., 0].unsqueeze(-1), qb[..., 0].unsqueeze(-2)
        return self.alpha * relative_angle(ua, ub) + (1 - self.alpha) * (ra - rb).abs() / (ra + rb + 1e-3)


@register
class SE2(LieGroup):
    """Rigid motions of R²: x ↦ R(θ)x + t, homogeneous 3×3. Transitive: o = 0, q_dim 0, stabilizer
    SO(2) (rotations about 0), sampled i.i.d. uniform in the lift. LieConv stratifies the S
    angles (2πs/S plus one offset); for even S that puts two samples of a point exactly π apart,
    where log is discontinuous, so a transformed input can flip the sign of their pair feature —
    we draw i.i.d. angles instead (a deliberate difference). sample: θ uniform, t ~ N(0, I).

    distance: α|Δθ| + (1−α)‖t_a − t_b‖. The original uses the norm of the log's translation
    part, which is ‖t_a − t_b‖·(θ/2)/sin(θ/2); ours is the Euclidean distance, computable for all
    pairs without a per-pair log (a deliberate difference).
    """

    lie_dim, rep_dim, q_dim, space_dim = 3, 3, 0, 2

    def exp(self, a: Tensor) -> Tensor:
        return se2_exp(a)

    def log(self, g: Tensor) -> Tensor:
        return se2_log(g)

    def inv(self, g: Tensor) -> Tensor:
        return orthogonal_affine_inv(g)

    def act(self, g: Tensor, coords: Tensor) -> Tensor:
        return affine_act(g, coords)

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        theta = uniform_angle(shape, generator, dtype, device)
        return homogeneous(rotation_2d(theta), randn((*shape, 2), generator, dtype, device))

    def section(self, coords: Tensor) -> Tensor:
        return translation(coords)

    def orbit(self, coords: Tensor) -> Tensor:
        return coords.new_zeros(*coords.shape[:-1], 0)

    def origin(self, orbits: Tensor) -> Tensor:
        return orbits.new_zeros(*orbits.shape[:-1], 2)

    def _rotations(self, theta: Tensor) -> Tensor:
        return homogeneous(rotation_2d(theta), torch.zeros(*theta.shape, 2, dtype=theta.dtype, device=theta.device))

    def sample_stabilizer(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return self._rotations(uniform_angle(shape, generator, dtype, device))


    def frame_stabilizer(self, coords: Tensor, mask: Tensor, n_samples: int) -> Tensor:
        """R(φ_n + kγ): φ_n the angle of x̄ − x_n (γ the golden angle); see LieGroup.frame_stabilizer."""
        phi = _safe_direction_angle(centroid_directions(coords, mask))
        k = torch.arange(n_samples, dtype=coords.dtype, device=coords.device)
        return self._rotations(phi.unsqueeze(-1) + GOLDEN_ANGLE * k)

    def pair_features(self, lifted: Lifted, idx: Tensor, query_idx: Tensor | None = None) -> Tensor:
        ui, _ = self._queries(lifted, idx, query_idx)
        return se2_log(orthogonal_affine_inv(ui).unsqueeze(2) @ gather_points(lifted.elements, idx))

    @property
    def position_weight(self) -> float:  # distance ≥ (1 − α)·‖t_a − t_b‖
        return 1.0 - self.alpha

    def positions(self, elements: Tensor, orbits: Tensor) -> Tensor:
        return split(elements)[1]

    def distance(self, ua, qa, ub, qb) -> Tensor:
        Ra, ta = split(ua)
        Rb, tb = split(ub)
        return self.alpha * relative_angle(Ra, Rb) + (1 - self.alpha) * euclidean_distance(ta, tb)
