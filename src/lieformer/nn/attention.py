"""LieSelfAttention (Hutchinson et al. 2021) and the LieTransformer block.

For query i, neighbour j and head h the logit combines a content term (from the features f) and a
location term (from the invariant pair feature ℓ_ij = log(u_i⁻¹u_j) ⊕ q_i ⊕ q_j):

    e_ij^h = combine(content_h(f_i, f_j), location_h(ℓ_ij)),   w_ij^h = normalise_j(e_ij^h),
    f'_i = W_O · concat_h Σ_j w_ij^h (W_V f_j)_h.

Every combination of the four choices works (the original ran only the MLP-combination ones):
- content: "dot-product" ⟨W_Q f_i, W_K f_j⟩_h/√d_h (a scalar per head); "linear-concat"
  [W_K f_i, W_Q f_j]_h (2e per head); "linear-concat-linear" the same through a shared 2e → e map.
- location: "mlp" a per-head MLP ℓ → kernel_dim → kernel_dim → 1; "raw" ℓ itself for every head.
- combination: "sum" / "multiply" of the two terms, each first reduced to one scalar per head by
  a learned per-head linear map when it is a vector; "mlp" a per-head MLP on their concatenation.
- normalisation: "softmax" over valid neighbours; "dot-product" divide by their number; "none".
Only the (query, neighbour) pairs of the neighbourhood are ever formed.

Under softmax a term added to all of a query's logits cancels: the last biases of the location
MLP, of the MLP combination and of the location-to-scalar map get no gradient, and with content
"linear-concat"/"linear-concat-linear" and combination "sum" the query-side content term cancels
too, so those variants' weights do not depend on the query's own features (a property of the
variants, as in the original, not of this implementation).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .blocked_attention import DEFAULT_BLOCK_PAIRS, blocked_attention, flat_rows
from .norm import make_norm

CONTENTS = ("dot-product", "linear-concat", "linear-concat-linear")
LOCATIONS = ("mlp", "raw")
COMBINATIONS = ("sum", "multiply", "mlp")
NORMALISATIONS = ("softmax", "dot-product", "none")


def _choice(name: str, value: str, options: tuple[str, ...]) -> str:
    if value not in options:
        raise ValueError(f"LieSelfAttention: unknown {name} {value!r}; choose one of {options}")
    return value


class HeadLinear(nn.Module):
    """Independent linear maps per head: (..., H, a) → (..., H, b)."""

    def __init__(self, heads: int, in_dim: int, out_dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(heads, in_dim, out_dim) / math.sqrt(in_dim))
        self.bias = nn.Parameter(torch.zeros(heads, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        return torch.einsum("...ha,hab->...hb", x, self.weight) + self.bias


class HeadMLP(nn.Module):
    """Per-head MLP (..., H, a) → (..., H, out), Swish between layers."""

    def __init__(self, heads: int, in_dim: int, hidden: int, out_dim: int = 1, layers: int = 3):
        super().__init__()
        widths = [in_dim] + [hidden] * (layers - 1) + [out_dim]
        self.layers = nn.ModuleList(HeadLinear(heads, a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.act = nn.SiLU()

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == 0 else layer(self.act(x))
        return x


class LieSelfAttention(nn.Module):
    """Multi-head self-attention over a group neighbourhood: values (B, L, C) → (B, L, C).

    forward(values, pairs (B, L, K, P), idx (B, L, K), mask (B, L, K)), pairs = pair features of
    each point with its K neighbours idx; mask marks the valid (query, neighbour) pairs.

    The per-pair work runs over blocks of about `block_pairs` (query, neighbour) pairs
    (lieformer.nn.blocked_attention): no per-pair, per-head tensor larger than a block is ever
    held, and training recomputes a block's pair activations in the backward pass. block_pairs=0
    computes every pair at once (the plain path, kept as the reference).
    """

    def __init__(
        self,
        dim: int,
        pair_dim: int,
        heads: int = 8,
        content: str = "dot-product",
        location: str = "mlp",
        combination: str = "sum",
        normalisation: str = "softmax",
        kernel_dim: int = 16,
        block_pairs: int = DEFAULT_BLOCK_PAIRS,
    ):
        super().__init__()
        if dim % heads:
            raise ValueError(f"LieSelfAttention: dim {dim} must be divisible by heads {heads}")
        if block_pairs < 0:
            raise ValueError(f"LieSelfAttention: block_pairs must be >= 0 (0: all pairs at once), got {block_pairs}")
        self.heads, self.head_dim = heads, dim // heads
        self.block_pairs = int(block_pairs)
        self.native = True  # the fused C++ kernel where it applies (False: the PyTorch blocks)
        self.content = _choice("content", content, CONTENTS)
        self.location = _choice("location", location, LOCATIONS)
        self.combination = _choice("combination", combination, COMBINATIONS)
        self.normalisation = _choice("normalisation", normalisation, NORMALISATIONS)
        H = heads
        if content == "dot-product":
            self.to_q, self.to_k = nn.Linear(dim, dim, bias=False), nn.Linear(dim, dim, bias=False)
            content_dim = 1
        else:
            self.to_q, self.to_k = nn.Linear(dim, H * kernel_dim), nn.Linear(dim, H * kernel_dim)
            content_dim = 2 * kernel_dim
            if content == "linear-concat-linear":
                self.content_linear = nn.Linear(2 * kernel_dim, kernel_dim)
                content_dim = kernel_dim
        if location == "mlp":
            self.location_in = nn.Linear(pair_dim, H * kernel_dim)
            self.location_mlp = HeadMLP(H, kernel_dim, kernel_dim, 1, layers=2)
            location_dim = 1
        else:
            location_dim = pair_dim
        if combination == "mlp":
            self.combine_mlp = HeadMLP(H, content_dim + location_dim, kernel_dim, 1)
        else:
            self.content_to_scalar = HeadLinear(H, content_dim, 1) if content_dim > 1 else None
            self.location_to_scalar = HeadLinear(H, location_dim, 1) if location_dim > 1 else None
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def rows(self, values: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """values (B, L, C) → (own, neighbour, value) rows, each (B·L, H, ·): what a point
        contributes as a query (own), as a neighbour in the content term, and as a value."""
        R, H = values.shape[0] * values.shape[1], self.heads
        x = values.reshape(R, -1)
        q, k, v = self.to_q(x).view(R, H, -1), self.to_k(x).view(R, H, -1), self.to_v(x).view(R, H, -1)
        # dot-product: ⟨W_Q f_i, W_K f_j⟩; the concatenations: [W_K f_i, W_Q f_j]
        return (q, k, v) if self.content == "dot-product" else (k, q, v)

    def pair_parameters(self) -> list[nn.Parameter]:
        """The parameters of the per-pair logits (everything but the four projections)."""
        return [p for name, p in self.named_parameters() if not name.startswith(("to_q.", "to_k.", "to_v.", "to_out."))]

    def _content(self, own: Tensor, nb: Tensor) -> Tensor:
        """own (n, H, a), nb (n, K, H, a) → (n, K, H, Dc)."""
        if self.content == "dot-product":
            return torch.einsum("nhe,nkhe->nkh", own, nb).unsqueeze(-1) / math.sqrt(self.head_dim)
        c = torch.cat([own.unsqueeze(1).expand_as(nb), nb], -1)
        return self.content_linear(c) if self.content == "linear-concat-linear" else c

    def _location(self, pairs: Tensor) -> Tensor:
        """(n, K, P) → (n, K, H, Dl)."""
        if self.location == "raw":
            return pairs.unsqueeze(-2).expand(*pairs.shape[:-1], self.heads, pairs.shape[-1])
        x = self.location_in(pairs).unflatten(-1, (self.heads, -1))
        return self.location_mlp(torch.nn.functional.silu(x))

    def pair_logits(self, own: Tensor, nb: Tensor, pairs: Tensor) -> Tensor:
        """e_ij^h (n, K, H) from own rows (n, H, a), neighbour rows (n, K, H, a), pairs (n, K, P)."""
        c, loc = self._content(own, nb), self._location(pairs)
        if self.combination == "mlp":
            return self.combine_mlp(torch.cat([c, loc], -1)).squeeze(-1)
        if self.content_to_scalar is not None:
            c = self.content_to_scalar(c)
        if self.location_to_scalar is not None:
            loc = self.location_to_scalar(loc)
        e = c + loc if self.combination == "sum" else c * loc
        return e.squeeze(-1)

    def weights(self, logits: Tensor, mask: Tensor) -> Tensor:
        """w_ij^h (..., K, H) from logits (..., K, H) and mask (..., K), zero on invalid pairs."""
        m = mask.unsqueeze(-1)
        if self.normalisation == "softmax":
            e = logits.masked_fill(~m, torch.finfo(logits.dtype).min)
            return torch.softmax(e, dim=-2) * m
        w = logits * m
        if self.normalisation == "dot-product":
            w = w / m.sum(-2, keepdim=True).clamp_min(1).to(w.dtype)
        return w

    def pair_outputs(self, own: Tensor, nb: Tensor, v: Tensor, pairs: Tensor, mask: Tensor) -> Tensor:
        """Σ_j w_ij^h v_j^h (n, H, d) for n queries: own (n, H, a), nb (n, K, H, a), v (n, K, H, d),
        pairs (n, K, P), mask (n, K). The plain computation; blocked_attention runs it per block."""
        w = self.weights(self.pair_logits(own, nb, pairs), mask)
        return torch.einsum("nkh,nkhd->nhd", w, v)

    def logits(self, values: Tensor, pairs: Tensor, idx: Tensor) -> Tensor:
        """e_ij^h (B, L, K, H)."""
        B, L, K = idx.shape
        own, nb, _ = self.rows(values)
        rows = flat_rows(idx, L)
        return self.pair_logits(own, nb[rows], pairs.reshape(B * L, K, -1)).view(B, L, K, self.heads)

    def check_inputs(self, values: Tensor, pairs: Tensor, idx: Tensor, mask: Tensor) -> None:
        """Shapes and neighbour indices, checked before any of them reaches a kernel (a bad index
        there would read another sample's memory, not raise)."""
        if values.dim() != 3 or values.shape[-1] != self.to_v.in_features:
            raise ValueError(f"LieSelfAttention: values must be (B, L, {self.to_v.in_features}), got {tuple(values.shape)}")
        B, L, _ = values.shape
        if idx.dim() != 3 or idx.shape[:2] != (B, L) or mask.shape != idx.shape:
            raise ValueError(f"LieSelfAttention: idx and mask must be (B, L, K) = ({B}, {L}, K), got "
                             f"{tuple(idx.shape)} and {tuple(mask.shape)}")
        if pairs.shape[:3] != idx.shape or (self.location == "mlp" and pairs.shape[-1] != self.location_in.in_features):
            raise ValueError(f"LieSelfAttention: pairs must be (B, L, K, P) = {(*idx.shape, 'P')} with P the layer's "
                             f"pair_dim, got {tuple(pairs.shape)}")
        if idx.dtype not in (torch.int64, torch.int32) or mask.dtype != torch.bool:
            raise ValueError(f"LieSelfAttention: idx must be integer and mask bool, got {idx.dtype} and {mask.dtype}")
        outside = mask & ((idx < 0) | (idx >= L))
        if bool(outside.any()):
            b, i, k = outside.nonzero()[0].tolist()
            raise ValueError(f"LieSelfAttention: neighbour index {int(idx[b, i, k])} of point {i} in sample {b} is "
                             f"outside its {L} points")

    def forward(self, values: Tensor, pairs: Tensor, idx: Tensor, mask: Tensor) -> Tensor:
        self.check_inputs(values, pairs, idx, mask)
        B, L, C = values.shape
        K = idx.shape[-1]
        own, nb, v = self.rows(values)
        out = blocked_attention(self, own, nb, v, pairs.reshape(B * L, K, -1), flat_rows(idx, L), mask.reshape(B * L, K), L)
        return self.to_out(out.reshape(B, L, C))


class LieTransformerBlock(nn.Module):
    """Residual block: f += LSA(norm(f)); f += MLP(norm(f)) ("pre"), or
    f = norm(f + LSA(f)); f = norm(f + MLP(f)) ("post"); norm "layer", "batch" or "none".

    The attention keeps no per-pair tensor for the backward pass in any case (blocked_attention
    recomputes them); checkpoint=True also recomputes its (L, dim) projections, storing only the
    block's input. The attention is deterministic, so the recomputation is exact."""

    def __init__(self, dim: int, pair_dim: int, norm: str = "layer", norm_position: str = "pre", mlp_ratio: int = 1,
                 checkpoint: bool = False, **attention):
        super().__init__()
        self.checkpoint = checkpoint
        if norm_position not in ("pre", "post"):
            raise ValueError(f"norm_position must be 'pre' or 'post', got {norm_position!r}")
        self.pre = norm_position == "pre"
        self.attention = LieSelfAttention(dim, pair_dim, **attention)
        self.norm1, self.norm2 = make_norm(norm, dim), make_norm(norm, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * mlp_ratio), nn.SiLU(), nn.Linear(dim * mlp_ratio, dim))

    def attend(self, f: Tensor, pairs: Tensor, idx: Tensor, pair_mask: Tensor) -> Tensor:
        if self.checkpoint and torch.is_grad_enabled():
            return checkpoint(self.attention, f, pairs, idx, pair_mask, use_reentrant=False)
        return self.attention(f, pairs, idx, pair_mask)

    def forward(self, values: Tensor, mask: Tensor, pairs: Tensor, idx: Tensor, pair_mask: Tensor) -> Tensor:
        f = values
        if self.pre:
            f = f + self.attend(self.norm1(f, mask), pairs, idx, pair_mask)
            f = f + self.mlp(self.norm2(f, mask))
        else:
            f = self.norm1(f + self.attend(f, pairs, idx, pair_mask), mask)
            f = self.norm2(f + self.mlp(f), mask)
        return torch.where(mask.unsqueeze(-1), f, torch.zeros((), dtype=f.dtype))
