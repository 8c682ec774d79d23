"""LieSelfAttention's per-pair work over blocks of queries, recomputed in the backward pass.

For R queries with K neighbours each, the attention output o_i^h = Σ_j w_ij^h v_j^h needs per-pair,
per-head tensors (R·K·H·kernel_dim floats for the location MLP: 207 MB a tensor at the RotMNIST
configuration). Formed all at once, they cost more in memory traffic and allocation than in
arithmetic. Here the queries are cut into blocks of about `block_pairs` pairs; each block is
computed from the per-point rows (own, neighbour, value: (R, H, ·)) and the pair features, and
only the (R, H, d) output is kept. The backward pass recomputes each block and sends its
gradients to the rows (accumulated over the blocks that gather them) and to the parameters: the
same arithmetic, in the same order within a block, as the plain computation (LieSelfAttention
with block_pairs=0), to which the tests compare both paths.

Three paths:
- `_NativeAttention`: for the attention whose logit is a dot product plus a per-head location
  MLP (content "dot-product", location "mlp", combination "sum": the papers' default), any
  normalisation, on CPU: the fused C++ kernel of native/attention.cpp, one pass per query.
- `_FusedAttention`, the same variants where the kernel does not apply (LIEFORMER_NATIVE=0, no
  compiler, another device): the backward written out in PyTorch, the location MLP head-major,
  (H, kernel_dim, n) per block, so the per-head layers are batched matmuls with no permuted copies.
- `_BlockedAttention` for every other variant: each block is recomputed under autograd.

Both are once-differentiable. Pair features that require a gradient (a Hamiltonian network
differentiates through the coordinates, and then through the gradient) take the plain path.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from .native import attention as native

#: pairs per block: 4096 pairs × 8 heads × 16 = 2 MB per per-pair, per-head activation tensor
DEFAULT_BLOCK_PAIRS = 4096


def flat_rows(idx: Tensor, L: int) -> Tensor:
    """Neighbour indices idx (B, L', K) into each sample's L points → rows of the (B·L, ·) table, (B·L', K)."""
    B = idx.shape[0]
    return (idx + torch.arange(B, device=idx.device).view(B, 1, 1) * L).reshape(-1, idx.shape[-1])


def _fused_variant(att) -> bool:
    return att.content == "dot-product" and att.location == "mlp" and att.combination == "sum"


def blocked_attention(att, own: Tensor, nb: Tensor, v: Tensor, pairs: Tensor, idx: Tensor, mask: Tensor,
                      rows_per_sample: int) -> Tensor:
    """Σ_j w_ij^h v_j^h (R, H, d) for R queries: own, nb (R, H, a), v (R, H, d) per-point rows,
    pairs (R, K, P), idx (R, K) rows of the neighbours, mask (R, K) valid pairs; the rows are
    samples of `rows_per_sample` points, and a query's neighbours lie in its own sample."""
    R, K = idx.shape
    per_block = max(1, att.block_pairs // max(K, 1))
    if att.block_pairs == 0 or pairs.requires_grad:
        return att.pair_outputs(own, nb[idx], v[idx], pairs, mask)
    params = [p for p in att.pair_parameters() if p.requires_grad]
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (own, nb, v, *params))
    fused = _fused_parameters(att) if _fused_variant(att) else None
    if fused is not None and att.native and native.supported(own, nb, v, pairs, *fused):
        if not grad:
            with torch.no_grad():
                return native.forward(att, own, nb, v, pairs, idx, mask, fused, rows_per_sample)
        return _NativeAttention.apply(att, rows_per_sample, own, nb, v, pairs, idx, mask, *fused)
    if R <= per_block:
        return att.pair_outputs(own, nb[idx], v[idx], pairs, mask)
    if not grad:
        with torch.no_grad():
            return _forward_blocks(att, own, nb, v, pairs, idx, mask, per_block)
    if fused is not None:
        return _FusedAttention.apply(att, per_block, own, nb, v, pairs, idx, mask, *fused)
    return _BlockedAttention.apply(att, per_block, own, nb, v, pairs, idx, mask, *params)


class _NativeAttention(torch.autograd.Function):
    """The fused kernel of native/attention.cpp: one pass per query, forward and backward."""

    @staticmethod
    def forward(ctx, att, rows_per_sample, own, nb, v, pairs, idx, mask, *params):
        ctx.att, ctx.rows_per_sample = att, rows_per_sample
        ctx.save_for_backward(own, nb, v, pairs, idx, mask, *params)
        return native.forward(att, own, nb, v, pairs, idx, mask, params, rows_per_sample)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        own, nb, v, pairs, idx, mask, *params = ctx.saved_tensors
        grads = native.backward(ctx.att, own, nb, v, pairs, idx, mask, params, ctx.rows_per_sample, grad)
        return (None, None, *grads[:3], None, None, None, *grads[3:])


def _forward_blocks(att, own, nb, v, pairs, idx, mask, per_block: int) -> Tensor:
    out = v.new_empty(v.shape)
    fused = _fused_variant(att)
    params = _fused_parameters(att) if fused else None
    for s in range(0, idx.shape[0], per_block):
        e = min(idx.shape[0], s + per_block)
        i = idx[s:e]
        if fused:
            out[s:e] = _fused_block(att, params, own[s:e], nb[i], v[i], pairs[s:e], mask[s:e])[0]
        else:
            out[s:e] = att.pair_outputs(own[s:e], nb[i], v[i], pairs[s:e], mask[s:e])
    return out


class _BlockedAttention(torch.autograd.Function):
    """Any variant: forward block by block without a graph; backward recomputes each block under
    autograd and accumulates the gradients of the rows and of the pair parameters."""

    @staticmethod
    def forward(ctx, att, per_block, own, nb, v, pairs, idx, mask, *params):
        ctx.att, ctx.per_block, ctx.params = att, per_block, params
        ctx.save_for_backward(own, nb, v, pairs, idx, mask)
        with torch.no_grad():
            return _forward_blocks(att, own, nb, v, pairs, idx, mask, per_block)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        own, nb, v, pairs, idx, mask = ctx.saved_tensors
        params = ctx.params
        g_own, g_nb, g_v = torch.zeros_like(own), torch.zeros_like(nb), torch.zeros_like(v)
        g_params = [torch.zeros_like(p) for p in params]
        for s in range(0, idx.shape[0], ctx.per_block):
            e = min(idx.shape[0], s + ctx.per_block)
            i = idx[s:e]
            with torch.enable_grad():
                leaves = [own[s:e].detach().requires_grad_(), nb[i].detach().requires_grad_(), v[i].detach().requires_grad_()]
                out = ctx.att.pair_outputs(*leaves, pairs[s:e], mask[s:e])
                grads = torch.autograd.grad(out, [*leaves, *params], grad[s:e], allow_unused=True)
            g_own[s:e] = grads[0]
            g_nb.index_add_(0, i.reshape(-1), grads[1].flatten(0, 1))
            g_v.index_add_(0, i.reshape(-1), grads[2].flatten(0, 1))
            for acc, g in zip(g_params, grads[3:]):
                if g is not None:
                    acc += g
        return (None, None, g_own, g_nb, g_v, None, None, None, *g_params)


def _fused_parameters(att) -> list[Tensor]:
    """location_in (H·k, P), (H·k,); the two HeadLinears (H, k, k), (H, k), (H, k, 1), (H, 1)."""
    first, last = att.location_mlp.layers
    return [att.location_in.weight, att.location_in.bias, first.weight, first.bias, last.weight, last.bias]


def _location_head_major(params, pairs: Tensor) -> tuple[Tensor, ...]:
    """The per-head location MLP on n pairs (n, P), head-major: z₁, s₁, z₂, s₂ (H, k, n) and the
    location logits (H, n). z₁ = W_in ℓ + b (per head k rows), s = Swish(z), z₂ = W₂ᵀ s₁ + b₂,
    logit = w₃ᵀ s₂ + b₃ (HeadLinear's weights are (H, a, b), applied as x_a W[h, a, b])."""
    w_in, b_in, w2, b2, w3, b3 = params
    H, k = w2.shape[0], w2.shape[1]
    n = pairs.shape[0]
    z1 = torch.addmm(b_in.unsqueeze(1), w_in, pairs.t()).view(H, k, n)
    s1 = F.silu(z1)
    z2 = torch.baddbmm(b2.unsqueeze(2), w2.transpose(1, 2), s1)
    s2 = F.silu(z2)
    loc = torch.baddbmm(b3.unsqueeze(2), w3.transpose(1, 2), s2).view(H, n)
    return z1, s1, z2, s2, loc


def _fused_block(att, params, own: Tensor, nb: Tensor, v: Tensor, pairs: Tensor, mask: Tensor):
    """One block of the dot-product + location-MLP attention: own (m, H, e), nb (m, K, H, e),
    v (m, K, H, d), pairs (m, K, P), mask (m, K) → (output (m, H, d), weights (m, K, H), the
    location activations)."""
    m, K, H = nb.shape[0], nb.shape[1], nb.shape[2]
    acts = _location_head_major(params, pairs.reshape(m * K, -1))
    content = (nb * own.unsqueeze(1)).sum(-1) * (1.0 / math.sqrt(att.head_dim))  # (m, K, H)
    logits = content + acts[-1].view(H, m, K).permute(1, 2, 0)
    w = att.weights(logits, mask)
    out = (w.unsqueeze(-1) * v).sum(1)
    return out, w, acts


class _FusedAttention(torch.autograd.Function):
    """Dot-product content + per-head location MLP, summed (any normalisation), with the
    backward written out: per block, recompute the location MLP, then
    g_w = ⟨g_o, v_j⟩, g_v_j = w g_o, g_e from the normalisation, g_own / g_nb from the dot
    product, and the MLP's gradients head-major (batched matmuls, Swish' through silu_backward)."""

    @staticmethod
    def forward(ctx, att, per_block, own, nb, v, pairs, idx, mask, *params):
        ctx.att, ctx.per_block = att, per_block
        ctx.save_for_backward(own, nb, v, pairs, idx, mask, *params)
        with torch.no_grad():
            return _forward_blocks(att, own, nb, v, pairs, idx, mask, per_block)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        own, nb, v, pairs, idx, mask, *params = ctx.saved_tensors
        att = ctx.att
        w_in, b_in, w2, b2, w3, b3 = params
        H, k = w2.shape[0], w2.shape[1]
        scale = 1.0 / math.sqrt(att.head_dim)
        g_own, g_nb, g_v = torch.zeros_like(own), torch.zeros_like(nb), torch.zeros_like(v)
        g_params = [torch.zeros_like(p) for p in params]
        g_w_in, g_b_in, g_w2, g_b2, g_w3, g_b3 = g_params
        K = idx.shape[1]
        for s in range(0, idx.shape[0], ctx.per_block):
            e = min(idx.shape[0], s + ctx.per_block)
            i, mk = idx[s:e], mask[s:e]
            m = e - s
            nb_j, v_j, own_i, g_o = nb[i], v[i], own[s:e], grad[s:e]
            ell = pairs[s:e].reshape(m * K, -1)
            _, w, (z1, s1, z2, s2, _) = _fused_block(att, params, own_i, nb_j, v_j, pairs[s:e], mk)
            # outputs o = Σ_j w v_j
            g_wts = (v_j * g_o.unsqueeze(1)).sum(-1)  # (m, K, H)
            g_v.index_add_(0, i.reshape(-1), (w.unsqueeze(-1) * g_o.unsqueeze(1)).flatten(0, 1))
            # normalisation
            mf = mk.unsqueeze(-1).to(w.dtype)
            if att.normalisation == "softmax":
                g_e = w * (g_wts - (w * g_wts).sum(1, keepdim=True))
            elif att.normalisation == "dot-product":
                g_e = g_wts * mf / mf.sum(1, keepdim=True).clamp_min(1)
            else:
                g_e = g_wts * mf
            # content ⟨own_i, nb_j⟩ / √d
            g_c = (g_e * scale).unsqueeze(-1)
            g_own[s:e] = (g_c * nb_j).sum(1)
            g_nb.index_add_(0, i.reshape(-1), (g_c * own_i.unsqueeze(1)).flatten(0, 1))
            # location MLP, head-major
            g_loc = g_e.permute(2, 0, 1).reshape(H, 1, m * K)  # (H, 1, n)
            g_b3 += g_loc.sum(2)
            g_w3.baddbmm_(s2, g_loc.transpose(1, 2))
            g_z2 = torch.ops.aten.silu_backward(w3 * g_loc, z2)  # (H, k, 1)·(H, 1, n)
            g_b2 += g_z2.sum(2)
            g_w2.baddbmm_(s1, g_z2.transpose(1, 2))
            g_z1 = torch.ops.aten.silu_backward(torch.bmm(w2, g_z2), z1).view(H * k, -1)
            g_b_in += g_z1.sum(1)
            g_w_in.addmm_(g_z1, ell)
        return (None, None, g_own, g_nb, g_v, None, None, None, *g_params)
