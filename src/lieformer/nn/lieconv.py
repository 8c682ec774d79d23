"""LieConv (Finzi et al. 2020): group convolution over lifted points, and its residual block.

    f'(u_i) = 1/|nbhd(i)| · Σ_{j ∈ nbhd(i)} k_θ(log(u_i⁻¹u_j), q_i, q_j) f(u_j)

with the kernel k_θ factorised as in PointConv: a small MLP ("WeightNet") maps each pair feature
to w_ij ∈ R^m (m = 16), the neighbours are contracted into (c_in × m) per query, and one Linear
maps c_in·m → c_out. No c_in × c_out matrix per pair is ever formed.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..groups.base import Lifted, LieGroup, gather_points
from .neighbourhood import AdaptiveRadius, ball_neighbourhood, farthest_point_subsample, knn_neighbourhood
from .norm import MaskedBatchNorm, NoNorm


class WeightNet(nn.Module):
    """Kernel MLP on pair features (B, M, K, P) → (B, M, K, m): layers × (Linear → BatchNorm over
    the valid pairs → Swish), widths P → hidden → … → m (LieConv: P → 32 → 32 → 16)."""

    def __init__(self, in_dim: int, out_dim: int = 16, hidden: int = 32, layers: int = 3, batchnorm: bool = True):
        super().__init__()
        widths = [in_dim] + [hidden] * (layers - 1) + [out_dim]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.norms = nn.ModuleList(MaskedBatchNorm(b) if batchnorm else NoNorm() for b in widths[1:])
        self.act = nn.SiLU()

    def forward(self, pairs: Tensor, mask: Tensor) -> Tensor:
        """Runs on the valid pairs only (gathered), zeros elsewhere."""
        flat_mask = mask.reshape(-1)
        x = pairs.reshape(-1, pairs.shape[-1])[flat_mask]
        rows = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        for linear, norm in zip(self.linears, self.norms):
            x = self.act(norm(linear(x), rows))
        out = x.new_zeros(flat_mask.shape[0], x.shape[-1]).index_put((flat_mask,), x)
        return out.view(*mask.shape, x.shape[-1])


class LieConv(nn.Module):
    """One LieConv layer on a Lifted set: (optionally) subsample queries by FPS, pick neighbours
    in the group distance, convolve. Values (B, L, c_in) → (B, M, c_out), M = round(ds_frac·L).

    Neighbourhoods are a random `nbhd` of the points inside a ball whose radius adapts during
    training to contain a `fill` fraction of the points, or the `nbhd` nearest with knn=True.
    With mean=True the sum over neighbours is divided by their number *before* the final Linear
    (the original divides after it, bias included; ours keeps the bias a bias).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        group: LieGroup,
        nbhd: int = 32,
        fill: float = 1 / 3,
        ds_frac: float = 1.0,
        knn: bool = False,
        mean: bool = True,
        kernel_dim: int = 16,
        kernel_hidden: int = 32,
        batchnorm: bool = True,
    ):
        super().__init__()
        if nbhd < 1:
            raise ValueError(f"LieConv: nbhd must be >= 1, got {nbhd}")
        if not 0.0 < ds_frac <= 1.0:
            raise ValueError(f"LieConv: ds_frac must lie in (0, 1], got {ds_frac}")
        self.group, self.nbhd, self.ds_frac, self.knn, self.mean = group, nbhd, ds_frac, knn, mean
        self.radius = AdaptiveRadius(min(fill, 1.0))
        self.weightnet = WeightNet(group.pair_dim, kernel_dim, kernel_hidden, batchnorm=batchnorm)
        self.linear = nn.Linear(in_channels * kernel_dim, out_channels)

    def subsample(self, lifted: Lifted, generator=None) -> tuple[Tensor | None, Lifted]:
        """(query indices or None, the query set) by FPS to ds_frac of the valid points."""
        if self.ds_frac >= 1.0:
            return None, lifted
        idx, slot_mask = farthest_point_subsample(self.group, lifted, self.ds_frac, generator)
        queries = lifted.select(idx)
        return idx, queries._replace(mask=queries.mask & slot_mask)

    def neighbourhood(self, lifted: Lifted, query_idx, generator=None):
        if self.knn:
            return knn_neighbourhood(self.group, lifted, self.nbhd, query_idx, generator=generator)
        nb = ball_neighbourhood(self.group, lifted, self.nbhd, float(self.radius.radius), query_idx, generator)
        self.radius.update(nb.fill)
        return nb

    def forward(self, lifted: Lifted, generator=None, query_idx: Tensor | None = None, queries: Lifted | None = None) -> Lifted:
        """Convolve lifted.values at the queries; query_idx/queries from subsample() (computed here
        if not given). Returns the query set carrying the new values (padding zeroed)."""
        if queries is None:
            query_idx, queries = self.subsample(lifted, generator)
        nb = self.neighbourhood(lifted, query_idx, generator)
        mask = nb.mask & queries.mask.unsqueeze(-1)
        pairs = self.group.pair_features(lifted, nb.idx, query_idx)
        w = self.weightnet(pairs, mask)  # (B, M, K, m), zero on invalid pairs
        f = gather_points(lifted.values, nb.idx)  # (B, M, K, c_in)
        agg = (f.transpose(-1, -2) @ w).flatten(2)  # Σ_k f_jc w_jk: (B, M, c_in·m)
        if self.mean:
            agg = agg / mask.sum(-1, keepdim=True).clamp_min(1).to(agg.dtype)
        out = self.linear(agg)
        return queries.with_values(torch.where(queries.mask.unsqueeze(-1), out, torch.zeros((), dtype=out.dtype)))


class BottleBlock(nn.Module):
    """Pre-activation bottleneck residual block (LieConv):
    BN → Swish → Linear(c → c/4) → BN → Swish → LieConv(c/4 → c_out/4) → BN → Swish →
    Linear(c_out/4 → c_out), plus the (subsampled) input added on its first c_in channels."""

    def __init__(self, in_channels: int, out_channels: int, group: LieGroup, batchnorm: bool = True, **conv_kwargs):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError("BottleBlock: out_channels must be >= in_channels (residual on the first c_in channels)")
        norm = (lambda c: MaskedBatchNorm(c)) if batchnorm else (lambda c: NoNorm())
        mid_in, mid_out = max(1, in_channels // 4), max(1, out_channels // 4)
        self.in_channels = in_channels
        self.norm1, self.norm2, self.norm3 = norm(in_channels), norm(mid_in), norm(mid_out)
        self.down = nn.Linear(in_channels, mid_in)
        self.conv = LieConv(mid_in, mid_out, group, batchnorm=batchnorm, **conv_kwargs)
        self.up = nn.Linear(mid_out, out_channels)
        self.act = nn.SiLU()

    def forward(self, lifted: Lifted, generator=None) -> Lifted:
        x, mask = lifted.values, lifted.mask
        h = self.act(self.norm2(self.down(self.act(self.norm1(x, mask))), mask))
        query_idx, queries = self.conv.subsample(lifted, generator)
        h = self.conv(lifted.with_values(h), generator, query_idx, queries.with_values(None))
        out = self.up(self.act(self.norm3(h.values, h.mask)))
        residual = queries.values
        out = torch.cat([out[..., : self.in_channels] + residual, out[..., self.in_channels :]], -1)
        return h.with_values(torch.where(h.mask.unsqueeze(-1), out, torch.zeros((), dtype=out.dtype)))
