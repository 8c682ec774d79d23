"""Neighbourhoods, FPS and counter-based randomness against brute-force references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist
from torch.utils._python_dispatch import TorchDispatchMode

from lieformer import LieResNet, LieTransformer, make_group
from lieformer.nn import (
    AdaptiveRadius,
    ball_neighbourhood,
    farthest_point_prefix,
    farthest_point_subsample,
    knn_neighbourhood,
)
from lieformer.randomness import uniform


def spy_on_grid_search(monkeypatch, min_points: int = 64) -> list:
    """Lower the grid search's threshold to min_points and record its calls: the returned list
    gains an entry per grid_candidates call (tests check the grid path really ran)."""
    import lieformer.nn.neighbourhood as nbmod

    monkeypatch.setattr(nbmod, "GRID_MIN_POINTS", min_points)
    used = []
    original = nbmod.grid_candidates
    monkeypatch.setattr(nbmod, "grid_candidates", lambda *a: used.append(1) or original(*a))
    return used


def lift_points(x, group="T(2)", mask=None):
    group = make_group(group)
    B, N, _ = x.shape
    mask = torch.ones(B, N, dtype=torch.bool) if mask is None else mask
    return group, group.lift(x, torch.zeros(B, N, 1, dtype=x.dtype), mask, 1)


def test_knn_matches_kdtree():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 200, 2, generator=gen, dtype=torch.float64)
    group, lifted = lift_points(x)
    nb = knn_neighbourhood(group, lifted, 9)
    for b in range(2):
        _, ref = cKDTree(x[b].numpy()).query(x[b].numpy(), k=9)
        assert (np.sort(nb.idx[b].numpy(), 1) == np.sort(ref, 1)).all()
    assert nb.mask.all()


def test_knn_candidates_then_random_subset():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 300, 2, generator=gen, dtype=torch.float64)
    group, lifted = lift_points(x)
    nb = knn_neighbourhood(group, lifted, 8, candidates=32, generator=torch.Generator().manual_seed(0))
    _, ref = cKDTree(x[0].numpy()).query(x[0].numpy(), k=32)
    for i in range(300):
        assert set(nb.idx[0, i].tolist()) <= set(ref[i].tolist())
        assert len(set(nb.idx[0, i].tolist())) == 8
    # not just the 8 nearest
    _, nearest8 = cKDTree(x[0].numpy()).query(x[0].numpy(), k=8)
    assert np.mean([set(nb.idx[0, i].tolist()) == set(nearest8[i].tolist()) for i in range(300)]) < 0.1


@pytest.mark.parametrize("use_grid", [False, True], ids=["brute-force", "grid"])
def test_knn_random_subset_is_the_documented_draw(use_grid, monkeypatch):
    """The K of the C nearest are those with the largest counter-based draw
    uniform(seed + 1, b, query, key) (seed the layer's draw from the generator): recomputed here
    for every (query, candidate) from the kd-tree's candidates, on the brute-force and the grid path."""
    from lieformer.nn import neighbourhood as nbm
    from lieformer.randomness import draw_seed, uniform

    monkeypatch.setattr(nbm, "GRID_MIN_POINTS", 16)
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(2, 1000, 2, generator=gen, dtype=torch.float64)  # enough points for grid cells
    group, lifted = lift_points(x)
    nb = knn_neighbourhood(group, lifted, 6, candidates=20, generator=torch.Generator().manual_seed(4), use_grid=use_grid)
    seed = draw_seed(torch.Generator().manual_seed(4))
    for b in range(2):
        dist, cand = cKDTree(x[b].numpy()).query(x[b].numpy(), k=21)
        for i in range(1000):
            if dist[i, 20] - dist[i, 19] < 1e-3:  # the 20th nearest within the tie rounding of the 21st
                continue
            keys = torch.as_tensor(cand[i, :20])
            u = uniform(seed + 1, torch.tensor([b]), torch.tensor([i]), keys, dtype=torch.float64)
            expected = set(keys[u.topk(6).indices].tolist())
            assert set(nb.idx[b, i].tolist()) == expected, (b, i)


def test_ball_selects_uniformly_inside_the_ball():
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(1, 100, 2, generator=gen, dtype=torch.float64)
    group, lifted = lift_points(x)
    radius = 0.3
    d = cdist(x[0].numpy(), x[0].numpy())
    inside = d < radius
    counts = np.zeros(100)
    draws = 400
    for seed in range(draws):
        nb = ball_neighbourhood(group, lifted, 5, radius, generator=torch.Generator().manual_seed(seed))
        for i in range(100):
            sel = nb.idx[0, i][nb.mask[0, i]].numpy()
            assert inside[i, sel].all()  # never outside the ball
            assert len(sel) == min(5, inside[i].sum()) and len(set(sel)) == len(sel)
        sel0 = nb.idx[0, 0][nb.mask[0, 0]].numpy()
        counts[sel0] += 1
    # query 0: every in-ball point equally likely (chi-square on the inclusion counts)
    members = np.flatnonzero(inside[0])
    assert len(members) > 5
    expected = draws * 5 / len(members)
    chi2 = ((counts[members] - expected) ** 2 / expected).sum()
    assert stats.chi2.sf(chi2, len(members) - 1) > 0.001
    assert nb.fill == pytest.approx(inside.mean(1).mean(), rel=1e-6)


def test_ball_padding_and_chunking_invariant(monkeypatch):
    import lieformer.nn.neighbourhood as nbmod

    gen = torch.Generator().manual_seed(3)
    x = torch.rand(2, 50, 2, generator=gen, dtype=torch.float64)
    group, lifted = lift_points(x)
    ref = ball_neighbourhood(group, lifted, 6, 0.4, generator=torch.Generator().manual_seed(5))
    xp = torch.cat([x, 50 * torch.rand(2, 9, 2, generator=gen, dtype=torch.float64)], 1)
    mask = torch.ones(2, 59, dtype=torch.bool)
    mask[:, 50:] = False
    _, lifted_p = lift_points(xp, mask=mask)
    monkeypatch.setattr(nbmod, "BLOCK_ROWS", 7)  # different blocks, same choices
    pad = ball_neighbourhood(group, lifted_p, 6, 0.4, generator=torch.Generator().manual_seed(5))
    for b in range(2):
        for i in range(50):
            assert set(ref.idx[b, i][ref.mask[b, i]].tolist()) == set(pad.idx[b, i][pad.mask[b, i]].tolist())


def greedy_fps(distances: np.ndarray, start: int, m: int) -> list[int]:
    """Brute-force greedy FPS on a full (n, n) distance matrix."""
    chosen, nearest = [start], distances[start].copy()
    for _ in range(m - 1):
        chosen.append(int(np.argmax(nearest)))
        nearest = np.minimum(nearest, distances[chosen[-1]])
    return chosen


def reference_fps(points: np.ndarray, start: int, m: int) -> list[int]:
    return greedy_fps(cdist(points, points), start, m)


def test_fps_matches_reference_and_respects_padding():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, 80, 2, generator=gen, dtype=torch.float64)
    mask = torch.ones(2, 80, dtype=torch.bool)
    mask[1, 60:] = False
    group, lifted = lift_points(x, mask=mask)
    idx, slot_mask = farthest_point_subsample(group, lifted, 0.25, generator=torch.Generator().manual_seed(0))
    assert idx.shape == (2, 20) and slot_mask[0].all() and slot_mask[1].sum() == 15
    ref0 = reference_fps(x[0].numpy(), int(idx[0, 0]), 20)
    ref1 = reference_fps(x[1, :60].numpy(), int(idx[1, 0]), 15)
    assert idx[0].tolist() == ref0
    assert idx[1, :15].tolist() == ref1
    assert (idx[1, :15] < 60).all()


@pytest.mark.parametrize("spec", ["T(2)", "SE2"])
def test_fps_of_an_fps_result_is_its_prefix(spec):
    """Greedy FPS nests: FPS of an FPS result (in greedy order, from its first point) is its
    prefix — checked against a brute-force greedy on the group distance — so LieResNet's later
    layers take prefixes (farthest_point_prefix) instead of running FPS again."""
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 120, 2, generator=gen, dtype=torch.float64)
    mask = torch.ones(2, 120, dtype=torch.bool)
    mask[1, 90:] = False
    group, lifted = lift_points(x, spec, mask)
    idx, slot = farthest_point_subsample(group, lifted, 0.6, generator=torch.Generator().manual_seed(0))
    first = lifted.select(idx)
    first = first._replace(mask=first.mask & slot)
    assert slot.sum(-1).tolist() == [72, 54]
    prefix, prefix_mask = farthest_point_prefix(first.mask, 0.5)
    assert prefix_mask.sum(-1).tolist() == [36, 27]
    for b, n in enumerate([72, 54]):
        d = group.distance(first.elements[b : b + 1, :n], first.orbits[b : b + 1, :n],
                           first.elements[b : b + 1, :n], first.orbits[b : b + 1, :n])[0].numpy()
        assert prefix[b, : n // 2].tolist() == greedy_fps(d, 0, n // 2) == list(range(n // 2))
    with pytest.raises(ValueError, match="valid points must come first"):
        farthest_point_prefix(torch.tensor([[True, False, True]]), 0.5)


@pytest.mark.parametrize("angle", [math.pi / 2, 0.7])
def test_knn_ties_on_a_grid_break_invariantly(angle):
    """Grid points have many exactly equal distances; after a rotation they differ in the last
    bits. Neighbour choices must not change (a known cause of silently broken equivariance)."""
    ticks = torch.arange(9, dtype=torch.float32) - 4
    x = torch.stack(torch.meshgrid(ticks, ticks, indexing="ij"), -1).reshape(1, -1, 2)
    R = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    xr = x @ R.T + torch.tensor([0.3, -1.1])
    group, lifted = lift_points(x)
    _, lifted_r = lift_points(xr)

    def sets(lf, tol):
        nb = knn_neighbourhood(group, lf, 6, candidates=12, generator=torch.Generator().manual_seed(0), tie_tolerance=tol)
        return [set(r) for r in nb.idx[0].tolist()]

    assert sets(lifted, 1e-5) == sets(lifted_r, 1e-5)
    # without the rounding, exact ties break by float noise and some choices do change
    assert sets(lifted, 1e-300) != sets(lifted_r, 1e-300)


def test_adaptive_radius_reaches_target_fill():
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(4, 200, 2, generator=gen)
    group, lifted = lift_points(x)
    radius = AdaptiveRadius(fill=0.2, initial=2.0)
    for _ in range(200):
        nb = ball_neighbourhood(group, lifted, 16, float(radius.radius))
        radius.update(nb.fill)
    assert nb.fill == pytest.approx(0.2, abs=0.02)
    before = float(radius.radius)
    radius.eval()
    radius.update(0.9)
    assert float(radius.radius) == before  # frozen at evaluation


def test_counter_based_uniforms():
    u = uniform(7, torch.arange(300)[:, None], torch.arange(300)[None]).flatten().numpy()
    assert stats.kstest(u, "uniform").pvalue > 0.01
    a = uniform(7, torch.tensor([12]), torch.tensor([34]))
    assert a.item() == uniform(7, torch.arange(20)[:, None], torch.arange(40)[None])[12, 34].item()
    assert a.item() != uniform(8, torch.tensor([12]), torch.tensor([34])).item()


class MaxTensor(TorchDispatchMode):
    """Records the largest tensor any operation produces."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


@pytest.mark.parametrize("builder", [
    lambda g: LieResNet(1, 1, g, k=8, num_layers=1, nbhd=8, fill=0.05, total_ds=0.5),
    lambda g: LieTransformer(1, 1, g, dim=8, num_layers=1, heads=2, nbhd=8, kernel_dim=4),
], ids=["LieResNet", "LieTransformer"])
def test_no_quadratic_tensor(builder):
    """At fixed nbhd the largest tensor of a forward+backward pass grows linearly in N, and no
    B × N × N tensor exists once N exceeds the distance block."""
    group = make_group("SE2")
    model = builder(group)
    largest = {}
    for N in (1024, 4096):
        x = torch.rand(1, N, 2) * 10
        with MaxTensor() as probe:
            model(x, torch.ones(1, N, 1), None).sum().backward()
        largest[N] = probe.largest
        assert probe.largest < N * N, (N, probe.largest)
    assert largest[4096] <= 4.5 * largest[1024], largest


@pytest.mark.parametrize("angle", [math.pi / 2, 0.7])
def test_fps_ties_on_a_grid_break_invariantly(angle):
    """On a pixel grid many candidates are exactly equally far; a rotated grid must still give
    the same farthest-point sequence (and without rounding it does not)."""
    ticks = torch.arange(9, dtype=torch.float32) - 4
    x = torch.stack(torch.meshgrid(ticks, ticks, indexing="ij"), -1).reshape(1, -1, 2)
    R = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    group, lifted = lift_points(x)
    _, lifted_r = lift_points(x @ R.T + torch.tensor([0.3, -1.1]))

    def fps(lf, tol):
        return farthest_point_subsample(group, lf, 0.3, torch.Generator().manual_seed(0), tie_tolerance=tol)[0].tolist()

    assert fps(lifted, 1e-5) == fps(lifted_r, 1e-5)
    assert fps(lifted, 1e-300) != fps(lifted_r, 1e-300)


@pytest.mark.parametrize("spec,d", [("T(2)", 2), ("SE2", 2), ("SE3", 3), ("Trivial(2)", 2), ("SE2Canonical(4)", 2)])
@pytest.mark.parametrize("radius,grid_used", [(0.05, True), (0.1, True), (5.0, False)])
def test_grid_ball_equals_brute_force(spec, d, radius, grid_used, monkeypatch):
    """The grid-pruned ball search returns exactly the brute-force neighbourhood (same points,
    same random subset, same fill), padding included; with a large radius it falls back."""
    import lieformer.nn.neighbourhood as nbmod

    calls = []
    original = nbmod._ball_on_candidates
    monkeypatch.setattr(nbmod, "_ball_on_candidates", lambda *a: calls.append(1) or original(*a))
    gen = torch.Generator().manual_seed(7)
    group = make_group(spec)
    n = 3000 if d == 2 else 6000
    x = torch.rand(2, n, d, generator=gen, dtype=torch.float64)
    mask = torch.ones(2, n, dtype=torch.bool)
    mask[1, 250:] = False
    lifted = group.lift(x, torch.zeros(2, n, 1, dtype=torch.float64), mask, 1, generator=gen)
    query_idx = torch.randint(0, 250, (2, 40), generator=gen)
    args = dict(k=6, radius=radius, query_idx=query_idx)
    grid = ball_neighbourhood(group, lifted, generator=torch.Generator().manual_seed(1), **args)
    brute = ball_neighbourhood(group, lifted, generator=torch.Generator().manual_seed(1), use_grid=False, **args)
    if not spec.startswith("SE2Canonical"):  # (its L copies per point crowd the cells: either path)
        assert bool(calls) == grid_used
    assert grid.fill == pytest.approx(brute.fill, rel=1e-12)
    for b in range(2):
        for i in range(40):
            assert set(grid.idx[b, i][grid.mask[b, i]].tolist()) == set(brute.idx[b, i][brute.mask[b, i]].tolist())


def test_grid_candidates_cover_the_cell_neighbourhood():
    from lieformer.nn.neighbourhood import grid_candidates

    gen = torch.Generator().manual_seed(8)
    p = torch.rand(1, 500, 2, generator=gen, dtype=torch.float64) * 10
    cand, cmask = grid_candidates(p[:, :50], p, torch.ones(1, 500, dtype=torch.bool), 1.0)
    dist = torch.cdist(p[0, :50], p[0])
    for i in range(50):
        near = set(torch.nonzero(dist[i] < 1.0).flatten().tolist())
        got = cand[0, i][cmask[0, i]].tolist()
        assert near <= set(got) and len(got) == len(set(got))
    assert cand.shape[-1] < 500 / 2


@pytest.mark.parametrize("spec,d,lift_samples", [("T(2)", 2, 1), ("SE2", 2, 2), ("T(3)", 3, 1), ("SE3", 3, 1),
                                                 ("SE2Canonical(4)", 2, 1)])
@pytest.mark.parametrize("layout", ["uniform", "clustered", "grid"])
def test_grid_knn_equals_brute_force(spec, d, lift_samples, layout, monkeypatch):
    """The grid kNN search returns exactly the brute-force neighbourhood — the same neighbours in
    the same order, the same random subset of the candidates — on uniform points, on clusters
    (queries that need larger cells or the brute-force fallback) and on a lattice (exact ties),
    with padding and a subset of queries."""
    used = spy_on_grid_search(monkeypatch)
    gen = torch.Generator().manual_seed(9)
    group = make_group(spec)
    n = 1500
    if layout == "uniform":
        x = torch.rand(2, n, d, generator=gen, dtype=torch.float64)
    elif layout == "clustered":  # a dense blob, a sparse background and far outliers
        x = torch.rand(2, n, d, generator=gen, dtype=torch.float64)
        x[:, :600] = 0.5 + 0.01 * torch.randn(2, 600, d, generator=gen, dtype=torch.float64)
        x[:, -5:] += 30.0
    else:
        side = math.ceil(n ** (1 / d))
        axes = torch.meshgrid(*[torch.arange(side, dtype=torch.float64)] * d, indexing="ij")
        x = torch.stack(axes, -1).reshape(-1, d)[:n].expand(2, n, d).contiguous()
    mask = torch.ones(2, n, dtype=torch.bool)
    mask[1, 900:] = False
    lifted = group.lift(x, torch.zeros(2, n, 1, dtype=torch.float64), mask, lift_samples, generator=gen)
    L = lifted.mask.shape[1]
    for query_idx in (None, torch.randint(0, 900 * lift_samples, (2, 300), generator=gen)):
        args = dict(k=8, candidates=20, query_idx=query_idx)
        grid = knn_neighbourhood(group, lifted, generator=torch.Generator().manual_seed(1), **args)
        brute = knn_neighbourhood(group, lifted, generator=torch.Generator().manual_seed(1), use_grid=False, **args)
        assert torch.equal(grid.mask, brute.mask)
        assert torch.equal(torch.where(grid.mask, grid.idx, -1), torch.where(brute.mask, brute.idx, -1))
        assert grid.fill == brute.fill
    assert used and L >= 64


@pytest.mark.parametrize("spec", ["T(2)", "SE2", "SE3"])
def test_lietransformer_on_the_grid_search_is_exactly_equivariant(spec, monkeypatch):
    """With the grid kNN search active (lowered threshold), the LieTransformer stays exactly
    equivariant: the grid depends on coordinates, its answers do not."""
    from lieformer.testing import assert_equivariant

    used = spy_on_grid_search(monkeypatch)
    group = make_group(spec)
    gen = torch.Generator().manual_seed(3)
    x = 3 * torch.rand(2, 400, group.space_dim, generator=gen, dtype=torch.float64)
    v = torch.randn(2, 400, 2, generator=gen, dtype=torch.float64)
    mask = torch.ones(2, 400, dtype=torch.bool)
    mask[1, 350:] = False
    model = LieTransformer(2, 3, group, dim=8, num_layers=1, heads=2, nbhd=6, fill=0.5, kernel_dim=4).double()
    assert_equivariant(model, group, (x, v, mask))
    assert used
