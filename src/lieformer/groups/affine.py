"""Pure functions on homogeneous (d+1)×(d+1) matrices [[A, t], [0, 1]] of affine groups."""

from __future__ import annotations

import torch
from torch import Tensor


def homogeneous(linear: Tensor, translation: Tensor) -> Tensor:
    """[[A, t], [0, 1]] (..., d+1, d+1) from A (..., d, d) and t (..., d)."""
    d = translation.shape[-1]
    top = torch.cat([linear, translation.unsqueeze(-1)], dim=-1)
    bottom = torch.zeros(*top.shape[:-2], 1, d + 1, dtype=top.dtype, device=top.device)
    bottom[..., 0, d] = 1
    return torch.cat([top, bottom], dim=-2)


def split(g: Tensor) -> tuple[Tensor, Tensor]:
    """(A (..., d, d), t (..., d)) of a homogeneous matrix."""
    d = g.shape[-1] - 1
    return g[..., :d, :d], g[..., :d, d]


def affine_act(g: Tensor, coords: Tensor) -> Tensor:
    """g·x = A x + t for coords (B, N, d) and g (d+1, d+1), (B, d+1, d+1) or (B, N, d+1, d+1)."""
    A, t = split(g.unsqueeze(1) if g.dim() == 3 else g)
    return (A @ coords.unsqueeze(-1)).squeeze(-1) + t


def orthogonal_affine_inv(g: Tensor) -> Tensor:
    """[[R, t], [0, 1]]⁻¹ = [[Rᵀ, −Rᵀt], [0, 1]] for orthogonal R (exact, no solve)."""
    R, t = split(g)
    Rt = R.transpose(-1, -2)
    return homogeneous(Rt, -(Rt @ t.unsqueeze(-1)).squeeze(-1))


def translation(t: Tensor) -> Tensor:
    """T(t) = [[I, t], [0, 1]] for t (..., d)."""
    d = t.shape[-1]
    eye = torch.eye(d, dtype=t.dtype, device=t.device).expand(*t.shape[:-1], d, d)
    return homogeneous(eye, t)
