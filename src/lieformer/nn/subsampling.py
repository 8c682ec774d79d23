"""Farthest-point subsampling (FPS) of lifted points in the space's distance, and the prefix
shortcut for sets that are FPS results already (LieResNet's later layers)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..groups.base import euclidean_distance
from ..randomness import draw_seed, uniform
from ..spaces.base import HomogeneousSpace, Lifted
from .native import hidden_from_compile
from .native.fps import fps_library


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
    padding and transformed inputs give the same choice. Each greedy step adds the point farthest
    from the chosen ones (distances rounded to tie_tolerance of the set's extent, exact ties
    ordered by counter-based noise), O(M·L) work and O(L) memory. On the CPU, spaces whose distance
    is the Euclidean distance of their positions (space.distance_is_position_norm: T(n),
    Trivial) or its planar form α·|Δθ|₂π + (1−α)‖Δp‖ (space.planar_angles: SE2) run the steps in
    C++ (lieformer.nn.native; LIEFORMER_NATIVE=0 turns it off), with the PyTorch loop's choices;
    the others run that loop, each step one vectorised space.distance from the newest point.
    """
    B, L = lifted.mask.shape
    counts = subsample_counts(lifted.mask, fraction)
    M = int(counts.max().item()) if B else 0
    device = lifted.mask.device
    rows = torch.arange(B, device=device)
    seed = draw_seed(generator)
    start_score = uniform(seed, rows[:, None], torch.arange(L, device=device)[None], dtype=torch.float64)
    current = torch.where(lifted.mask, start_score, -1.0).argmax(-1)
    # exact ties (grids, symmetric lifts) differ in the last bits after a transformation: distances
    # are compared after rounding, then ordered by counter-based noise (the same for both inputs);
    # -1e300 marks chosen points (picked again only once a row has no other), -inf padding
    order = torch.where(lifted.mask, 0.5 * uniform(seed + 1, rows[:, None], torch.arange(L, device=device)[None],
                                                   dtype=torch.float64), -torch.inf)
    angles = space.planar_angles(lifted.elements)
    native = (device.type == "cpu" and M > 0 and (space.distance_is_position_norm or angles is not None)
              and lifted.elements.dtype in (torch.float32, torch.float64))
    library = fps_library() if native else None
    chosen = None
    if library is not None:
        positions = space.positions(lifted.elements, lifted.orbits)
        chosen = _native_greedy(library, positions, angles, space.alpha if angles is not None else 0.0,
                                lifted.mask, current, order, M, tie_tolerance)
    if chosen is None:
        chosen = _greedy_loop(space, lifted, angles, current, order, M, tie_tolerance)
    slot_mask = torch.arange(M, device=device)[None] < counts[:, None]
    chosen = torch.where(slot_mask, chosen, chosen[:, :1])
    return chosen, slot_mask


def _planar_row(positions: Tensor, angles: Tensor, alpha: float, rows: Tensor, current: Tensor) -> Tensor:
    """α·|θ_j − θ_a|₂π + (1−α)‖p_a − p_j‖ (B, L) float64 from the points `current` (B,) to all:
    the space's distance when planar_angles() gives θ (SE2), in the operations fps.cpp repeats."""
    euclidean = euclidean_distance(positions[rows, current].unsqueeze(1), positions)[:, 0].double()
    dt = (angles - angles[rows, current].unsqueeze(1)).abs()
    angle = torch.minimum(dt, 2 * math.pi - dt)
    return alpha * angle + (1 - alpha) * euclidean


@torch.no_grad()
def _greedy_loop(space: HomogeneousSpace, lifted: Lifted, angles: Tensor | None, current: Tensor, order: Tensor,
                 M: int, tie_tolerance: float) -> Tensor:
    """The greedy steps in PyTorch (the reference, and the path off the CPU or for large sets):
    each step one distance from the newest point to all L points (the planar form where the
    space gives angles). → chosen (B, M)."""
    B, L = lifted.mask.shape
    positions = None if angles is None else space.positions(lifted.elements, lifted.orbits)
    device = lifted.mask.device
    rows = torch.arange(B, device=device)
    order = order.clone()
    nearest = torch.full((B, L), torch.inf, dtype=torch.float64, device=device)  # distance to the chosen set
    chosen = torch.empty(B, M, dtype=torch.long, device=device)
    scale = None
    for i in range(M):  # greedy: each step is one vectorised distance, newest point → all L points
        chosen[:, i] = current
        if angles is None:
            d = space.distance(
                lifted.elements[rows, current].unsqueeze(1), lifted.orbits[rows, current].unsqueeze(1),
                lifted.elements, lifted.orbits,
            )[:, 0].double()
        else:
            d = _planar_row(positions, angles, space.alpha, rows, current)
        if scale is None:  # rounding to 1e-5 of the set's extent
            scale = torch.where(lifted.mask, d, 0.0).amax(-1, keepdim=True).clamp_min(1e-30) * tie_tolerance
        nearest = torch.minimum(nearest, d)
        order[rows, current] = -1e300
        current = (torch.floor(nearest / scale) + order).argmax(-1)
    return chosen


@hidden_from_compile  # ctypes calls write the outputs: dynamo must not trace them
def _matching_variant(library, positions: Tensor, probes: list[tuple[int, int]]) -> int | None:
    """Which of the kernel's distance formulas (0: plain, 1: fused multiply-add) gives, on these
    points, the rows euclidean_distance (torch.cdist) gives, bit for bit; None if neither.
    A different rounding shows on a large fraction of the pairs, so a few rows decide it."""
    row_fn = library.lieformer_distance_row_float if positions.dtype == torch.float32 else library.lieformer_distance_row_double
    L, D = positions.shape[1], positions.shape[2]
    for fused in (0, 1):
        same = True
        for b, a in probes:
            ref = euclidean_distance(positions[b : b + 1, a : a + 1], positions[b : b + 1])[0, 0]
            row = torch.empty(L, dtype=positions.dtype)
            row_fn(positions[b].data_ptr(), L, D, a, fused, row.data_ptr())
            same = same and torch.equal(row, ref)
        if same:
            return fused
    return None


@torch.no_grad()
@hidden_from_compile
def _native_greedy(library, positions: Tensor, angles: Tensor | None, alpha: float, mask: Tensor, current: Tensor,
                   order: Tensor, M: int, tie_tolerance: float) -> Tensor | None:
    """The same greedy steps in C++ (native/fps.cpp) for a space whose distance is the Euclidean
    distance of its positions (B, L, D), or its planar form with angles (B, L) (SE2): each step's
    row ‖p_current − p_j‖ is computed there as torch.cdist computes it, bit for bit (checked on
    rows of these points, else None: the caller runs the loop), the angle term as _planar_row
    does, so the choices are the loop's. → chosen (B, M)."""
    B, L = mask.shape
    positions = positions.contiguous()
    finite = torch.isfinite(positions).all() & (True if angles is None else torch.isfinite(angles).all())
    if not bool(finite):  # NaN / inf coordinates: the loop's NaN semantics
        return None
    probes = sorted({(0, int(current[0])), (B - 1, int(current[B - 1])), (B // 2, L // 2)})
    fused = _matching_variant(library, positions, probes)
    if fused is None:
        return None
    kernel = library.lieformer_fps_float if positions.dtype == torch.float32 else library.lieformer_fps_double
    chosen = torch.empty(B, M, dtype=torch.long)
    order, current = order.contiguous(), current.contiguous()
    valid = mask.to(torch.uint8).contiguous()
    angles = None if angles is None else angles.to(torch.float64).contiguous()
    kernel(positions.data_ptr(), positions.shape[-1], fused, None if angles is None else angles.data_ptr(),
           float(alpha), float(1 - alpha), order.data_ptr(), current.data_ptr(), valid.data_ptr(),
           B, L, M, float(tie_tolerance), chosen.data_ptr())
    return chosen
