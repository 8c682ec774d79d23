"""Scaling groups: RxSO2 (rotation-scalings) and Rx (scalings), whose default space is the
punctured plane R² \\ {0}, and RxSQ (independent axis scalings) and SQ (squeezes), whose default
space is the open positive quadrant (0, ∞)². The group laws.

All four are abelian with diagonalisable closed-form exp/log, so no series are needed.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import LieGroup, randn, uniform_angle
from .registry import register
from .so2 import angle_of


def scaled_rotation(log_r: Tensor, theta: Tensor) -> Tensor:
    """r·R(θ) = [[a, −b], [b, a]] (..., 2, 2)."""
    r = log_r.exp()
    a, b = r * torch.cos(theta), r * torch.sin(theta)
    return torch.stack([torch.stack([a, -b], -1), torch.stack([b, a], -1)], -2)


def log_radius(g: Tensor) -> Tensor:
    """log r of r·R(θ) (..., 2, 2) = ½ log(det)."""
    return 0.5 * torch.log(g[..., 0, 0] ** 2 + g[..., 1, 0] ** 2)


def diagonal(a: Tensor, b: Tensor) -> Tensor:
    zero = torch.zeros_like(a)
    return torch.stack([torch.stack([a, zero], -1), torch.stack([zero, b], -1)], -2)


@register
class RxSO2(LieGroup):
    """Rotation-scalings r·R(θ), 2×2; coefficients (log r, θ). sample: log r ~ N(0, 0.5²), θ
    uniform. embed: (log r, sin θ, 1 − cos θ), continuous where θ jumps (±π)."""

    lie_dim, rep_dim = 2, 2
    embed_dim = 3

    def exp(self, a: Tensor) -> Tensor:
        return scaled_rotation(a[..., 0], a[..., 1])

    def log(self, g: Tensor) -> Tensor:
        return torch.stack([log_radius(g), angle_of(g)], -1)

    def embed(self, g: Tensor) -> Tensor:
        log_r = log_radius(g)
        unit = g / log_r.exp()[..., None, None]
        return torch.stack([log_r, unit[..., 1, 0], 1 - unit[..., 0, 0]], -1)

    def inv(self, g: Tensor) -> Tensor:
        return g.transpose(-1, -2) / (g[..., 0, 0] ** 2 + g[..., 1, 0] ** 2)[..., None, None]

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return scaled_rotation(0.5 * randn(shape, generator, dtype, device), uniform_angle(shape, generator, dtype, device))


@register
class Rx(LieGroup):
    """Scalings r·I, 2×2; coefficient log r. sample: log r ~ N(0, 0.5²)."""

    lie_dim, rep_dim = 1, 2

    def exp(self, a: Tensor) -> Tensor:
        r = a[..., 0].exp()
        return diagonal(r, r)

    def log(self, g: Tensor) -> Tensor:
        return torch.log(g[..., 0, 0]).unsqueeze(-1)

    def inv(self, g: Tensor) -> Tensor:
        return diagonal(1 / g[..., 0, 0], 1 / g[..., 1, 1])

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return self.exp(0.5 * randn((*shape, 1), generator, dtype, device))


class _Diagonal(LieGroup):
    rep_dim = 2

    def inv(self, g: Tensor) -> Tensor:
        return diagonal(1 / g[..., 0, 0], 1 / g[..., 1, 1])


@register
class RxSQ(_Diagonal):
    """Axis scalings diag(e^{r+s}, e^{r−s}); coefficients (r, s) = (log-scale, squeeze).
    sample: r, s ~ N(0, 0.5²)."""

    lie_dim = 2

    def exp(self, a: Tensor) -> Tensor:
        r, s = a[..., 0], a[..., 1]
        return diagonal((r + s).exp(), (r - s).exp())

    def log(self, g: Tensor) -> Tensor:
        l1, l2 = g[..., 0, 0].log(), g[..., 1, 1].log()
        return torch.stack([(l1 + l2) / 2, (l1 - l2) / 2], -1)

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return self.exp(0.5 * randn((*shape, 2), generator, dtype, device))


@register
class SQ(_Diagonal):
    """Squeezes diag(e^s, e^{−s}); coefficient s. sample: s ~ N(0, 0.5²)."""

    lie_dim = 1

    def exp(self, a: Tensor) -> Tensor:
        s = a[..., 0]
        return diagonal(s.exp(), (-s).exp())

    def log(self, g: Tensor) -> Tensor:
        return ((g[..., 0, 0].log() - g[..., 1, 1].log()) / 2).unsqueeze(-1)

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return self.exp(0.5 * randn((*shape, 1), generator, dtype, device))
