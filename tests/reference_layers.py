"""Slow, plain references for what lieformer's layers compute, written for the tests.

Each function loops over batch rows, queries, heads and neighbours and spells every formula out
(Linear as W·x + b, Swish as x·σ(x), BatchNorm and LayerNorm from their definitions). They take a
layer only to read its parameters (weights, biases, BatchNorm buffers); none of the layer's own
methods, nor any lieformer helper beyond the group maths (pair features), is called. The
definitions are those of DESIGN.md §4 and REFERENCE.md (LieConv's WeightNet and PointConv
contraction; LieSelfAttention's content × location × combination × normalisation).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def swish(x: Tensor) -> Tensor:
    return x * torch.sigmoid(x)


def affine(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """x @ Wᵀ + b for one vector x (a,) and an nn.Linear-layout weight (b, a)."""
    y = weight @ x
    return y if bias is None else y + bias


# ----------------------------------------------------------------------------------------- LieConv
def reference_weightnet(weightnet, rows: list[Tensor], training: bool):
    """WeightNet on a list of pair features (each (P,)): per layer Linear → BatchNorm → Swish.

    BatchNorm in training uses the mean and biased variance over *these rows only* (the valid
    pairs of the whole batch) and returns the running statistics it would write (momentum,
    unbiased variance); in eval it uses the running statistics. Returns (kernel values, new
    running statistics [(mean, var), …] or None).
    """
    xs = [r.clone() for r in rows]
    new_stats = [] if training else None
    for i, linear in enumerate(weightnet.linears):
        xs = [affine(x, linear.weight, linear.bias) for x in xs]
        if weightnet.norms is not None:
            bn = weightnet.norms[i]
            if training:
                n = len(xs)
                mean = sum(xs) / n
                var_biased = sum((x - mean) ** 2 for x in xs) / n
                var_unbiased = var_biased * n / (n - 1)
                mom = bn.momentum
                new_stats.append(((1 - mom) * bn.running_mean + mom * mean, (1 - mom) * bn.running_var + mom * var_unbiased))
            else:
                mean, var_biased = bn.running_mean, bn.running_var
            xs = [(x - mean) / torch.sqrt(var_biased + bn.eps) * bn.weight + bn.bias for x in xs]
        xs = [swish(x) for x in xs]
    return xs, new_stats


@torch.no_grad()
def reference_lieconv(conv, values: Tensor, pairs: Tensor, idx: Tensor, pair_mask: Tensor, query_mask: Tensor,
                      training: bool = False):
    """LieConv at M queries with K neighbours each, given explicitly:

        f'_i = Lin( 1/|nbhd(i)| · Σ_{j valid} w(ℓ_ij) ⊗ f_j ),   w = WeightNet(ℓ_ij) ∈ R^m,

    the outer product w ⊗ f_j laid out c_in-major (index c·m + a) as the original's
    (c_in × nbhd) @ (nbhd × m) product flattens it, then one Linear(c_in·m → c_out). Padding
    queries give zeros, a valid query with no valid neighbour gives the bias.

    values (B, L, c_in), pairs (B, M, K, P), idx (B, M, K), pair_mask (B, M, K) (only pairs of
    valid queries may be True), query_mask (B, M). Returns (out (B, M, c_out), new BatchNorm
    running statistics or None).
    """
    B, M, K = idx.shape
    c_in = values.shape[-1]
    positions = [(b, i, k) for b in range(B) for i in range(M) for k in range(K) if pair_mask[b, i, k]]
    kernels, stats = reference_weightnet(conv.weightnet, [pairs[b, i, k] for b, i, k in positions], training)
    kernel_of = dict(zip(positions, kernels))
    m = conv.weightnet.out_dim
    c_out = conv.linear.out_features
    out = values.new_zeros(B, M, c_out)
    for b in range(B):
        for i in range(M):
            if not query_mask[b, i]:
                continue
            acc = values.new_zeros(c_in, m)  # Σ_j f_j ⊗ w_ij, (c_in, m)
            count = 0
            for k in range(K):
                if pair_mask[b, i, k]:
                    f_j = values[b, idx[b, i, k]]
                    acc = acc + torch.outer(f_j, kernel_of[(b, i, k)])
                    count += 1
            if conv.mean and count:
                acc = acc / count
            out[b, i] = affine(acc.reshape(c_in * m), conv.linear.weight, conv.linear.bias)
    return out, stats


# -------------------------------------------------------------------------------- LieSelfAttention
def _head_linear(layer, h: int, x: Tensor) -> Tensor:
    """HeadLinear's map for head h: x (a,) → (b,), weight (H, a, b)."""
    return x @ layer.weight[h] + layer.bias[h]


def _head_mlp(mlp, h: int, x: Tensor) -> Tensor:
    """HeadMLP for head h: layer₀(x), then Swish → layerᵢ for the others."""
    for i, layer in enumerate(mlp.layers):
        x = _head_linear(layer, h, x if i == 0 else swish(x))
    return x


def attention_logit(att, f_i: Tensor, f_j: Tensor, pair: Tensor, h: int) -> Tensor:
    """e_ij^h = combine(content_h(f_i, f_j), location_h(ℓ_ij)) for one (query, neighbour, head)."""
    H = att.heads
    # content
    if att.content == "dot-product":
        d = att.head_dim
        q = affine(f_i, att.to_q.weight, att.to_q.bias)[h * d:(h + 1) * d]
        k = affine(f_j, att.to_k.weight, att.to_k.bias)[h * d:(h + 1) * d]
        content = (q * k).sum().reshape(1) / math.sqrt(d)
    else:
        e = att.to_k.out_features // H
        k_i = affine(f_i, att.to_k.weight, att.to_k.bias)[h * e:(h + 1) * e]  # [W_K f_i, W_Q f_j]
        q_j = affine(f_j, att.to_q.weight, att.to_q.bias)[h * e:(h + 1) * e]
        content = torch.cat([k_i, q_j])
        if att.content == "linear-concat-linear":
            content = affine(content, att.content_linear.weight, att.content_linear.bias)
    # location
    if att.location == "mlp":
        e = att.location_in.out_features // H
        x = swish(affine(pair, att.location_in.weight, att.location_in.bias)[h * e:(h + 1) * e])
        location = _head_mlp(att.location_mlp, h, x)
    else:
        location = pair
    # combination
    if att.combination == "mlp":
        return _head_mlp(att.combine_mlp, h, torch.cat([content, location]))[0]
    c = _head_linear(att.content_to_scalar, h, content)[0] if content.numel() > 1 else content[0]
    loc = _head_linear(att.location_to_scalar, h, location)[0] if location.numel() > 1 else location[0]
    return c + loc if att.combination == "sum" else c * loc


def attention_weights(logits: list[Tensor], normalisation: str) -> list[Tensor]:
    """Weights over one query's valid neighbours (one head): softmax, divide by their number, or as is."""
    if not logits:
        return []
    if normalisation == "softmax":
        top = max(float(e) for e in logits)
        exps = [torch.exp(e - top) for e in logits]
        total = sum(exps)
        return [x / total for x in exps]
    if normalisation == "dot-product":
        return [e / len(logits) for e in logits]
    return list(logits)


@torch.no_grad()
def reference_attention(att, values: Tensor, pairs: Tensor, idx: Tensor, mask: Tensor) -> Tensor:
    """LieSelfAttention: f'_i = W_O · concat_h Σ_{j valid} w_ij^h (W_V f_j)_h + b_O.

    values (B, L, C), pairs (B, L, K, P), idx (B, L, K), mask (B, L, K) → (B, L, C).
    """
    B, L, C = values.shape
    K = idx.shape[-1]
    H, d = att.heads, att.head_dim
    out = values.new_zeros(B, L, C)
    for b in range(B):
        for i in range(L):
            heads = []
            for h in range(H):
                valid = [k for k in range(K) if mask[b, i, k]]
                logits = [attention_logit(att, values[b, i], values[b, idx[b, i, k]], pairs[b, i, k], h) for k in valid]
                weights = attention_weights(logits, att.normalisation)
                acc = values.new_zeros(d)
                for k, w in zip(valid, weights):
                    v_j = affine(values[b, idx[b, i, k]], att.to_v.weight, att.to_v.bias)[h * d:(h + 1) * d]
                    acc = acc + w * v_j
                heads.append(acc)
            out[b, i] = affine(torch.cat(heads), att.to_out.weight, att.to_out.bias)
    return out


# ----------------------------------------------------------------------------- dense LieTransformer
def layer_norm(x: Tensor, norm) -> Tensor:
    """LayerNorm over the last axis from its definition (biased variance), norm's weight and bias."""
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


@torch.no_grad()
def dense_lietransformer(model, coords: Tensor, values: Tensor, mask: Tensor, stabilizer: Tensor) -> Tensor:
    """The LieTransformer with every lifted point attending to every valid one, in dense (B, H, L, L)
    matrices: layer-pre blocks, dot-product content, MLP location, sum or multiply, any
    normalisation; masked mean or sum pooling; head (LayerNorm → Swish → Linear) × 2.

    The lift and the all-pairs pair features come from the group (the group maths); nothing else
    from lieformer runs here.
    """
    group = model.group
    lifted = group.lift(coords, values, mask, model.lift_samples, stabilizer=stabilizer)
    B, L = lifted.mask.shape
    pairs = group.pair_features(lifted, torch.arange(L).expand(B, L, L))  # (B, L, L, P)
    valid = lifted.mask
    pair_mask = (valid[:, :, None] & valid[:, None, :])[:, None]  # (B, 1, L, L)
    f = lifted.values @ model.embed.weight.T + model.embed.bias
    for block in model.blocks:
        att = block.attention
        assert (att.content, att.location) == ("dot-product", "mlp") and block.pre
        H, d = att.heads, att.head_dim
        x = torch.where(valid[..., None], layer_norm(f, block.norm1), 0.0)
        q = (x @ att.to_q.weight.T).view(B, L, H, d).transpose(1, 2)
        k = (x @ att.to_k.weight.T).view(B, L, H, d).transpose(1, 2)
        v = (x @ att.to_v.weight.T).view(B, L, H, d).transpose(1, 2)
        content = q @ k.transpose(-1, -2) / math.sqrt(d)  # (B, H, L, L)
        hidden = swish(pairs @ att.location_in.weight.T + att.location_in.bias).unflatten(-1, (H, -1))  # (B, L, L, H, e)
        for n, layer in enumerate(att.location_mlp.layers):
            hidden = torch.einsum("xlmha,hac->xlmhc", hidden if n == 0 else swish(hidden), layer.weight) + layer.bias
        location = hidden[..., 0].permute(0, 3, 1, 2)  # (B, H, L, L)
        logits = content + location if att.combination == "sum" else content * location
        if att.normalisation == "softmax":
            w = torch.softmax(logits.masked_fill(~pair_mask, -math.inf), -1).nan_to_num(0.0)
        elif att.normalisation == "dot-product":
            w = logits * pair_mask / pair_mask.sum(-1, keepdim=True).clamp_min(1)
        else:
            w = logits * pair_mask
        attended = (w @ v).transpose(1, 2).reshape(B, L, H * d)
        f = f + attended @ att.to_out.weight.T + att.to_out.bias
        hmid = torch.where(valid[..., None], layer_norm(f, block.norm2), 0.0)
        lin1, lin2 = block.mlp[0], block.mlp[2]
        f = f + swish(hmid @ lin1.weight.T + lin1.bias) @ lin2.weight.T + lin2.bias
        f = torch.where(valid[..., None], f, 0.0)
    m = valid[..., None].to(f.dtype)
    pooled = (f * m).sum(1)
    if model.pool == "mean":
        pooled = pooled / m.sum(1)
    head = model.head
    h = swish(layer_norm(pooled, head[0])) @ head[2].weight.T + head[2].bias
    return swish(layer_norm(h, head[3])) @ head[5].weight.T + head[5].bias
