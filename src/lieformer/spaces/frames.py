"""Equivariant frames of point sets, for frame lifts (lift_frame="centroid").

A frame lift reads each point's stabilizer element off an equivariant vector of its set instead
of drawing it: the vector rotates with the set, so the lift does too and a model becomes exactly
invariant without compensation. Near the centroid the direction to it vanishes, so a cubic
moment of the set about the point blends in (continuously); where both vanish the set is
symmetric about the point, no equivariant frame exists and the point is refused.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from .base import first_flagged

GOLDEN_ANGLE = math.pi * (3 - math.sqrt(5))  # 2.39996…: k·γ mod 2π stays > 0.04 from π for k < 20

#: frame vectors shorter than FRAME_BLEND × the set's RMS radius blend in the secondary vector
FRAME_BLEND = 0.1
#: a point whose frame vector is shorter than FRAME_TOLERANCE × the RMS radius has no stable frame
FRAME_TOLERANCE = 1e-3


class FrameVectors(NamedTuple):
    """Equivariant vectors of each point of a set (all rotate with the set and are unchanged by
    its translations): primary = x̄ − x_n (towards the centroid); secondary =
    (1/Σ‖y‖²)·Σ_j (y_j − y_n)‖y_j − y_n‖² with y = x − x̄ (a cubic moment about the point,
    computed from the set's moments in O(N)); scale = the RMS radius √(Σ‖y‖²/n) (B, 1, 1);
    second = Σ_j y_j y_jᵀ / Σ‖y‖² (B, d, d)."""

    primary: Tensor
    secondary: Tensor
    scale: Tensor
    second: Tensor


def frame_vectors(coords: Tensor, mask: Tensor) -> FrameVectors:
    """FrameVectors of coords (B, N, d) over the valid points (mask (B, N)); padding gets zeros."""
    m = mask.unsqueeze(-1).to(coords.dtype)
    n = m.sum(1, keepdim=True).clamp_min(1)
    centroid = (coords * m).sum(1, keepdim=True) / n
    y = (coords - centroid) * m
    r2 = (y * y).sum(-1, keepdim=True)
    s2 = r2.sum(1, keepdim=True)  # (B, 1, 1)
    safe = torch.where(s2 > 0, s2, torch.ones_like(s2))
    S2 = y.transpose(1, 2) @ y  # (B, d, d)
    S3 = (y * r2).sum(1, keepdim=True)  # (B, 1, d)
    # Σ_j (y_j − y)‖y_j − y‖² = S3 − 2 S2 y − s2 y − n y‖y‖² (Σ_j y_j = 0)
    secondary = (S3 - 2 * y @ S2 - s2 * y - n * y * r2) / safe
    scale = torch.where(s2 > 0, safe / n, torch.zeros_like(s2)).sqrt()
    return FrameVectors((-y) * m, secondary * m, scale, S2 / safe)


def blend_frame(primary: Tensor, secondary: Tensor, scale: Tensor) -> Tensor:
    """f = a + β(‖a‖ / (FRAME_BLEND·scale))·b, β(t) = (1 − t²)² on [0, 1), 0 beyond: a where ‖a‖
    is not small, the secondary vector b where a vanishes (a point at the centroid), and a
    continuous (C¹) vector field in between, so its direction is continuous wherever f ≠ 0."""
    reach = FRAME_BLEND * scale
    t2 = (primary * primary).sum(-1, keepdim=True) / torch.where(reach > 0, reach, torch.ones_like(reach)) ** 2
    beta = torch.where(t2 < 1, (1 - t2.clamp(max=1)) ** 2, torch.zeros_like(t2))
    return primary + beta * secondary


def check_frames(space, frame: Tensor, scale: Tensor, mask: Tensor) -> None:
    """Refuse (ValueError naming the point) where a valid point's frame vector (B, N, d) is
    shorter than FRAME_TOLERANCE × scale: the set is (nearly) symmetric about that point, so no
    equivariant frame exists. Sets whose points all coincide (scale 0) are accepted: every
    relative element is then independent of the common frame."""
    bad = mask & (scale[..., 0] > 0) & (frame.norm(dim=-1) < FRAME_TOLERANCE * scale[..., 0])
    if (first := first_flagged(bad)) is not None:
        b, n = first
        raise ValueError(
            f"{space!r} lift_frame='centroid': point {n} of set {b} has no stable equivariant frame (its frame "
            f"vector is {float(frame[b, n].norm() / scale[b, 0, 0]):.1e} × the set's RMS radius, below "
            f"{FRAME_TOLERANCE:g}): the set is (nearly) symmetric about it, e.g. the centre of a regular polygon. "
            f"Use lift_frame='random' for such inputs."
        )


def planar_angle(v: Tensor) -> Tensor:
    """atan2(v_y, v_x) of (..., ≥2) vectors, 0 with a zero gradient where v_x = v_y = 0."""
    zero = (v[..., 0] == 0) & (v[..., 1] == 0)
    return torch.atan2(torch.where(zero, torch.zeros_like(v[..., 1]), v[..., 1]),
                       torch.where(zero, torch.ones_like(v[..., 0]), v[..., 0]))


def plane_frame_angles(coords: Tensor, mask: Tensor, space) -> Tensor:
    """Frame angle φ_n (B, N) of each point of planar sets: the direction of the frame vector
    f_n = blend_frame(x̄ − x_n, cubic moment); refuses points without a stable frame."""
    fv = frame_vectors(coords, mask)
    f = blend_frame(fv.primary, fv.secondary, fv.scale)
    check_frames(space, f, fv.scale, mask)
    return planar_angle(f)


def golden_spread(phi: Tensor, n_samples: int) -> Tensor:
    """Angles φ + kγ (..., S) for k = 0…S−1, γ the golden angle."""
    k = torch.arange(n_samples, dtype=phi.dtype, device=phi.device)
    return phi.unsqueeze(-1) + GOLDEN_ANGLE * k
