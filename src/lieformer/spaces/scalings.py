"""The punctured plane R² \\ {0} under Rx (scalings) and RxSO2 (rotation-scalings), and the open
positive quadrant (0, ∞)² under RxSQ (axis scalings) and SQ (squeezes). Stabilizers are trivial
(lifts are deterministic); points outside the space are refused. The orbit-identifier
conventions are LieConv's except for Rx (see RxSpace).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..groups.base import euclidean_distance
from ..groups.scalings import diagonal, log_radius
from ..groups.so2 import relative_angle
from .base import HomogeneousSpace


def _safe_norm(coords: Tensor) -> Tensor:
    """‖x‖, and 1 at x = 0 (sqrt never sees 0, so values and gradients stay finite there)."""
    r2 = (coords * coords).sum(-1)
    return torch.where(r2 > 0, r2, torch.ones_like(r2)).sqrt()


class _PuncturedPlane(HomogeneousSpace):
    space_dim = 2
    trivial_stabilizer = True
    domain_description = "R² \\ {0}"

    def outside_domain(self, coords: Tensor) -> Tensor:
        return (coords == 0).all(-1)


class RxSO2Space(_PuncturedPlane):
    """R² \\ {0} under x ↦ r R(θ) x. Transitive: o = e₁, trivial stabilizer,
    s(x) = [[x, −y], [y, x]] (the identity at x = 0, padding only). Log-polar convolution.

    distance: α|Δθ| + (1−α)|Δ log r| (LieConv).
    """

    q_dim = 0

    def section(self, coords: Tensor) -> Tensor:
        zero = (coords == 0).all(-1)
        x = torch.where(zero, torch.ones_like(coords[..., 0]), coords[..., 0])
        y = torch.where(zero, torch.zeros_like(coords[..., 1]), coords[..., 1])
        return torch.stack([torch.stack([x, -y], -1), torch.stack([y, x], -1)], -2)

    def origin(self, orbits: Tensor) -> Tensor:
        o = orbits.new_zeros(*orbits.shape[:-1], 2)
        o[..., 0] = 1
        return o

    def distance(self, ua, qa, ub, qb) -> Tensor:
        scale = (log_radius(ua).unsqueeze(-1) - log_radius(ub).unsqueeze(-2)).abs()
        # atan2 ignores the common positive factor r_a·r_b, so the unnormalised matrices will do
        return self.alpha * relative_angle(ua, ub) + (1 - self.alpha) * scale


class RxSpace(_PuncturedPlane):
    """R² \\ {0} under x ↦ r x. Orbits are open rays, identified by the unit direction
    q = x/‖x‖ (q_dim 2), o_q = q; trivial stabilizer; s(x) = ‖x‖ I.

    Deliberate difference: LieConv identifies rays by the angle θ, which jumps at ±π; the unit
    direction is continuous. distance: α|Δ log r| + (1−α)‖Δq‖.
    """

    q_dim = 2

    def section(self, coords: Tensor) -> Tensor:
        r = _safe_norm(coords)
        return diagonal(r, r)

    def orbit(self, coords: Tensor) -> Tensor:
        return coords / _safe_norm(coords).unsqueeze(-1)

    def origin(self, orbits: Tensor) -> Tensor:
        return orbits

    def distance(self, ua, qa, ub, qb) -> Tensor:
        la, lb = self.group.log(ua), self.group.log(ub)
        return self.alpha * euclidean_distance(la, lb) + (1 - self.alpha) * euclidean_distance(qa, qb)


class _Quadrant(HomogeneousSpace):
    space_dim = 2
    trivial_stabilizer = True
    domain_description = "the open positive quadrant (0, ∞)² (every coordinate > 0)"

    def outside_domain(self, coords: Tensor) -> Tensor:
        return (coords <= 0).any(-1)

    def sample_points(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        """Log-normal coordinates: points of the open quadrant."""
        return super().sample_points(shape, generator, dtype, device).exp()

    @staticmethod
    def _log_axes(coords: Tensor) -> tuple[Tensor, Tensor]:
        """log x₁, log x₂, with padding zeros (validated away) mapped to 0."""
        safe = torch.where(coords > 0, coords, torch.ones_like(coords))
        return safe[..., 0].log(), safe[..., 1].log()


class RxSQSpace(_Quadrant):
    """(0, ∞)² under axis scalings. Transitive: o = (1, 1), trivial stabilizer,
    s(x) = diag(x₁, x₂) (log-hyperbolic convolution). distance: α|Δs| + (1−α)|Δr| (LieConv)."""

    q_dim = 0

    def section(self, coords: Tensor) -> Tensor:
        safe = torch.where(coords > 0, coords, torch.ones_like(coords))  # padding zeros → identity
        return diagonal(safe[..., 0], safe[..., 1])

    def origin(self, orbits: Tensor) -> Tensor:
        return orbits.new_ones(*orbits.shape[:-1], 2)

    def distance(self, ua, qa, ub, qb) -> Tensor:
        a, b = self.group.log(ua), self.group.log(ub)
        dr = (a[..., 0].unsqueeze(-1) - b[..., 0].unsqueeze(-2)).abs()
        ds = (a[..., 1].unsqueeze(-1) - b[..., 1].unsqueeze(-2)).abs()
        return self.alpha * ds + (1 - self.alpha) * dr


class SQSpace(_Quadrant):
    """(0, ∞)² under squeezes diag(e^s, e^{−s}). Orbits are hyperbolas x₁x₂ = const, identified by
    q = ½ log(x₁x₂) (the RxSQ coordinate that SQ drops), o_q = (e^q, e^q), trivial stabilizer,
    s(x) = diag(√(x₁/x₂), √(x₂/x₁)). distance: α|Δs| + (1−α)|Δq|."""

    q_dim = 1

    def section(self, coords: Tensor) -> Tensor:
        l1, l2 = self._log_axes(coords)
        s = (l1 - l2) / 2
        return diagonal(s.exp(), (-s).exp())

    def orbit(self, coords: Tensor) -> Tensor:
        l1, l2 = self._log_axes(coords)
        return ((l1 + l2) / 2).unsqueeze(-1)

    def origin(self, orbits: Tensor) -> Tensor:
        e = orbits.exp()
        return torch.cat([e, e], -1)

    def distance(self, ua, qa, ub, qb) -> Tensor:
        G = self.group
        return self.alpha * euclidean_distance(G.log(ua), G.log(ub)) + (1 - self.alpha) * euclidean_distance(qa, qb)
