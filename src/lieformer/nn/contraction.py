"""LieConv's neighbour contraction (PointConv's trick): per query i, the m × c matrix

    A_i = s_i · Σ_{k valid} w_ik ⊗ f_{idx[i, k]},     s_i = 1/#valid (mean) or 1,

from the kernel values of the valid pairs w (n_valid, m) — in (query, k) order, as the kernel MLP
returns them for mask.reshape(-1) — and the point features f (B, L, c); returned as (B, M, m·c),
m-major. Three ways, one result (tests/test_layers.py compares them):

- "native": nn/native/contraction.cpp sums each query's outer products in place (no per-pair
  tensor; padding pairs skipped); the default on CPU in float32 / float64.
- "dense": small sets (L ≤ DENSE_CONTRACTION_RATIO · K: molecules) scatter w into (B, M·m, L)
  and contract with one matmul per set — well-shaped matmuls, at most that ratio × the arithmetic.
- "gather": the neighbours' rows gathered to (B, M, K, c) and a batched (m × K)·(K × c) matmul:
  the reference, and the fallback elsewhere (GPU, other dtypes, LIEFORMER_NATIVE=0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..spaces.base import gather_points
from .native import contraction as native

#: sets with at most this many times as many points as each neighbourhood (L ≤ 4K: QM9's
#: molecules) are contracted by the dense matmul; larger ones (RotMNIST: L = 648, K = 25) not
DENSE_CONTRACTION_RATIO = 4


def contract_neighbours(values: Tensor, w: Tensor, idx: Tensor, mask: Tensor, mean: bool = True,
                        method: str = "auto", linear: tuple[Tensor, Tensor | None] | None = None) -> Tensor:
    """values (B, L, c), w (n_valid, m), idx / mask (B, M, K) → (B, M, m·c), m-major.
    method "auto" picks dense for small sets, else native where it runs, else gather.
    linear = (weight (c_out, m·c), bias): → A·weightᵀ + bias (B, M, c_out) instead; the native
    path then keeps no A for the backward pass (it recomputes it there: (B, M, m·c) is LieConv's
    largest per-query tensor)."""
    counts = mask.sum(-1).reshape(-1) if mask.dim() == 3 else None  # valid pairs a query
    _check(values, w, idx, mask, counts)
    if method == "auto":
        if values.shape[1] <= DENSE_CONTRACTION_RATIO * idx.shape[2]:
            method = "dense"
        else:
            method = "native" if native.supported(values, w) else "gather"
    if method == "native":
        offsets = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        if linear is not None:
            return _NativeContractionLinear.apply(values, w, idx, mask, offsets, mean, *linear)
        return _NativeContraction.apply(values, w, idx, mask, offsets, mean)
    if method not in ("dense", "gather"):
        raise ValueError(f"contract_neighbours: unknown method {method!r} (auto, native, dense or gather)")
    full = _pair_table(w, mask, mean)
    idx = torch.where(mask, idx, 0)  # a padding pair may carry any index: its w is 0, its row any
    agg = _contract_dense(values, full, idx) if method == "dense" else _contract_gathered(values, full, idx)
    return agg if linear is None else F.linear(agg, *linear)


def _check(values: Tensor, w: Tensor, idx: Tensor, mask: Tensor, counts: Tensor | None) -> None:
    """Shapes, and every valid pair's neighbour a row of its own sample (the native kernel reads
    and writes rows by these indices)."""
    if values.dim() != 3 or idx.dim() != 3 or idx.shape != mask.shape or mask.dtype != torch.bool:
        raise ValueError(f"contract_neighbours: values (B, L, c), and idx / mask (B, M, K) with a bool mask; got "
                         f"{tuple(values.shape)}, {tuple(idx.shape)}, {tuple(mask.shape)} {mask.dtype}")
    if idx.shape[0] != values.shape[0]:
        raise ValueError(f"contract_neighbours: {idx.shape[0]} index rows for {values.shape[0]} sets")
    n = int(counts.sum())
    if w.dim() != 2 or w.shape[0] != n:
        raise ValueError(f"contract_neighbours: w must be (n_valid, m) = ({n}, m), one row per valid pair; "
                         f"got {tuple(w.shape)}")
    L = values.shape[1]
    outside = mask & ((idx < 0) | (idx >= L))
    if bool(outside.any()):
        b, i, k = (int(v) for v in outside.nonzero()[0])
        raise ValueError(f"contract_neighbours: neighbour {int(idx[b, i, k])} of query {i} in set {b} is "
                         f"outside its {L} points")


def _pair_table(w: Tensor, mask: Tensor, mean: bool) -> Tensor:
    """The valid pairs' w (n_valid, m) in a (B, M, K, m) table, zeros at padding pairs, times s_i."""
    flat = mask.reshape(-1)
    m = w.shape[-1]
    full = w if bool(flat.all()) else w.new_zeros(flat.shape[0], m).index_put((flat,), w)
    full = full.view(*mask.shape, m)
    if mean:  # 1/|nbhd(i)| on the (B, M, K, m) kernel values: cheaper than on (B, M, m·c)
        full = full / mask.sum(-1, keepdim=True).clamp_min(1).unsqueeze(-1).to(full.dtype)
    return full


def _contract_gathered(values: Tensor, full: Tensor, idx: Tensor) -> Tensor:
    f = gather_points(values, idx)  # (B, M, K, c)
    return (full.transpose(-1, -2) @ f).flatten(2)


def _contract_dense(values: Tensor, full: Tensor, idx: Tensor) -> Tensor:
    # repeated neighbours add up in the scatter; no (B, M, K, c) gather and no scatter of its gradient
    B, M, K, m = full.shape
    L = values.shape[1]
    dense = full.new_zeros(B, M, m, L).scatter_add(-1, idx.unsqueeze(2).expand(B, M, m, K), full.transpose(-1, -2))
    return (dense.view(B, M * m, L) @ values).view(B, M, m * values.shape[-1])


class _NativeContraction(torch.autograd.Function):
    """contraction.cpp forward and backward; a backward that must itself be differentiable
    (create_graph=True, e.g. a Hamiltonian's dH/dq trained through) recomputes the gather path."""

    @staticmethod
    def forward(ctx, values, w, idx, mask, offsets, mean):
        ctx.save_for_backward(values, w, idx, mask, offsets)
        ctx.mean = mean
        return native.forward(values, w, idx, mask, offsets, mean)

    @staticmethod
    def backward(ctx, grad):
        values, w, idx, mask, offsets = ctx.saved_tensors
        if torch.is_grad_enabled():  # double backward: the differentiable reference
            wanted = [t for t in (values, w) if t.requires_grad]
            out = _contract_gathered(values, _pair_table(w, mask, ctx.mean), torch.where(mask, idx, 0))
            found = iter(torch.autograd.grad(out, wanted, grad, create_graph=True))
            g_values, g_w = (next(found) if t.requires_grad else None for t in (values, w))
        else:
            g_values, g_w = native.backward(values, w, idx, mask, offsets, ctx.mean, grad)
        return g_values, g_w, None, None, None, None


class _NativeContractionLinear(torch.autograd.Function):
    """F.linear(contraction.cpp's A, weight, bias), keeping only the contraction's inputs: the
    backward recomputes A (one more native forward) for the weight's gradient."""

    @staticmethod
    def forward(ctx, values, w, idx, mask, offsets, mean, weight, bias):
        ctx.save_for_backward(values, w, idx, mask, offsets, weight, bias)
        ctx.mean = mean
        return F.linear(native.forward(values, w, idx, mask, offsets, mean), weight, bias)

    @staticmethod
    def backward(ctx, grad):
        values, w, idx, mask, offsets, weight, bias = ctx.saved_tensors
        inputs = (values, w, weight, bias)
        if torch.is_grad_enabled():  # double backward: the differentiable reference
            wanted = [t for t in inputs if t is not None and t.requires_grad]
            out = F.linear(_contract_gathered(values, _pair_table(w, mask, ctx.mean), torch.where(mask, idx, 0)),
                           weight, bias)
            found = iter(torch.autograd.grad(out, wanted, grad, create_graph=True))
            g_values, g_w, g_weight, g_bias = (next(found) if t is not None and t.requires_grad else None for t in inputs)
        else:
            agg = native.forward(values, w, idx, mask, offsets, ctx.mean)
            flat = grad.reshape(-1, grad.shape[-1])
            g_weight = flat.t() @ agg.reshape(flat.shape[0], -1)
            del agg  # before the same-sized gradient of A exists: one (B, M, m·c) tensor at a time
            g_bias = flat.sum(0) if bias is not None else None
            g_values, g_w = native.backward(values, w, idx, mask, offsets, ctx.mean, grad @ weight)
        return g_values, g_w, None, None, None, None, g_weight, g_bias
