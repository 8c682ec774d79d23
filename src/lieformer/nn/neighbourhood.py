"""Neighbourhoods of lifted points in the space's distance: balls (LieConv) and k-nearest
(the LieTransformer), with Monte Carlo subsampling.

Nothing here builds an all-pairs tensor of features: distances are computed one block of queries
at a time (memory B × block × L, block chosen to stay under a fixed element budget), and only the
indices of the K chosen neighbours survive. Choices are invariant: they depend on invariant
distances, on point indices and on counter-based noise (randomness.py), never on coordinates
directly, so a transformed input selects the same neighbours.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ..randomness import draw_seed, uniform
from ..spaces.base import HomogeneousSpace, Lifted, gather_points
from .grid import grid_candidates, knn_cell
from .native.knn import knn_select

#: largest B × block × L distance block held at once (floats), and most queries per block:
#: beyond BLOCK_ROWS points no B × L × L tensor exists at any time
BLOCK_ELEMENTS = 1 << 20
BLOCK_ROWS = 512


class Neighbourhood(NamedTuple):
    """K neighbours of M queries: idx (B, M, K) into the key set, mask (B, M, K) valid pairs,
    and fill, the mean fraction of valid keys inside the ball (a float, for the radius update)."""

    idx: Tensor
    mask: Tensor
    fill: float


def _blocks(B: int, M: int, L: int):
    step = max(1, min(BLOCK_ROWS, BLOCK_ELEMENTS // max(1, B * L)))
    for start in range(0, M, step):
        yield start, min(M, start + step)


def query_points(lifted: Lifted, query_idx: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(elements, orbits, mask, index) of the queries: all points when query_idx is None."""
    if query_idx is None:
        B, L = lifted.mask.shape
        idx = torch.arange(L, device=lifted.mask.device).expand(B, L)
        return lifted.elements, lifted.orbits, lifted.mask, idx
    return (
        gather_points(lifted.elements, query_idx),
        gather_points(lifted.orbits, query_idx),
        torch.gather(lifted.mask, 1, query_idx),
        query_idx,
    )


def _batch_index(B: int, device) -> Tensor:
    return torch.arange(B, device=device).view(B, 1, 1)


def _ball_on_candidates(space, lifted, uq, qq, qidx, cand, cmask, K, radius, seed):
    """ball_neighbourhood's selection restricted to candidate keys (B, M, C): identical result
    whenever the candidates contain the whole ball (same distances, same counter-based noise)."""
    B, M, C = cand.shape
    idx_out, mask_out, inside_counts = [], [], []
    for a, b in _blocks(B, M, C):
        ci, m = cand[:, a:b], b - a
        d = _gathered_distance(space, lifted, uq[:, a:b], qq[:, a:b], ci)
        inside = (d < radius) & cmask[:, a:b] & torch.gather(lifted.mask, 1, ci.flatten(1)).view(B, m, C)
        noise = uniform(seed, _batch_index(B, d.device), qidx[:, a:b, None], ci, dtype=d.dtype)
        top = torch.where(inside, noise, noise.new_tensor(-1.0)).topk(min(K, C), dim=-1)
        idx, keep = torch.gather(ci, -1, top.indices), top.values >= 0
        if C < K:  # the ball holds fewer than K points anywhere: pad with masked slots
            idx = torch.cat([idx, idx.new_zeros(B, m, K - C)], -1)
            keep = torch.cat([keep, keep.new_zeros(B, m, K - C)], -1)
        idx_out.append(idx)
        mask_out.append(keep)
        inside_counts.append(inside.sum(-1))
    return idx_out, mask_out, torch.cat(inside_counts, 1)


def ball_neighbourhood(
    space: HomogeneousSpace,
    lifted: Lifted,
    k: int,
    radius: float,
    query_idx: Tensor | None = None,
    generator: torch.Generator | None = None,
    use_grid: bool = True,
) -> Neighbourhood:
    """Up to k neighbours drawn uniformly at random from the ball d(u_i, u_j) < radius.

    LieConv's Monte Carlo neighbourhood: every in-ball point is equally likely to be kept,
    slots the ball cannot fill are masked. Returns idx (B, M, min(k, L)). Where the space bounds
    its distance below by a multiple of a Euclidean one (space.positions), a grid limits the
    distances computed to nearby points — O(L·ball) instead of O(L²), with the same result.
    """
    uq, qq, _, qidx = query_points(lifted, query_idx)
    B, M = qidx.shape
    L = lifted.mask.shape[1]
    K = min(k, L)
    seed = draw_seed(generator)
    weight = space.position_weight
    positions = space.positions(lifted.elements, lifted.orbits) if weight > 0 and use_grid else None
    if positions is not None:  # a point in the ball lies within radius/weight: only nearby cells
        found = grid_candidates(gather_points(positions, qidx), positions, lifted.mask, radius / weight, L // 2)
        if found is not None:
            idx_out, mask_out, inside = _ball_on_candidates(space, lifted, uq, qq, qidx, *found, K, radius, seed)
            return _finish(lifted, query_idx, idx_out, mask_out, inside)
    keys = torch.arange(L, device=qidx.device).view(1, 1, L)
    valid_keys = lifted.mask.unsqueeze(1)
    idx_out, mask_out, inside_counts = [], [], []
    for a, b in _blocks(B, M, L):
        d = space.distance(uq[:, a:b], qq[:, a:b], lifted.elements, lifted.orbits)
        inside = (d < radius) & valid_keys
        noise = uniform(seed, _batch_index(B, d.device), qidx[:, a:b, None], keys, dtype=d.dtype)
        score = torch.where(inside, noise, noise.new_tensor(-1.0))
        top = score.topk(K, dim=-1)
        idx_out.append(top.indices)
        mask_out.append(top.values >= 0)
        inside_counts.append(inside.sum(-1))
    return _finish(lifted, query_idx, idx_out, mask_out, torch.cat(inside_counts, 1))


def knn_neighbourhood(
    space: HomogeneousSpace,
    lifted: Lifted,
    k: int,
    query_idx: Tensor | None = None,
    candidates: int | None = None,
    generator: torch.Generator | None = None,
    tie_tolerance: float = 1e-5,
    use_grid: bool = True,
) -> Neighbourhood:
    """k neighbours: the `candidates` (default k) nearest, then a uniform random k of those.

    candidates = ⌊k / fill⌋ is the LieTransformer's neighbourhood. Distances are compared after
    rounding to tie_tolerance × the set's extent (the largest distance from its first valid point),
    and equal ones are ordered by counter-based noise, so exact ties (points on a grid) break the
    same way for a transformed input, whose distances differ from the original's in the last bits.
    Where the space bounds its distance below by a Euclidean one (space.positions), large sets are
    searched on a grid — O(L·candidates) instead of O(L²) — with the brute-force result: a query's
    answer is kept only when every point outside its cells is provably farther than its chosen
    ones; the rest retry with larger cells and finally by brute force.
    """
    uq, qq, qmask, qidx = query_points(lifted, query_idx)
    B, M = qidx.shape
    L = lifted.mask.shape[1]
    K = min(k, L)
    C = min(max(candidates or K, K), L)
    seed = draw_seed(generator)
    scale = _tie_scale(space, lifted, tie_tolerance)
    idx = lifted.mask.new_zeros(B, M, K, dtype=torch.long)
    mask = lifted.mask.new_zeros(B, M, K)
    pending = qmask.clone()  # padding queries keep index 0, masked
    weight = space.position_weight
    positions = space.positions(lifted.elements, lifted.orbits) if use_grid and weight > 0 and L >= GRID_MIN_POINTS else None
    if positions is not None:
        cell = knn_cell(positions, lifted.mask, C)
        for attempt in range(GRID_ATTEMPTS):
            pos, sel = _pending_positions(pending)
            sub = gather_points(qidx.unsqueeze(-1), pos).squeeze(-1)
            found = grid_candidates(gather_points(positions, sub), positions, lifted.mask, cell, L // 2)
            if found is None:
                break
            cand, cmask = found
            needed = []  # cells that would settle the failed queries: their C-th candidate bounds the true C-th
            for a, b in _blocks(B, pos.shape[1], cand.shape[-1]):
                ci = cand[:, a:b]
                d = _gathered_distance(space, lifted, gather_points(uq, pos[:, a:b]), gather_points(qq, pos[:, a:b]), ci)
                valid = cmask[:, a:b] & torch.gather(lifted.mask, 1, ci.flatten(1)).view_as(ci)
                near, keep, bucket = _knn_select(d, valid, scale, seed, sub[:, a:b, None], ci, C, K)
                # exact when every key outside the cells (Euclidean gap ≥ cell, so distance ≥
                # weight·cell) falls in a later bucket than the C-th nearest candidate
                reach = (bucket + 1) * scale[..., 0] / weight
                exact = sel[:, a:b] & (reach < cell * (1 - 1e-6))
                _put(idx, pos[:, a:b], exact, torch.gather(ci, -1, near))
                _put(mask, pos[:, a:b], exact, keep)
                _put(pending, pos[:, a:b], exact, torch.zeros_like(exact))
                needed.append(reach[sel[:, a:b] & ~exact])
            if not pending.any():
                return _finish(lifted, query_idx, [idx], [mask])
            needed = torch.cat(needed)
            finite = needed[torch.isfinite(needed)]
            # next: a cell that settles most of the rest (all of it on the last attempt), or twice the size
            grown = float(finite.quantile(0.9 if attempt + 2 < GRID_ATTEMPTS else 1.0)) * 1.01 if len(finite) else 0.0
            cell = max(grown, 2 * cell) if len(finite) < len(needed) else max(grown, cell * 1.01)
    pos, sel = _pending_positions(pending)
    keys = torch.arange(L, device=qidx.device).view(1, 1, L)
    for a, b in _blocks(B, pos.shape[1], L):
        p = pos[:, a:b]
        d = space.distance(gather_points(uq, p), gather_points(qq, p), lifted.elements, lifted.orbits)
        valid = lifted.mask.unsqueeze(1).expand_as(d)
        near, keep, _ = _knn_select(d, valid, scale, seed, gather_points(qidx.unsqueeze(-1), p), keys, C, K)
        _put(idx, p, sel[:, a:b], near)
        _put(mask, p, sel[:, a:b], keep)
    return _finish(lifted, query_idx, [idx], [mask])


#: the grid kNN search is used from this many (lifted) points on, with this many cell sizes
GRID_MIN_POINTS = 2048
GRID_ATTEMPTS = 3


def _tie_scale(space: HomogeneousSpace, lifted: Lifted, tie_tolerance: float) -> Tensor:
    """tie_tolerance × max_j d(u_r, u_j), r the first valid point of each set: (B, 1, 1) float64.
    An invariant length of the set's extent (within a factor 2 of its diameter), O(L) per set."""
    B = lifted.mask.shape[0]
    rows = torch.arange(B, device=lifted.mask.device)
    ref = lifted.mask.to(torch.uint8).argmax(-1)
    d = space.distance(lifted.elements[rows, ref].unsqueeze(1), lifted.orbits[rows, ref].unsqueeze(1),
                       lifted.elements, lifted.orbits).double()
    extent = torch.where(lifted.mask.unsqueeze(1), d, 0.0).amax(-1, keepdim=True)
    return extent.clamp_min(1e-30) * tie_tolerance


def _knn_select(d: Tensor, valid: Tensor, scale: Tensor, seed: int, query: Tensor, keys: Tensor, C: int, K: int):
    """Of X keys per query (distances d (B, m, X), valid (B, m, X), key indices keys broadcastable
    to it, query indices (B, m, 1)): the C nearest — distances rounded to `scale`, ties broken by
    counter noise — then a uniform K of those. Returns positions (B, m, K) into X, their validity,
    and the rounded distance bucket of the C-th nearest (inf when fewer than C keys are valid)."""
    B, m, X = d.shape
    native = knn_select(d.detach(), valid, scale, seed, query, keys, C, K)
    if native is not None:  # the same selection in C++ (nn/native/knn.cpp), row by row
        return native
    bucket = torch.floor(d.double() / scale)
    noise = uniform(seed, _batch_index(B, d.device), query, keys, dtype=torch.float64)
    rank = torch.where(valid, -(bucket + 0.5 * noise), -torch.inf)
    # stable sorts: equal ranks (keys outside the set, or a 24-bit noise collision) in key order
    top = rank.sort(dim=-1, descending=True, stable=True)
    near, values = top.indices[..., :min(C, X)], top.values[..., :min(C, X)]
    last = torch.where(torch.isfinite(values[..., -1]), torch.gather(bucket, -1, near[..., -1:])[..., 0], torch.inf)
    if X < C:
        last = torch.full_like(last, torch.inf)
    if near.shape[-1] > K:
        pick = torch.gather(valid, -1, near).double()
        # the second draw only for the C candidates (the same numbers as drawn for every key)
        second = uniform(seed + 1, _batch_index(B, d.device), query, torch.gather(keys.expand(B, m, X), -1, near),
                         dtype=torch.float64)
        near = torch.gather(near, -1, (pick * 2 + second).sort(dim=-1, descending=True, stable=True).indices[..., :K])
    else:
        near = near[..., :K]
    return near, torch.gather(valid, -1, near), last


def _gathered_distance(space: HomogeneousSpace, lifted: Lifted, uq: Tensor, qq: Tensor, keys: Tensor) -> Tensor:
    """Distances of queries (B, m) to their own keys (B, m, X) → (B, m, X)."""
    B, m, X = keys.shape
    rep, q = lifted.elements.shape[-1], lifted.orbits.shape[-1]
    uk = gather_points(lifted.elements, keys).reshape(B * m, X, rep, rep)
    qk = gather_points(lifted.orbits, keys).reshape(B * m, X, q)
    return space.distance(uq.reshape(B * m, 1, rep, rep), qq.reshape(B * m, 1, q), uk, qk).view(B, m, X)


def _pending_positions(pending: Tensor) -> tuple[Tensor, Tensor]:
    """Positions (B, F) of the True entries of pending (B, M), distinct in each row (rows with
    fewer are filled with other positions), and which of them are pending: F = the most in a row."""
    F = max(int(pending.sum(-1).max().item()), 1)
    order = torch.sort(pending.to(torch.uint8), dim=-1, descending=True, stable=True).indices[:, :F]
    return order, torch.gather(pending, 1, order)


def _put(target: Tensor, pos: Tensor, where: Tensor, new: Tensor) -> None:
    """target[b, pos[b, f]] = new[b, f] where where[b, f] (target (B, M, ...), pos (B, F))."""
    index = pos.view(*pos.shape, *[1] * (target.dim() - 2)).expand(*pos.shape, *target.shape[2:])
    old = torch.gather(target, 1, index)
    w = where.view(*where.shape, *[1] * (target.dim() - 2))
    target.scatter_(1, index, torch.where(w, new, old))


def _finish(lifted, query_idx, idx_out, mask_out, inside_counts=None) -> Neighbourhood:
    """Concatenate the blocks; fill = mean over valid queries of (points in ball / valid points),
    the ball uncapped by k (for kNN: the kept neighbours)."""
    _, _, qmask, _ = query_points(lifted, query_idx)
    idx = torch.cat(idx_out, 1)
    mask = torch.cat(mask_out, 1) & qmask.unsqueeze(-1)
    n_valid = lifted.mask.sum(-1, keepdim=True).clamp_min(1)
    per_query = (mask.sum(-1) if inside_counts is None else inside_counts) / n_valid
    fill = (per_query * qmask).sum() / qmask.sum().clamp_min(1)
    return Neighbourhood(idx, mask, float(fill))


