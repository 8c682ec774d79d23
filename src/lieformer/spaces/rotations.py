"""R² under SO(2) and R³ under SO(3): rotations about the origin, orbits the circles / spheres
‖x‖ = q, the representative o_q on a fixed axis, and at the origin a stabilizer that is the whole
group (the lift draws from it there).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..groups.base import rotation_2d
from ..groups.so2 import relative_angle as relative_angle_2d
from ..groups.so3 import haar_so3_from_uniform, rotation_about_z, rotation_between
from ..groups.so3 import relative_angle as relative_angle_3d
from .base import HomogeneousSpace, first_flagged
from .frames import blend_frame, check_frames, frame_vectors, golden_spread, planar_angle, plane_frame_angles


def radius(coords: Tensor) -> Tensor:
    """‖x‖ (..., 1); sqrt only ever sees positive inputs, so x = 0 gets 0 with a zero gradient."""
    r2 = (coords * coords).sum(-1, keepdim=True)
    nonzero = r2 > 0
    return torch.where(nonzero, torch.where(nonzero, r2, torch.ones_like(r2)).sqrt(), torch.zeros_like(r2))


def at_origin(coords: Tensor) -> Tensor:
    return (coords == 0).all(-1)


class SO2Space(HomogeneousSpace):
    """R² under rotations x ↦ R(θ)x. Orbits are circles, q = ‖x‖, o_q = (q, 0); the stabilizer of
    o_q is trivial for q > 0 and all of SO(2) at the origin, where the lift draws it uniformly
    (frame lifts: the direction of the set's frame vector). s(x) = R(atan2(x_y, x_x)) (the
    identity at x = 0).

    distance: α|Δθ| + (1−α)|r_a − r_b|/(r_a + r_b + 1e-3), as in LieConv.
    """

    space_dim, q_dim = 2, 1
    stabilizer_uniforms = 1
    has_frames = True

    def section(self, coords: Tensor) -> Tensor:
        return rotation_2d(planar_angle(coords))

    def orbit(self, coords: Tensor) -> Tensor:
        return radius(coords)

    def origin(self, orbits: Tensor) -> Tensor:
        return torch.cat([orbits, torch.zeros_like(orbits)], -1)

    def stabilizer_from_uniform(self, u: Tensor, coords: Tensor | None) -> Tensor:
        """The identity, except uniform rotations at points at the origin."""
        if coords is None:
            return super().stabilizer_from_uniform(u, coords)
        return rotation_2d((2 * u[..., 0] - 1) * math.pi * at_origin(coords))

    def frame_stabilizer(self, coords: Tensor, mask: Tensor, n_samples: int) -> Tensor:
        """The identity, except R(φ + kγ) at the origin, φ the direction of its frame vector."""
        origin = at_origin(coords) & mask
        phi = plane_frame_angles(coords, mask, self) if origin.any() else torch.zeros_like(coords[..., 0])
        return rotation_2d(golden_spread(phi, n_samples) * origin.unsqueeze(-1))

    invariant_dim = 4

    def pair_invariants(self, xi: Tensor, xj: Tensor) -> Tensor:
        """(‖x_i‖, ‖x_j‖, x_i·x_j, x_i ∧ x_j): complete for pairs under rotations of the plane."""
        cross = xi[..., :1] * xj[..., 1:] - xi[..., 1:] * xj[..., :1]
        return torch.cat([radius(xi), radius(xj), (xi * xj).sum(-1, keepdim=True), cross], -1)

    def distance(self, ua, qa, ub, qb) -> Tensor:
        ra, rb = qa[..., 0].unsqueeze(-1), qb[..., 0].unsqueeze(-2)
        return self.alpha * relative_angle_2d(ua, ub) + (1 - self.alpha) * (ra - rb).abs() / (ra + rb + 1e-3)


class SO3Space(HomogeneousSpace):
    """R³ under rotations. Orbits are spheres: q = ‖x‖, o_q = q·e₃; the stabilizer of o_q is
    SO(2) about e₃ (i.i.d. uniform angles), and all of SO(3) at the origin, where the lift draws
    Haar rotations. s(x) = the rotation taking e₃ to x/‖x‖ (the identity at x = 0).

    distance: α·(angle of u_a⁻¹u_b) + (1−α)|q_a − q_b| (relative_angle: no per-pair matrices).
    """

    space_dim, q_dim = 3, 1
    stabilizer_uniforms = 3
    has_frames = True

    @staticmethod
    def _axis(like: Tensor) -> Tensor:
        return torch.tensor([0.0, 0.0, 1.0], dtype=like.dtype, device=like.device)

    def section(self, coords: Tensor) -> Tensor:
        r2 = (coords * coords).sum(-1, keepdim=True)
        zero = r2 == 0
        r = torch.where(zero, torch.ones_like(r2), r2).sqrt()
        x_hat = torch.where(zero, self._axis(coords), coords / r)
        return rotation_between(self._axis(coords), x_hat)

    def orbit(self, coords: Tensor) -> Tensor:
        return radius(coords)

    def origin(self, orbits: Tensor) -> Tensor:
        return orbits * self._axis(orbits)

    def stabilizer_from_uniform(self, u: Tensor, coords: Tensor | None) -> Tensor:
        """Rotations about e₃ by (2u₀ − 1)π; Haar rotations (all three uniforms) at the origin."""
        about_z = rotation_about_z((2 * u[..., 0] - 1) * math.pi)
        if coords is None:
            return about_z
        return torch.where(at_origin(coords)[..., None, None], haar_so3_from_uniform(u), about_z)

    def frame_stabilizer(self, coords: Tensor, mask: Tensor, n_samples: int) -> Tensor:
        """R_z(φ_n + kγ), φ_n the azimuth, in the point's own frame s(x_n), of its frame vector
        f_n ⟂ x_n: blend_frame of the parts ⟂ x_n of x̄ − x_n and of a secondary vector (the
        cubic moment plus S₂x_n, S₂ the set's second moment about x̄, which sees the origin).
        The lifted element s(x_n)R_z(φ_n) = [f̂, x̂ × f̂, x̂] does not depend on the section's
        choice. Refuses points at the origin (no frame of all of SO(3) is built) and points
        without a stable frame (spaces.frames.check_frames)."""
        if (first := first_flagged(at_origin(coords) & mask)) is not None:
            b, n = first
            raise ValueError(f"{self!r} lift_frame='centroid': point {n} of set {b} is at the origin, where the "
                             "stabilizer is all of SO(3); use lift_frame='random' for such inputs")
        fv = frame_vectors(coords, mask)
        r2 = (coords * coords).sum(-1, keepdim=True)
        x_hat = coords / torch.where(r2 > 0, r2, torch.ones_like(r2)).sqrt()

        def perpendicular(v):
            return v - (v * x_hat).sum(-1, keepdim=True) * x_hat

        secondary = fv.secondary + coords @ fv.second
        f = blend_frame(perpendicular(fv.primary), perpendicular(secondary), fv.scale)
        check_frames(self, f, fv.scale, mask)
        local = (self.section(coords).transpose(-1, -2) @ f.unsqueeze(-1)).squeeze(-1)
        return rotation_about_z(golden_spread(planar_angle(local), n_samples))

    invariant_dim = 3

    def pair_invariants(self, xi: Tensor, xj: Tensor) -> Tensor:
        """(‖x_i‖, ‖x_j‖, x_i·x_j): complete for pairs under rotations of space."""
        return torch.cat([radius(xi), radius(xj), (xi * xj).sum(-1, keepdim=True)], -1)

    def distance(self, ua, qa, ub, qb) -> Tensor:
        angle = relative_angle_3d(ua, ub)
        return self.alpha * angle + (1 - self.alpha) * (qa[..., 0].unsqueeze(-1) - qb[..., 0].unsqueeze(-2)).abs()
