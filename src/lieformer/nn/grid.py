"""Uniform grids over positions: which keys can lie within a given distance of each query.

Spaces whose distance bounds a Euclidean one (distance ≥ position_weight·‖p_a − p_b‖,
HomogeneousSpace.positions) let neighbour searches look only at nearby grid cells, O(L·ball)
instead of O(L²), with results identical to the brute-force search (nn.neighbourhood).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def grid_candidates(pq: Tensor, pk: Tensor, key_mask: Tensor, cell: float,
                    max_candidates: int | None = None) -> tuple[Tensor, Tensor] | None:
    """Keys in the 3^d grid cells (side `cell`) around each query: every key within `cell` of it.

    pq (B, M, d) query positions, pk (B, L, d) key positions, key_mask (B, L). Returns candidate
    indices (B, M, C) into the keys and their mask, C = 3^d × the fullest cell; None when the
    grid would not fit in int64 or C would exceed max_candidates (then a brute-force search is
    cheaper). Built with one sort and two searchsorted calls: O(L log L + M·C).
    """
    B, L, d = pk.shape
    inf = torch.tensor(float("inf"), dtype=pk.dtype, device=pk.device)
    lo = torch.where(key_mask.unsqueeze(-1), pk, inf).amin(1, keepdim=True)
    lo = torch.where(torch.isfinite(lo), lo, torch.zeros_like(lo))
    ck = torch.floor((pk - lo) / cell).long()
    ck = torch.where(key_mask.unsqueeze(-1), ck, torch.zeros_like(ck))
    extent = ck.amax((0, 1)) + 3  # cells −1 … max+1 after the shift by one
    total = int(torch.prod(extent.double()).item())
    if total * (B + 1) >= 2**62:
        return None
    stride = torch.ones(d, dtype=torch.long, device=pk.device)
    for i in range(d - 2, -1, -1):
        stride[i] = stride[i + 1] * extent[i + 1]
    row = torch.arange(B, device=pk.device).view(B, 1) * total
    keys = torch.where(key_mask, row + ((ck + 1) * stride).sum(-1), torch.full_like(row, -1))
    sorted_keys, order = torch.sort(keys.reshape(-1))
    offsets = torch.cartesian_prod(*[torch.tensor([-1, 0, 1], device=pk.device)] * d).view(-1, d)
    cq = torch.floor((pq - lo) / cell).long()
    cells = (cq.unsqueeze(2) + 1 + offsets).clamp(torch.zeros_like(extent), extent - 1)  # (B, M, 3^d, d)
    qkeys = row.unsqueeze(-1) + (cells * stride).sum(-1)
    start = torch.searchsorted(sorted_keys, qkeys)
    count = torch.searchsorted(sorted_keys, qkeys, right=True) - start
    C = max(int(count.max().item()), 1)
    if max_candidates is not None and C * offsets.shape[0] > max_candidates:
        return None
    slot = torch.arange(C, device=pk.device)
    valid = slot < count.unsqueeze(-1)
    flat = order[(start.unsqueeze(-1) + slot).clamp(max=B * L - 1)]
    local = flat - torch.arange(B, device=pk.device).view(B, 1, 1, 1) * L
    local = torch.where(valid, local, torch.zeros_like(local))
    return local.flatten(2), valid.flatten(2)


def knn_cell(positions: Tensor, mask: Tensor, C: int) -> float:
    """Grid cell side for a kNN search: a ball of that radius holds ~4C points at the densest
    set's mean density (bounding-box volume, each side at least 1e-3 of the largest)."""
    B, L, d = positions.shape
    big = torch.finfo(positions.dtype).max
    lo = torch.where(mask.unsqueeze(-1), positions, big).amin(1)
    hi = torch.where(mask.unsqueeze(-1), positions, -big).amax(1)
    side = (hi - lo).clamp_min(0)
    side = torch.maximum(side, 1e-3 * side.amax(-1, keepdim=True)).clamp_min(1e-12).double()
    density = mask.sum(-1).double() / side.prod(-1)
    unit_ball = math.pi ** (d / 2) / math.gamma(d / 2 + 1)
    return float((4 * C / (unit_ball * density.max())) ** (1 / d))
