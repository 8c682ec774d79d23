"""Farthest-point subsampling (FPS) of lifted points in the space's distance, and the prefix
shortcut for sets that are FPS results already (LieResNet's later layers)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..randomness import draw_seed, uniform
from ..spaces.base import HomogeneousSpace, Lifted


def subsample_counts(mask: Tensor, fraction: float) -> Tensor:
    """Points kept per row: round(fraction · valid points), at least 1 where any is valid (B,)."""
    n = mask.sum(-1)
    return torch.where(n > 0, torch.round(n * fraction).clamp_min(1), n).long()


def farthest_point_prefix(mask: Tensor, fraction: float) -> tuple[Tensor, Tensor]:
    """FPS of a set that is itself an FPS result in greedy order: its first round(fraction · n_b)
    points, (idx (B, M), mask (B, M)) as farthest_point_subsample returns them. No distances.

    Exact because greedy FPS nests: started from the same point, FPS on the first n points of a
    greedy sequence S picks S's next point at every step (that point was the farthest from the
    chosen ones over a superset, and it lies in the subset), so it returns S's prefix. LieResNet
    uses it after its first subsampling layer: one FPS per forward instead of one per layer.
    Needs each row's valid points first (mask[b, :n_b] True), as an FPS result's slot mask is.
    """
    B, L = mask.shape
    counts = subsample_counts(mask, fraction)
    if bool((mask.sum(-1, keepdim=True) > torch.arange(L, device=mask.device)).ne(mask).any()):
        raise ValueError("farthest_point_prefix: each row's valid points must come first (an FPS result)")
    slots = torch.arange(int(counts.max().item()) if B else 0, device=mask.device)[None]
    slot_mask = slots < counts[:, None]
    return torch.where(slot_mask, slots, 0), slot_mask


def farthest_point_subsample(
    space: HomogeneousSpace,
    lifted: Lifted,
    fraction: float,
    generator: torch.Generator | None = None,
    tie_tolerance: float = 1e-5,
) -> tuple[Tensor, Tensor]:
    """Farthest-point subsampling in the space's distance: (idx (B, M), mask (B, M)).

    Row b keeps m_b = round(fraction · its valid points) (M = max m_b; slots past m_b are masked
    and repeat the first choice). The start is the valid point of largest counter-based noise, so
    padding and transformed inputs give the same choice. Each step is one vectorised distance
    from the newest point to all L points (O(M·L) work, O(L) memory).
    """
    B, L = lifted.mask.shape
    counts = subsample_counts(lifted.mask, fraction)
    M = int(counts.max().item()) if B else 0
    device = lifted.mask.device
    rows = torch.arange(B, device=device)
    seed = draw_seed(generator)
    start_score = uniform(seed, rows[:, None], torch.arange(L, device=device)[None], dtype=torch.float64)
    current = torch.where(lifted.mask, start_score, -1.0).argmax(-1)
    nearest = torch.full((B, L), torch.inf, dtype=torch.float64, device=device)  # distance to the chosen set
    # exact ties (grids, symmetric lifts) differ in the last bits after a transformation: distances
    # are compared after rounding, then ordered by counter-based noise (the same for both inputs);
    # -1e300 marks chosen points (picked again only once a row has no other), -inf padding
    order = torch.where(lifted.mask, 0.5 * uniform(seed + 1, rows[:, None], torch.arange(L, device=device)[None],
                                                   dtype=torch.float64), -torch.inf)
    chosen = torch.empty(B, M, dtype=torch.long, device=device)
    scale = None
    for i in range(M):  # greedy: each step is one vectorised distance, newest point → all L points
        chosen[:, i] = current
        d = space.distance(
            lifted.elements[rows, current].unsqueeze(1), lifted.orbits[rows, current].unsqueeze(1),
            lifted.elements, lifted.orbits,
        )[:, 0].double()
        if scale is None:  # rounding to 1e-5 of the set's extent
            scale = torch.where(lifted.mask, d, 0.0).amax(-1, keepdim=True).clamp_min(1e-30) * tie_tolerance
        nearest = torch.minimum(nearest, d)
        order[rows, current] = -1e300
        current = (torch.floor(nearest / scale) + order).argmax(-1)
    slot_mask = torch.arange(M, device=device)[None] < counts[:, None]
    chosen = torch.where(slot_mask, chosen, chosen[:, :1])
    return chosen, slot_mask
