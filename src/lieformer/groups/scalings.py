"""Scaling groups on the plane: RxSO2 (rotation-scalings), Rx (scalings), and on the open
positive quadrant RxSQ (independent axis scalings) and SQ (squeezes).

All four are abelian with diagonalisable closed-form exp/log, so no series are needed. The
orbit-identifier conventions are those of LieConv except for Rx (see its docstring).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import LieGroup, euclidean_distance, randn, uniform_angle
from .registry import register
from .so2 import angle_of, relative_angle


def _scaled_rotation(log_r: Tensor, theta: Tensor) -> Tensor:
    """r·R(θ) = [[a, −b], [b, a]] (..., 2, 2)."""
    r = log_r.exp()
    a, b = r * torch.cos(theta), r * torch.sin(theta)
    return torch.stack([torch.stack([a, -b], -1), torch.stack([b, a], -1)], -2)


def _log_radius(g: Tensor) -> Tensor:
    """log r of r·R(θ) (..., 2, 2) = ½ log(det)."""
    return 0.5 * torch.log(g[..., 0, 0] ** 2 + g[..., 1, 0] ** 2)


def _diag(a: Tensor, b: Tensor) -> Tensor:
    zero = torch.zeros_like(a)
    return torch.stack([torch.stack([a, zero], -1), torch.stack([zero, b], -1)], -2)


def _safe_norm(coords: Tensor) -> Tensor:
    """‖x‖, and 1 at x = 0 (sqrt never sees 0, so values and gradients stay finite there)."""
    r2 = (coords * coords).sum(-1)
    return torch.where(r2 > 0, r2, torch.ones_like(r2)).sqrt()


@register
class RxSO2(LieGroup):
    """Rotation-scalings x ↦ r R(θ) x of R² \\ {0}; coefficients (log r, θ). Transitive: o = e₁,
    trivial stabilizer, s(x) = [[x, −y], [y, x]] (the identity at x = 0). Log-polar convolution.

    distance: α|Δθ| + (1−α)|Δ log r| (LieConv). sample: log r ~ N(0, 0.5²), θ uniform.
    A valid point at the origin is refused (outside the space). embed: (log r, sin θ, 1 − cos θ).
    """

    trivial_stabilizer = True
    domain_description = "R² \\ {0}"
    embed_dim = 3

    lie_dim, rep_dim, q_dim, space_dim = 2, 2, 0, 2

    def outside_domain(self, coords: Tensor) -> Tensor:
        return (coords == 0).all(-1)

    def embed(self, g: Tensor) -> Tensor:
        log_r = _log_radius(g)
        unit = g / log_r.exp()[..., None, None]
        return torch.stack([log_r, unit[..., 1, 0], 1 - unit[..., 0, 0]], -1)

    def exp(self, a: Tensor) -> Tensor:
        return _scaled_rotation(a[..., 0], a[..., 1])

    def log(self, g: Tensor) -> Tensor:
        return torch.stack([_log_radius(g), angle_of(g)], -1)

    def inv(self, g: Tensor) -> Tensor:
        return g.transpose(-1, -2) / (g[..., 0, 0] ** 2 + g[..., 1, 0] ** 2)[..., None, None]

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return _scaled_rotation(0.5 * randn(shape, generator, dtype, device), uniform_angle(shape, generator, dtype, device))

    def section(self, coords: Tensor) -> Tensor:
        zero = (coords == 0).all(-1)
        x = torch.where(zero, torch.ones_like(coords[..., 0]), coords[..., 0])
        y = torch.where(zero, torch.zeros_like(coords[..., 1]), coords[..., 1])
        return torch.stack([torch.stack([x, -y], -1), torch.stack([y, x], -1)], -2)

    def orbit(self, coords: Tensor) -> Tensor:
        return coords.new_zeros(*coords.shape[:-1], 0)

    def origin(self, orbits: Tensor) -> Tensor:
        o = orbits.new_zeros(*orbits.shape[:-1], 2)
        o[..., 0] = 1
        return o

    def sample_stabilizer(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return self.identity(shape, dtype, device)

    def distance(self, ua, qa, ub, qb) -> Tensor:
        scale = (_log_radius(ua).unsqueeze(-1) - _log_radius(ub).unsqueeze(-2)).abs()
        # atan2 ignores the common positive factor r_a·r_b, so the unnormalised matrices will do
        return self.alpha * relative_angle(ua, ub) + (1 - self.alpha) * scale


@register
class Rx(LieGroup):
    """Scalings x ↦ r x of R² \\ {0}; coefficient log r. Orbits are open rays, identified by the unit
    direction q = x/‖x‖ (q_dim 2), o_q = q; trivial stabilizer; s(x) = ‖x‖ I.

    Deliberate difference: LieConv identifies rays by the angle θ, which jumps at ±π; the unit
    direction is continuous. distance: α|Δ log r| + (1−α)‖Δq‖. sample: log r ~ N(0, 0.5²).
    A valid point at the origin is refused (outside the space).
    """

    trivial_stabilizer = True
    domain_description = "R² \\ {0}"

    def outside_domain(self, coords: Tensor) -> Tensor:
        return (coords == 0).all(-1)

    lie_dim, rep_dim, q_dim, space_dim = 1, 2, 2, 2

    def exp(self, a: Tensor) -> Tensor:
        r = a[..., 0].exp()
        return _diag(r, r)

    def log(self, g: Tensor) -> Tensor:
        return torch.log(g[..., 0, 0]).unsqueeze(-1)

    def inv(self, g: Tensor) -> Tensor:
        return _diag(1 / g[..., 0, 0], 1 / g[..., 1, 1])

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return self.exp(0.5 * randn((*shape, 1), generator, dtype, device))

    def section(self, coords: Tensor) -> Tensor:
        r = _safe_norm(coords)
        return _diag(r, r)

    def orbit(self, coords: Tensor) -> Tensor:
        return coords / _safe_norm(coords).unsqueeze(-1)

    def origin(self, orbits: Tensor) -> Tensor:
        return orbits

    def sample_stabilizer(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return self.identity(shape, dtype, device)

    def distance(self, ua, qa, ub, qb) -> Tensor:
        la, lb = self.log(ua), self.log(ub)
        return self.alpha * euclidean_distance(la, lb) + (1 - self.alpha) * euclidean_distance(qa, qb)


class _PositiveQuadrant(LieGroup):
    """Diagonal groups acting on the open positive quadrant (0, ∞)²."""

    trivial_stabilizer = True
    domain_description = "the open positive quadrant (0, ∞)² (every coordinate > 0)"

    space_dim, rep_dim = 2, 2

    def outside_domain(self, coords: Tensor) -> Tensor:
        return (coords <= 0).any(-1)

    def inv(self, g: Tensor) -> Tensor:
        return _diag(1 / g[..., 0, 0], 1 / g[..., 1, 1])

    def sample_stabilizer(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return self.identity(shape, dtype, device)

    @staticmethod
    def _log_axes(coords: Tensor) -> tuple[Tensor, Tensor]:
        """log x₁, log x₂, with padding zeros (validated away) mapped to 0."""
        safe = torch.where(coords > 0, coords, torch.ones_like(coords))
        return safe[..., 0].log(), safe[..., 1].log()


@register
class RxSQ(_PositiveQuadrant):
    """Axis scalings diag(e^{r+s}, e^{r−s}) on (0, ∞)²; coefficients (r, s) = (log-scale, squeeze).
    Transitive: o = (1, 1), trivial stabilizer, s(x) = diag(x₁, x₂) (log-hyperbolic convolution).

    distance: α|Δs| + (1−α)|Δr| (LieConv). sample: r, s ~ N(0, 0.5²).
    """

    lie_dim, q_dim = 2, 0

    def exp(self, a: Tensor) -> Tensor:
        r, s = a[..., 0], a[..., 1]
        return _diag((r + s).exp(), (r - s).exp())

    def log(self, g: Tensor) -> Tensor:
        l1, l2 = g[..., 0, 0].log(), g[..., 1, 1].log()
        return torch.stack([(l1 + l2) / 2, (l1 - l2) / 2], -1)

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return self.exp(0.5 * randn((*shape, 2), generator, dtype, device))

    def section(self, coords: Tensor) -> Tensor:
        safe = torch.where(coords > 0, coords, torch.ones_like(coords))  # padding zeros → identity
        return _diag(safe[..., 0], safe[..., 1])

    def orbit(self, coords: Tensor) -> Tensor:
        return coords.new_zeros(*coords.shape[:-1], 0)

    def origin(self, orbits: Tensor) -> Tensor:
        return orbits.new_ones(*orbits.shape[:-1], 2)

    def distance(self, ua, qa, ub, qb) -> Tensor:
        a, b = self.log(ua), self.log(ub)
        dr = (a[..., 0].unsqueeze(-1) - b[..., 0].unsqueeze(-2)).abs()
        ds = (a[..., 1].unsqueeze(-1) - b[..., 1].unsqueeze(-2)).abs()
        return self.alpha * ds + (1 - self.alpha) * dr


@register
class SQ(_PositiveQuadrant):
    """Squeezes diag(e^s, e^{−s}) on (0, ∞)²; orbits are hyperbolas x₁x₂ = const, identified by
    q = ½ log(x₁x₂) (the RxSQ coordinate that SQ drops), o_q = (e^q, e^q), trivial stabilizer,
    s(x) = diag(√(x₁/x₂), √(x₂/x₁)). distance: α|Δs| + (1−α)|Δq|. sample: s ~ N(0, 0.5²).
    """

    lie_dim, q_dim = 1, 1

    def exp(self, a: Tensor) -> Tensor:
        s = a[..., 0]
        return _diag(s.exp(), (-s).exp())

    def log(self, g: Tensor) -> Tensor:
        return ((g[..., 0, 0].log() - g[..., 1, 1].log()) / 2).unsqueeze(-1)

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return self.exp(0.5 * randn((*shape, 1), generator, dtype, device))

    def section(self, coords: Tensor) -> Tensor:
        l1, l2 = self._log_axes(coords)
        s = (l1 - l2) / 2
        return _diag(s.exp(), (-s).exp())

    def orbit(self, coords: Tensor) -> Tensor:
        l1, l2 = self._log_axes(coords)
        return ((l1 + l2) / 2).unsqueeze(-1)

    def origin(self, orbits: Tensor) -> Tensor:
        e = orbits.exp()
        return torch.cat([e, e], -1)

    def distance(self, ua, qa, ub, qb) -> Tensor:
        return self.alpha * euclidean_distance(self.log(ua), self.log(ub)) + (1 - self.alpha) * euclidean_distance(qa, qb)
