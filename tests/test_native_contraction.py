"""LieConv's neighbour contraction (nn/contraction.py): the native kernel (nn/native/contraction.cpp)
and the dense matmul against the gathered reference and a plain loop — outputs, both gradients,
a second-order gradient — over float32 and float64, the specialised and run-time kernel widths,
channel counts off the vector width, 1–4 threads (whole sets, or rows with private tables),
padding pairs and queries, repeated neighbours; the fallbacks; bad input refused."""

from __future__ import annotations

import pytest
import torch

from lieformer.nn import contraction
from lieformer.nn.contraction import contract_neighbours
from lieformer.nn.native import contraction as native

from .test_layers import EXACT

needs_native = pytest.mark.skipif(native.contraction_library() is None, reason="the native kernel does not build here")

#: float32: the kernel sums in another order than the batched matmul
FLOAT32 = dict(atol=2e-5, rtol=2e-5)


def inputs(B, L, M, K, m, C, dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    values = torch.randn(B, L, C, generator=gen, dtype=dtype)
    idx = torch.randint(0, L, (B, M, K), generator=gen)
    mask = torch.rand(B, M, K, generator=gen) < 0.7
    mask[0, 1] = False  # a query with no valid pair
    mask[-1, -1, :] = False  # a padding query
    idx[0, 0, :2] = idx[0, 0, 2]  # a repeated neighbour
    mask[0, 0, :3] = True
    w = torch.randn(int(mask.sum()), m, generator=gen, dtype=dtype)
    return values, w, idx, mask


def loop_reference(values, w, idx, mask, mean):
    """Σ over the valid pairs, one query at a time (float64)."""
    B, M, K = idx.shape
    m, C = w.shape[1], values.shape[2]
    out = torch.zeros(B, M, m, C, dtype=torch.float64)
    r = 0
    for b in range(B):
        for i in range(M):
            n = int(mask[b, i].sum())
            for k in range(K):
                if mask[b, i, k]:
                    out[b, i] += torch.outer(w[r].double(), values[b, idx[b, i, k]].double()) / (max(n, 1) if mean else 1)
                    r += 1
    return out.view(B, M, m * C)


def run(method, values, w, idx, mask, mean, grad):
    values, w = values.detach().requires_grad_(), w.detach().requires_grad_()
    out = contract_neighbours(values, w, idx, mask, mean, method=method)
    return (out, *torch.autograd.grad(out, (values, w), grad))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("mean", [True, False], ids=["mean", "sum"])
@pytest.mark.parametrize("m,C,threads,B", [(16, 37, 1, 3), (16, 16, 2, 3), (8, 5, 4, 2), (5, 9, 2, 1), (32, 3, 3, 1)])
@needs_native
def test_native_and_dense_contractions_match_the_reference(dtype, mean, m, C, threads, B):
    """Widths 8, 16 and 32 run specialised code (registers over channel chunks; 37 channels leave
    a partial chunk, 3 fewer than one), 5 the run-time loops; 2–4 threads over 3 or 2 sets take
    whole sets, one set over 2 or 3 threads splits its rows with private gradient tables."""
    tol = EXACT if dtype == torch.float64 else FLOAT32
    values, w, idx, mask = inputs(B, 11, 7, 6, m, C, dtype, seed=m + C)
    grad = torch.randn(B, 7, m * C, generator=torch.Generator().manual_seed(1), dtype=dtype)
    expected = run("gather", values, w, idx, mask, mean, grad)
    torch.testing.assert_close(expected[0].double(), loop_reference(values, w, idx, mask, mean), **tol)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        results = {method: run(method, values, w, idx, mask, mean, grad) for method in ("native", "dense")}
    finally:
        torch.set_num_threads(before)
    for method, got in results.items():
        for name, a, b in zip(("output", "values' gradient", "w's gradient"), got, expected):
            torch.testing.assert_close(a, b, **tol, msg=lambda text: f"{method}, {name}: {text}")
    assert torch.equal(results["native"][0][-1, -1], torch.zeros(m * C, dtype=dtype))  # padding query


@needs_native
def test_native_contraction_is_deterministic_across_runs():
    """The same inputs and thread count give the same bits (per-thread tables added in order)."""
    values, w, idx, mask = inputs(1, 40, 30, 8, 16, 12, torch.float32, seed=3)
    grad = torch.randn(1, 30, 16 * 12, generator=torch.Generator().manual_seed(2))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        first, second = (run("native", values, w, idx, mask, True, grad) for _ in range(2))
    finally:
        torch.set_num_threads(before)
    for a, b in zip(first, second):
        assert torch.equal(a, b)


@needs_native
@pytest.mark.parametrize("with_linear", [False, True], ids=["sums", "then-linear"])
def test_native_contraction_has_second_order_gradients(with_linear):
    """create_graph=True (a Hamiltonian trained through dH/dq): the backward recomputes the gathered
    contraction (and the Linear), so gradients of gradients are those of the reference; with the
    Linear fused, its first-order gradients too."""
    values, w, idx, mask = inputs(2, 9, 6, 5, 16, 4, torch.float64, seed=5)
    gen = torch.Generator().manual_seed(6)
    weight, bias = torch.randn(3, 16 * 4, generator=gen, dtype=torch.float64), torch.randn(3, generator=gen, dtype=torch.float64)
    results = []
    for method in ("native", "gather"):
        v, ww = values.clone().requires_grad_(), w.clone().requires_grad_()
        lw, lb = weight.clone().requires_grad_(), bias.clone().requires_grad_()
        out = contract_neighbours(v.sin(), ww, idx, mask, method=method, linear=(lw, lb) if with_linear else None)
        wanted = (v, ww, lw, lb) if with_linear else (v, ww)
        first = torch.autograd.grad(out.square().sum(), wanted, retain_graph=True)
        (gv,) = torch.autograd.grad(out.square().sum(), v, create_graph=True)
        results.append((*first, *torch.autograd.grad(gv.square().sum(), wanted)))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, **EXACT)


def test_auto_picks_dense_for_small_sets_and_falls_back_off_the_kernel(monkeypatch):
    """"auto": dense when L ≤ DENSE_CONTRACTION_RATIO·K; else native, or the gather path when the
    kernel is disabled (LIEFORMER_NATIVE=0) or the dtype is not float32/float64 — same result."""
    calls = []
    for name in ("_contract_dense", "_contract_gathered"):
        original = getattr(contraction, name)
        monkeypatch.setattr(contraction, name, lambda *a, _f=original, _n=name: calls.append(_n) or _f(*a))
    monkeypatch.setattr(contraction._NativeContraction, "apply",
                        staticmethod(lambda *a, _f=contraction._NativeContraction.apply: calls.append("native") or _f(*a)))
    small = inputs(2, 8, 5, 4, 16, 3, torch.float64)  # L = 8 ≤ 4·4
    large = inputs(2, 40, 5, 4, 16, 3, torch.float64)
    reference = contract_neighbours(*large, method="gather")
    contract_neighbours(*small)
    assert calls[-1] == "_contract_dense"
    if native.contraction_library() is not None:
        torch.testing.assert_close(contract_neighbours(*large), reference, **EXACT)
        assert calls[-1] == "native"
    monkeypatch.setenv("LIEFORMER_NATIVE", "0")
    torch.testing.assert_close(contract_neighbours(*large), reference, **EXACT)
    assert calls[-1] == "_contract_gathered"
    monkeypatch.setenv("LIEFORMER_NATIVE", "1")
    values, w, idx, mask = large
    half = contract_neighbours(values.bfloat16(), w.bfloat16(), idx, mask)
    assert calls[-1] == "_contract_gathered" and half.dtype == torch.bfloat16


@pytest.mark.parametrize("method", ["native", "dense", "gather"])
def test_bad_inputs_are_refused_before_any_kernel(method):
    """A neighbour index outside its set (the kernel would read another set's rows, or past the
    end), a w with a row count other than the valid pairs', mismatched shapes: ValueErrors."""
    values, w, idx, mask = inputs(2, 9, 5, 4, 16, 3, torch.float64)
    bad = idx.clone()
    bad[1, 2, 3], mask[1, 2, 3] = 9, True
    w = torch.randn(int(mask.sum()), 16, dtype=torch.float64)
    with pytest.raises(ValueError, match="neighbour 9 of query 2 in set 1 is outside its 9 points"):
        contract_neighbours(values, w, bad, mask, method=method)
    bad[1, 2, 3] = -1
    with pytest.raises(ValueError, match="outside"):
        contract_neighbours(values, w, bad, mask, method=method)
    mask[1, 2, 3] = False  # an invalid pair may carry any index
    contract_neighbours(values, w[1:], bad, mask, method=method)
    with pytest.raises(ValueError, match="one row per valid pair"):
        contract_neighbours(values, w, idx, mask, method=method)
    with pytest.raises(ValueError, match="idx / mask"):
        contract_neighbours(values, w[1:], idx[:, :, :2], mask, method=method)
    with pytest.raises(ValueError, match="index rows"):
        contract_neighbours(values[:1], w[1:], idx, mask, method=method)
    with pytest.raises(ValueError, match="unknown method"):
        contract_neighbours(values, w[1:], idx, mask, method="fast")
