"""The Lie-group interface: the group law alone (DESIGN.md §3).

A group here is its matrix representation and its Lie algebra: exp, log, a continuous embedding,
inverse, product and random elements. What a group acts on — points of R^d, of a sphere, rays —
is a homogeneous space (lieformer.spaces), which holds the action, the section, orbit ids, the
stabilizer and the lift. Every group has a default space (R^d, or the part of it the group acts
on); `group.space` is that space, and the space methods called on a group (`SE2().lift(...)`,
`.section`, `.act`, …) are the default space's.

Conventions (all tensors plain torch tensors):
- group elements are matrices (..., rep_dim, rep_dim); affine groups use homogeneous matrices;
- Lie algebra elements are coefficient vectors (..., lie_dim) in the basis documented per group.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import Tensor


class LieGroup(ABC):
    """A matrix Lie group: exp, log, embed, inv, mul, identity, sample.

    alpha ∈ [0, 1] weighs the group part against the orbit part of the distances its spaces
    compute between lifted points (LieConv's α). Subclasses set lie_dim and rep_dim and
    implement exp, log and sample.
    """

    lie_dim: int  # dimension of the Lie algebra
    rep_dim: int  # size of the matrix representation

    def __init__(self, alpha: float = 0.2):
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"{type(self).__name__}: alpha must lie in [0, 1], got {alpha}")
        self.alpha = float(alpha)

    # ------------------------------------------------------------------ identity and display
    def _init_args(self) -> dict:
        return {"alpha": self.alpha}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._init_args().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self._init_args() == other._init_args()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self._init_args().items()))))

    # ------------------------------------------------------------------ the default space
    @property
    def space(self):
        """The group's default homogeneous space (lieformer.spaces.default_space), built once."""
        if "_space" not in self.__dict__:
            from ..spaces.registry import default_space  # spaces build on groups, not the reverse

            self.__dict__["_space"] = default_space(self)
        return self.__dict__["_space"]

    def __getattr__(self, name: str):
        # only reached for names the group does not define: the default space's API
        if name.startswith("__") or name in ("_space", "alpha"):
            raise AttributeError(name)
        from ..spaces.base import HomogeneousSpace

        if hasattr(HomogeneousSpace, name) or name in HomogeneousSpace.__annotations__:
            return getattr(self.space, name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    # ------------------------------------------------------------------ group structure
    @property
    def embed_dim(self) -> int:
        """Width of embed(g): lie_dim where log is continuous on the whole group."""
        return self.lie_dim

    @abstractmethod
    def exp(self, a: Tensor) -> Tensor:
        """Lie algebra coefficients (..., lie_dim) → group elements (..., rep, rep)."""

    @abstractmethod
    def log(self, g: Tensor) -> Tensor:
        """Group elements (..., rep, rep) → Lie algebra coefficients (..., lie_dim)."""

    def embed(self, g: Tensor) -> Tensor:
        """A continuous, injective map of group elements (..., rep, rep) → (..., embed_dim) whose
        first lie_dim entries equal log(g) to first order at the identity (the rest are of second
        order). log itself where it is continuous (vector groups); groups with rotations, whose
        log jumps at angle π (θ = ±π), override it."""
        return self.log(g)

    def inv(self, g: Tensor) -> Tensor:
        """g⁻¹ for (..., rep, rep)."""
        return torch.linalg.inv(g)

    def mul(self, g: Tensor, h: Tensor) -> Tensor:
        """g·h, broadcasting over leading dimensions."""
        return g @ h

    def relative(self, ui: Tensor, uj: Tensor) -> Tensor:
        """u_i⁻¹·u_j, broadcasting."""
        return self.mul(self.inv(ui), uj)

    def identity(self, shape=(), dtype=None, device=None) -> Tensor:
        """The identity, (*shape, rep, rep)."""
        eye = torch.eye(self.rep_dim, dtype=dtype or torch.get_default_dtype(), device=device)
        return eye.expand(*shape, self.rep_dim, self.rep_dim).clone()

    @abstractmethod
    def sample(self, shape=(), generator: torch.Generator | None = None, dtype=None, device=None) -> Tensor:
        """Random elements (*shape, rep, rep): Haar for compact groups, a documented
        representative distribution (Gaussian translations, log-normal scales) otherwise."""


def per_point(g: Tensor) -> Tensor:
    """Broadcast a (B, rep, rep) batch of elements over the points axis; leave (rep, rep) and
    (B, N, rep, rep) as they are."""
    return g.unsqueeze(1) if g.dim() == 3 else g


def euclidean_distance(xa: Tensor, xb: Tensor) -> Tensor:
    """‖x_a − x_b‖ for (B, M, d) and (B, N, d) → (B, M, N), exact (no Gram-matrix cancellation)."""
    return torch.cdist(xa, xb, compute_mode="donot_use_mm_for_euclid_dist")


def randn(shape, generator, dtype, device) -> Tensor:
    return torch.randn(*shape, generator=generator, dtype=dtype or torch.get_default_dtype(), device=device)


def rand(shape, generator, dtype, device) -> Tensor:
    return torch.rand(*shape, generator=generator, dtype=dtype or torch.get_default_dtype(), device=device)


def rotation_2d(theta: Tensor) -> Tensor:
    """R(θ) (..., 2, 2) for angles (...)."""
    c, s = torch.cos(theta), torch.sin(theta)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def uniform_angle(shape, generator, dtype, device) -> Tensor:
    """θ ~ U[−π, π)."""
    return (2 * rand(shape, generator, dtype, device) - 1) * math.pi
