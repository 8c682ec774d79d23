"""Planar rotations SO(2) on R² and rigid motions SE(2), with closed-form exp/log.

SE(2) coefficients are ordered (θ, v_x, v_y): exp(θ, v) = [[R(θ), V(θ)v], [0, 1]] with
V(θ) = (sin θ/θ) I + ((1 − cos θ)/θ) J, J = [[0, −1], [1, 0]]. V(θ) is a rotation times the
scale 2 sin(θ/2)/θ, so V⁻¹ is closed-form too; series are used for |θ| < 1e-2.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .affine import affine_act, homogeneous, orthogonal_affine_inv, split, translation
from .base import (
    Lifted, LieGroup, blend_frame, check_features, check_frames, euclidean_distance, frame_vectors, gather_points,
    golden_spread, planar_angle, randn, rotation_2d, uniform_angle,
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


def rotation_embedding(R: Tensor) -> Tensor:
    """(sin θ, 1 − cos θ) (..., 2) of rotation matrices (..., 2, 2): continuous and injective on
    SO(2), (θ, 0) to first order at θ = 0, where the angle θ itself jumps from π to −π."""
    return torch.stack([R[..., 1, 0], 1 - R[..., 0, 0]], -1)


def se2_embed(g: Tensor) -> Tensor:
    """(sin θ, t_x, t_y, 1 − cos θ) (..., 4) of SE(2) elements (..., 3, 3): continuous and
    injective; the first three equal the log (θ, v) to first order at the identity."""
    R, t = split(g)
    return torch.cat([R[..., 1, 0, None], t, 1 - R[..., 0, 0, None]], -1)


def plane_frame_angles(coords: Tensor, mask: Tensor, group) -> Tensor:
    """Frame angle φ_n (B, N) of each point of planar sets: the direction of the frame vector
    f_n = blend_frame(x̄ − x_n, cubic moment) (rotates with the set, unchanged by its
    translations); refuses points without a stable frame (check_frames)."""
    fv = frame_vectors(coords, mask)
    f = blend_frame(fv.primary, fv.secondary, fv.scale)
    check_frames(group, f, fv.scale, mask)
    return planar_angle(f)


@register
class SO2(LieGroup):
    """Rotations of R² about 0: x ↦ R(θ)x. Orbits are circles, q = ‖x‖, o_q = (q, 0); the
    stabilizer of o_q is trivial for q > 0 and all of SO(2) at the origin, where the lift draws
    it uniformly (frame lifts: the direction of the set's frame vector). s(x) = R(atan2(x_y, x_x))
    (the identity at x = 0). embed: (sin θ, 1 − cos θ).

    distance: α|Δθ| + (1−α)|r_a − r_b|/(r_a + r_b + 1e-3), as in LieConv.
    """

    has_frames = True
    stabilizer_uniforms = 1

    lie_dim, rep_dim, q_dim, space_dim = 1, 2, 1, 2

    def exp(self, a: Tensor) -> Tensor:
        return rotation_2d(a[..., 0])

    def log(self, g: Tensor) -> Tensor:
        return angle_of(g).unsqueeze(-1)

    embed_dim = 2

    def embed(self, g: Tensor) -> Tensor:
        return rotation_embedding(g)

    def inv(self, g: Tensor) -> Tensor:
        return g.transpose(-1, -2)

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return rotation_2d(uniform_angle(shape, generator, dtype, device))

    def section(self, coords: Tensor) -> Tensor:
        return rotation_2d(planar_angle(coords))

    def orbit(self, coords: Tensor) -> Tensor:
        r2 = (coords * coords).sum(-1, keepdim=True)
        nonzero = r2 > 0
        # sqrt only ever sees positive inputs, so x = 0 gets r = 0 with a finite (zero) gradient
        return torch.where(nonzero, torch.where(nonzero, r2, torch.ones_like(r2)).sqrt(), torch.zeros_like(r2))

    def origin(self, orbits: Tensor) -> Tensor:
        return torch.cat([orbits, torch.zeros_like(orbits)], -1)

    def sample_stabilizer(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return self.identity(shape, dtype, device)

    @staticmethod
    def _at_origin(coords: Tensor) -> Tensor:
        return (coords == 0).all(-1)

    def stabilizer_from_uniform(self, u: Tensor, coords: Tensor | None) -> Tensor:
        """The identity, except uniform rotations at points at the origin."""
        if coords is None:
            return self.identity(u.shape[:-1], u.dtype, u.device)
        theta = (2 * u[..., 0] - 1) * math.pi * self._at_origin(coords).unsqueeze(-1)
        return rotation_2d(theta)

    def frame_stabilizer(self, coords: Tensor, mask: Tensor, n_samples: int) -> Tensor:
        """The identity, except R(φ + kγ) at the origin, φ the direction of its frame vector."""
        at_origin = self._at_origin(coords) & mask
        phi = plane_frame_angles(coords, at_origin | mask, self) if at_origin.any() else torch.zeros_like(coords[..., 0])
        theta = golden_spread(phi, n_samples) * at_origin.unsqueeze(-1)
        return rotation_2d(theta)

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
    pairs without a per-pair log (a deliberate difference). Stabilizer draws are keyed to the
    point (lift_stabilizer), frames (lift_frame="centroid") read off the set's frame vectors.
    embed: (sin θ, t, 1 − cos θ), continuous where the log jumps (θ = ±π).
    """

    lie_dim, rep_dim, q_dim, space_dim = 3, 3, 0, 2
    has_frames = True
    translation_axes = (0, 1)
    stabilizer_uniforms = 1
    embed_dim = 4

    def exp(self, a: Tensor) -> Tensor:
        return se2_exp(a)

    def log(self, g: Tensor) -> Tensor:
        return se2_log(g)

    def embed(self, g: Tensor) -> Tensor:
        return se2_embed(g)

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

    def stabilizer_from_uniform(self, u: Tensor, coords: Tensor | None) -> Tensor:
        return self._rotations((2 * u[..., 0] - 1) * math.pi)

    def frame_stabilizer(self, coords: Tensor, mask: Tensor, n_samples: int) -> Tensor:
        """R(φ_n + kγ): φ_n the direction of the point's frame vector (x̄ − x_n, blended with a
        cubic moment near the centroid: plane_frame_angles), γ the golden angle."""
        return self._rotations(golden_spread(plane_frame_angles(coords, mask, self), n_samples))

    def pair_features(self, lifted: Lifted, idx: Tensor, query_idx: Tensor | None = None,
                      features: str = "log") -> Tensor:
        ui, _ = self._queries(lifted, idx, query_idx)
        rel = orthogonal_affine_inv(ui).unsqueeze(2) @ gather_points(lifted.elements, idx)
        return se2_embed(rel) if check_features(features) == "continuous" else se2_log(rel)

    @property
    def position_weight(self) -> float:  # distance ≥ (1 − α)·‖t_a − t_b‖
        return 1.0 - self.alpha

    def positions(self, elements: Tensor, orbits: Tensor) -> Tensor:
        return split(elements)[1]

    def distance(self, ua, qa, ub, qb) -> Tensor:
        Ra, ta = split(ua)
        Rb, tb = split(ub)
        return self.alpha * relative_angle(Ra, Rb) + (1 - self.alpha) * euclidean_distance(ta, tb)
