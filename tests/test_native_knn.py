"""The native kNN selection (nn/native/knn.cpp) against the tensor code it replaces
(neighbourhood._knn_select with LIEFORMER_NATIVE=0): the same neighbours, validity and C-th
bucket — positions included, for keys outside the set too (both order equal ranks by position)
— on the brute-force and the grid search, with padding, sets smaller than the candidate count,
grids with exact distance ties, float32 and float64."""

from __future__ import annotations

import pytest
import torch

from lieformer import make_group
from lieformer.nn import knn_neighbourhood
from lieformer.nn import neighbourhood as nbm
from lieformer.nn.native.knn import knn_library

from .test_neighbourhood import spy_on_grid_search

pytestmark = pytest.mark.skipif(knn_library() is None, reason="the native kernel does not build here")


def both(monkeypatch, *args, **kwargs):
    out = []
    for native in ("1", "0"):
        monkeypatch.setenv("LIEFORMER_NATIVE", native)
        out.append(knn_neighbourhood(*args, generator=torch.Generator().manual_seed(5), **kwargs))
    return out


def grid_points(B, angle=0.0):
    t = torch.linspace(-10, 10, 21, dtype=torch.float64)
    g = torch.stack(torch.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
    c, s = torch.cos(torch.tensor(angle)), torch.sin(torch.tensor(angle))
    return (g @ torch.stack([torch.stack([c, -s]), torch.stack([s, c])]).to(g.dtype).T).expand(B, -1, -1).contiguous()


@pytest.mark.parametrize("group,layout,dtype", [
    ("T(2)", "random", torch.float64), ("T(2)", "random", torch.float32), ("SE2(alpha=0.2)", "grid", torch.float64),
    ("SE2(alpha=0.2)", "grid", torch.float32), ("T(2)", "grid", torch.float64), ("SE3(alpha=0.2)", "random", torch.float64),
])
@pytest.mark.parametrize("use_grid", [False, True], ids=["brute-force", "grid"])
def test_native_knn_selects_what_the_tensor_code_selects(group, layout, dtype, use_grid, monkeypatch):
    used = spy_on_grid_search(monkeypatch)
    g = make_group(group)
    gen = torch.Generator().manual_seed(0)
    if layout == "grid":  # 441 points, two lifts each: exact distance ties
        x, S = grid_points(3, angle=0.3), 2
    else:  # 1000 points: the grid search settles most queries on candidate lists
        x, S = torch.rand(3, 1000, 3 if group.startswith("SE3") else 2, generator=gen, dtype=torch.float64), 1
    N = x.shape[1]
    mask = torch.ones(3, N, dtype=torch.bool)
    mask[1, 300:] = False  # padding
    mask[2, 3:] = False  # fewer valid (lifted) points than neighbours: invalid slots are chosen
    lifted = g.lift(x.to(dtype), torch.zeros(3, N, 1, dtype=dtype), mask, S, torch.Generator().manual_seed(1))
    native, tensor = both(monkeypatch, g, lifted, 12, candidates=40, use_grid=use_grid)
    assert torch.equal(native.mask, tensor.mask)
    assert torch.equal(native.idx, tensor.idx)
    assert native.fill == tensor.fill
    assert not tensor.mask[2].all()  # the small set has invalid slots: their positions were compared too
    assert bool(used) == use_grid


def test_native_knn_returns_the_c_th_bucket(monkeypatch):
    """The bucket of the C-th nearest, which the grid search's exactness check reads, is the
    tensor code's, and inf for a row with fewer than C valid keys."""
    gen = torch.Generator().manual_seed(2)
    d = torch.rand(2, 5, 30, generator=gen, dtype=torch.float64)
    valid = torch.rand(2, 5, 30, generator=gen) < 0.8
    valid[1, 2, 5:] = False
    scale = torch.full((2, 1, 1), 1e-3, dtype=torch.float64)
    query = torch.arange(5).view(1, 5, 1).expand(2, 5, 1)
    keys = torch.arange(30).view(1, 1, 30)
    results = []
    for native in ("1", "0"):
        monkeypatch.setenv("LIEFORMER_NATIVE", native)
        results.append(nbm._knn_select(d, valid, scale, 9, query, keys, 10, 4))
    for a, b in zip(*results):
        assert torch.equal(a, b)
    assert torch.isinf(results[0][2][1, 2]) and torch.isfinite(results[0][2][0]).all()
