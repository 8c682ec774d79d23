"""R^n ⋊ K with K a rotation group: what SE(2) and SE(3) share (homogeneous (n+1)×(n+1)).

The rotation part K is a group law with Haar draws from uniforms (haar_from_uniform), the angle
between rotations (relative_angle, all pairs of two sets without a per-pair matrix) and a
continuous embedding split into first- and second-order parts (embedding_parts).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .affine import homogeneous, orthogonal_affine_inv, split
from .base import LieGroup, randn


class RotationGroup(LieGroup):
    """SO(n) as n×n matrices: g⁻¹ = gᵀ, embed = the concatenated embedding_parts. Subclasses bind
    the functions rigid motions and their spaces use: haar_from_uniform (u (..., haar_uniforms)
    → Haar rotations), relative_angle (angles of R_aᵀR_b (B, M, N) for two sets of rotations) and
    embedding_parts (first- and second-order parts of a continuous embedding)."""

    haar_uniforms: int
    haar_from_uniform: Callable[[Tensor], Tensor]
    relative_angle: Callable[[Tensor, Tensor], Tensor]
    embedding_parts: Callable[[Tensor], tuple[Tensor, Tensor]]

    def inv(self, g: Tensor) -> Tensor:
        return g.transpose(-1, -2)

    def embed(self, g: Tensor) -> Tensor:
        return torch.cat(self.embedding_parts(g), -1)


class RigidMotions(LieGroup):
    """x ↦ R x + t with R in `rotations`; coefficients (rotation part, translation part).

    Subclasses set lie_dim, rep_dim, `rotations` and implement exp and log. sample: a Haar
    rotation and t ~ N(0, I). embed: (first-order rotation part, t, second-order rotation part):
    continuous where the log jumps (rotations by π), the log to first order at the identity.
    """

    rotations: RotationGroup

    @property
    def n(self) -> int:
        return self.rep_dim - 1

    @property
    def embed_dim(self) -> int:
        return self.rotations.embed_dim + self.n

    def embed(self, g: Tensor) -> Tensor:
        R, t = split(g)
        first, second = self.rotations.embedding_parts(R)
        return torch.cat([first, t, second], -1)

    def inv(self, g: Tensor) -> Tensor:
        return orthogonal_affine_inv(g)

    def sample(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        R = self.rotations.sample(shape, generator, dtype, device)
        return homogeneous(R, randn((*shape, self.n), generator, dtype, device))

    def rotation_elements(self, R: Tensor) -> Tensor:
        """[[R, 0], [0, 1]] (..., n+1, n+1) for rotations R (..., n, n)."""
        return homogeneous(R, torch.zeros(*R.shape[:-1], dtype=R.dtype, device=R.device))
