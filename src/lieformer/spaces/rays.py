"""Rays (oriented lines) in R³ under rigid motions SE(3): X = SE(3)/(SO(2) × R), one orbit.

A ray is a 6-vector of Plücker coordinates (d, m): d ∈ S² its direction, m = x × d for any point
x on it (so d·m = 0, and p = d × m is its point closest to the origin). g = (R, t) acts by

    d' = R d,   m' = R m + t × (R d).

Representative o = (e_z, 0), the ray through 0 along e_z; its stabilizer is SO(2) × R, the
rotations about it and the translations along it. Section s(x) = (rotation_from_pole(d), p): the
rotation taking e_z to d, then the translation to the closest point p.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..groups.affine import homogeneous, split
from ..groups.base import per_point
from ..groups.se3 import SE3
from ..groups.so3 import rotation_about_z
from .base import HomogeneousSpace, safe_norm
from .sphere import angle_between_units, rotation_from_pole, unit


def cross(a: Tensor, b: Tensor) -> Tensor:
    a, b = torch.broadcast_tensors(a, b)
    return torch.linalg.cross(a, b, dim=-1)


def parallel_threshold(dtype: torch.dtype) -> float:
    """sin θ below which two lines count as parallel: √ε of the dtype (3.5e-4 in float32, 1.5e-8
    in float64), where |d₁·m₂ + d₂·m₁|/sin θ would lose half its digits."""
    return math.sqrt(torch.finfo(dtype).eps)


def line_invariants(di: Tensor, mi: Tensor, dj: Tensor, mj: Tensor) -> Tensor:
    """(cos θ, sin θ, ρ, δ) (..., 4) of pairs of rays (d_i, m_i), (d_j, m_j) (..., 3) each:

    θ the angle between the directions (cos θ = d_i·d_j, sin θ = ‖d_i × d_j‖), ρ = d_i·m_j +
    d_j·m_i the reciprocal product (= −δ·sin θ·(±1), its sign the handedness of the pair), and δ
    the distance between the lines: |ρ|/sin θ, or for parallel and antiparallel lines (sin θ below
    parallel_threshold) the distance between them, ‖m_j − σ m_i‖ with σ = sign(cos θ).

    Complete for ordered pairs of rays under SE(3): (θ, δ, sign ρ) fixes the pair up to a rigid
    motion. δ jumps at parallel lines (lines crossing far away are at distance 0, parallel ones
    are not): this is the geometry, not rounding.
    """
    cos = (di * dj).sum(-1, keepdim=True)
    sin = safe_norm(cross(di, dj))
    rho = (di * mj).sum(-1, keepdim=True) + (dj * mi).sum(-1, keepdim=True)
    parallel = sin < parallel_threshold(di.dtype)
    sigma = torch.where(cos >= 0, torch.ones_like(cos), -torch.ones_like(cos))
    apart = safe_norm(mj - sigma * mi)
    delta = torch.where(parallel, apart, rho.abs() / torch.where(parallel, torch.ones_like(sin), sin))
    return torch.cat([cos, sin, rho, delta], -1)


class RaySpace(HomogeneousSpace):
    """Rays in Plücker coordinates x = (d, m) ∈ R⁶ under SE(3) (module docstring for the action
    and the section). q_dim 0; points must have |‖d‖ − 1| ≤ tolerance and |d·m| ≤
    tolerance·(1 + ‖m‖), else ValueError naming the ray (batch, index, coordinates, what is off).

    Stabilizer draws h = (R_z(θ), τ e_z): θ ~ U(−π, π) (Haar on SO(2)) and τ ~ U[−extent, extent]
    (default extent 1: a bounded window along the ray around its anchor; extent 0 anchors every
    lift at the foot point p). R has no invariant probability measure, and this window is what
    that costs:

    - the compensating element of any g = (R, t) at a ray x is h_g(x) = s(g·x)⁻¹·g·s(x) =
      (R_z(θ_g(x)), τ_g(x) e_z) with τ_g(x) = (R d)·t: the distance along the moved ray from its
      own foot point to the image g·p of the old one. lift(g·x, h_g(x)·h) = g·lift(x, h) holds
      exactly for every g (assert_equivariant, check_group), with translation draw τ + τ_g(x),
      which leaves [−extent, extent] when τ_g(x) ≠ 0;
    - so the *random* lift is equivariant in distribution (lift(g·x) ~ g·lift(x)) exactly for the
      motions with τ_g(x) = 0 at every ray of the set: rotations about the origin and
      translations perpendicular to every ray. For others each ray's window is centred on its
      foot point from the origin, not on the image of the old one: models on "log" or
      "continuous" pair features see where the origin is, and are invariant only in that
      restricted sense.

    pair_features="invariants" (line_invariants: angle, reciprocal product, distance) and the
    distance below use the rays alone, never the draws, so models built on them are SE(3)-
    invariant with random lifts and no compensation: model(g·x) = model(x) for the same generator
    seed; with k-nearest neighbourhoods (the LieTransformer, LieResNet knn=True) for any seed, as
    nothing random is left (LieConv's balls pick a random subset of their points). distance:
    α·θ + (1−α)·δ (angle between directions, distance between the lines; ignores the draws).
    """

    space_dim, q_dim = 6, 0
    stabilizer_uniforms = 2
    invariant_dim = 4

    def __init__(self, group: SE3, extent: float = 1.0, tolerance: float = 1e-4):
        if not isinstance(group, SE3):
            raise TypeError(f"RaySpace: the group must be SE3, got {group!r}")
        if not extent >= 0:
            raise ValueError(f"RaySpace: extent must be >= 0, got {extent!r}")
        super().__init__(group)
        self.extent, self.tolerance = float(extent), float(tolerance)
        self.domain_description = (f"rays in Plücker coordinates (d, m) with |‖d‖ − 1| ≤ {self.tolerance:g} "
                                   f"and |d·m| ≤ {self.tolerance:g}·(1 + ‖m‖)")

    def _init_args(self) -> dict:
        args = {}
        if self.extent != 1.0:
            args["extent"] = self.extent
        if self.tolerance != 1e-4:
            args["tolerance"] = self.tolerance
        return args

    # ------------------------------------------------------------------ the action and the section
    def act(self, g: Tensor, coords: Tensor) -> Tensor:
        R, t = split(per_point(g))
        d, m = coords[..., :3], coords[..., 3:]
        d2 = (R @ d.unsqueeze(-1)).squeeze(-1)
        m2 = (R @ m.unsqueeze(-1)).squeeze(-1) + cross(t, d2)
        return torch.cat([d2, m2], -1)

    def section(self, coords: Tensor) -> Tensor:
        d = unit(coords[..., :3])
        return homogeneous(rotation_from_pole(d), foot_point(d, coords[..., 3:]))

    def origin(self, orbits: Tensor) -> Tensor:
        o = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0, 0.0], dtype=orbits.dtype, device=orbits.device)
        return o.expand(*orbits.shape[:-1], 6)

    def sample_points(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        """Rays with uniform directions through standard normal points: (d, x × d)."""
        dx = super().sample_points(shape, generator, dtype, device)
        d = unit(dx[..., :3])
        return torch.cat([d, cross(dx[..., 3:], d)], -1)

    # ------------------------------------------------------------------ domain
    def outside_domain(self, coords: Tensor) -> Tensor:
        bad_norm, bad_dot = self._violations(coords)
        return bad_norm | bad_dot

    def _violations(self, coords: Tensor):
        d, m = coords[..., :3], coords[..., 3:]
        norm_d = safe_norm(d)[..., 0]
        dot = (d * m).sum(-1)
        return (norm_d - 1).abs() > self.tolerance, dot.abs() > self.tolerance * (1 + safe_norm(m)[..., 0])

    def why_outside(self, point: Tensor) -> str:
        bad_norm, _ = self._violations(point)
        d, m = point[:3], point[3:]
        if bad_norm:
            return f": the direction d is not a unit vector (‖d‖ = {float(d.norm()):.6g})"
        return f": m is not orthogonal to d (d·m = {float(d @ m):.6g}), not the moment of a line"

    # ------------------------------------------------------------------ stabilizer
    def stabilizer_from_uniform(self, u: Tensor, coords: Tensor | None) -> Tensor:
        """(R_z((2u₀ − 1)π), (2u₁ − 1)·extent·e_z): uniform on SO(2) × [−extent, extent]."""
        R = rotation_about_z((2 * u[..., 0] - 1) * math.pi)
        t = torch.zeros(*u.shape[:-1], 3, dtype=u.dtype, device=u.device)
        t[..., 2] = (2 * u[..., 1] - 1) * self.extent
        return homogeneous(R, t)

    # ------------------------------------------------------------------ features and distances
    def rays(self, elements: Tensor) -> tuple[Tensor, Tensor]:
        """(d, m) of lifted elements u = (R, t) (..., 4, 4): the image u·o = (R e_z, t × R e_z)."""
        R, t = split(elements)
        d = R[..., :, 2]
        return d, cross(t, d)

    def pair_invariants(self, xi: Tensor, xj: Tensor) -> Tensor:
        return line_invariants(xi[..., :3], xi[..., 3:], xj[..., :3], xj[..., 3:])

    def distance(self, ua, qa, ub, qb) -> Tensor:
        """α·θ + (1−α)·δ (B, M, N) for lifted sets (B, M, 4, 4), (B, N, 4, 4), all pairs at once."""
        da, ma = self.rays(ua)
        db, mb = self.rays(ub)
        theta = angle_between_units(da, db)
        sin = torch.sin(theta)
        rho = da @ mb.transpose(-1, -2) + ma @ db.transpose(-1, -2)
        mode = "donot_use_mm_for_euclid_dist"
        apart = torch.where((da @ db.transpose(-1, -2)) >= 0, torch.cdist(ma, mb, compute_mode=mode),
                            torch.cdist(-ma, mb, compute_mode=mode))
        parallel = sin < parallel_threshold(sin.dtype)
        delta = torch.where(parallel, apart, rho.abs() / torch.where(parallel, torch.ones_like(sin), sin))
        return self.alpha * theta + (1 - self.alpha) * delta


def foot_point(d: Tensor, m: Tensor) -> Tensor:
    """p = d × m (..., 3): the point of the ray (d, m) (d unit, d·m = 0) closest to the origin."""
    return cross(d, m)


def rays_through(points: Tensor, directions: Tensor) -> Tensor:
    """Plücker coordinates (..., 6) of the rays through points (..., 3) along directions (..., 3)
    (normalised here): (d, x × d)."""
    d = unit(directions)
    return torch.cat([d, cross(points, d)], -1)
