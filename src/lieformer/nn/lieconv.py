"""LieConv (Finzi et al. 2020): group convolution over lifted points, and its residual block.

    f'(u_i) = 1/|nbhd(i)| · Σ_{j ∈ nbhd(i)} k_θ(log(u_i⁻¹u_j), q_i, q_j) f(u_j)

with the kernel k_θ factorised as in PointConv: a small MLP ("WeightNet") maps each pair feature
to w_ij ∈ R^m (m = 16), the neighbours are contracted into Σ_j w_ij ⊗ f_j (m × c_in) per query,
and one Linear maps c_in·m → c_out. No c_in × c_out matrix per pair is ever formed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..groups.base import LieGroup
from ..spaces.base import HomogeneousSpace, Lifted, check_features, check_lifted
from ..spaces.registry import make_space
from .contraction import contract_neighbours
from .native import weightnet as native_weightnet
from .neighbourhood import ball_neighbourhood, knn_neighbourhood
from .norm import MaskedBatchNorm, NoNorm
from .subsampling import farthest_point_prefix, farthest_point_subsample


#: fewer pair rows than this (QM9's molecules: ~10k a layer) take the PyTorch kernel MLP: there its
#: memory is small and the native kernel's passes and thread starts cost more than they save
NATIVE_WEIGHTNET_MIN_ROWS = 16384


class AdaptiveRadius(nn.Module):
    """A ball radius that tracks a target fill fraction during training (LieConv):
    r ← r + rate·(fill − observed fill), only in training mode; a buffer, saved with the model."""

    def __init__(self, fill: float, initial: float = 2.0, rate: float = 0.5):
        super().__init__()
        if not 0.0 < fill <= 1.0:
            raise ValueError(f"fill must lie in (0, 1], got {fill}")
        self.fill, self.rate = float(fill), float(rate)
        self.register_buffer("radius", torch.tensor(float(initial), dtype=torch.float64))

    def update(self, observed: float) -> None:
        if self.training:
            r = self.radius + self.rate * (self.fill - observed)
            self.radius.copy_(r.clamp_min(1e-6))

    def extra_repr(self) -> str:
        return f"fill={self.fill}, radius={self.radius.item():.4f}"


class WeightNet(nn.Module):
    """Kernel MLP on the valid pair features (n, P) → (n, m): layers × (Linear → BatchNorm →
    Swish), widths P → hidden → … → m (LieConv: P → 32 → 32 → 16).

    Under activation checkpointing `mlp` runs in "deferred" mode (batch statistics returned, not
    written, so a recomputation changes nothing) and `update_running_stats` applies them once.
    """

    def __init__(self, in_dim: int, out_dim: int = 16, hidden: int = 32, layers: int = 3, batchnorm: bool = True):
        super().__init__()
        widths = [in_dim] + [hidden] * (layers - 1) + [out_dim]
        self.out_dim = out_dim
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) for b in widths[1:]) if batchnorm else None

    def mlp(self, x: Tensor, mode: str) -> tuple[Tensor, list[Tensor]]:
        """(n, P) → ((n, m), statistics). mode "eval": running statistics; "train": batch
        statistics, running ones updated in place (one fused pass); "deferred": batch statistics,
        returned as [mean₁, var₁, …] instead of written (safe to recompute under checkpointing).

        On the CPU (float32 / float64, rows that need no gradient, at least
        NATIVE_WEIGHTNET_MIN_ROWS of them) the native kernel (native/weightnet.cpp) runs it,
        keeping only the hidden layers' pre-activations for the backward pass; else, and as the
        reference, the PyTorch layers below (torch_mlp)."""
        if x.shape[0] >= NATIVE_WEIGHTNET_MIN_ROWS and native_weightnet.supported(x, self.linears, self.norms):
            return self._native_mlp(x, mode)
        return self.torch_mlp(x, mode)

    def _native_mlp(self, x: Tensor, mode: str) -> tuple[Tensor, list[Tensor]]:
        train = mode != "eval" and x.shape[0] >= 2
        h, *statistics = _NativeWeightNet.apply(x, train, self, *self._parameters_in_order())
        stats: list[Tensor] = []
        if train:
            n = x.shape[0]
            means, invstds = statistics[: len(self.norms)], statistics[len(self.norms):]
            for bn, mean, invstd in zip(self.norms, means, invstds):
                var = (invstd.pow(-2) - bn.eps) * (n / (n - 1))  # the unbiased variance, as BatchNorm keeps
                stats += [mean.to(x.dtype), var.to(x.dtype)]
            if mode == "train":
                self.update_running_stats(stats)
                stats = []
        return h, stats

    def _parameters_in_order(self) -> list[Tensor]:
        """[W₁, b₁, γ₁, β₁, W₂, …]: each layer's Linear, then its BatchNorm."""
        return [t for lin, bn in zip(self.linears, self.norms) for t in (lin.weight, lin.bias, bn.weight, bn.bias)]

    def torch_mlp(self, x: Tensor, mode: str) -> tuple[Tensor, list[Tensor]]:
        """mlp in PyTorch layers (the reference; the path off the CPU and for rows with gradients)."""
        stats: list[Tensor] = []
        for i, linear in enumerate(self.linears):
            x = linear(x)
            if self.norms is not None:
                bn = self.norms[i]
                if mode == "eval" or x.shape[0] < 2:
                    x = F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
                elif mode == "train":
                    x = F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, True, bn.momentum, bn.eps)
                    bn.num_batches_tracked += 1
                else:
                    var, mean = torch.var_mean(x.detach(), 0, correction=1)
                    stats += [mean, var]
                    x = F.batch_norm(x, None, None, bn.weight, bn.bias, True, 0.0, bn.eps)
            x = F.silu(x)
        return x, stats

    @torch.no_grad()
    def update_running_stats(self, stats: list[Tensor]) -> None:
        if self.norms is None or not stats:
            return
        for bn, mean, var in zip(self.norms, stats[0::2], stats[1::2]):
            bn.running_mean.lerp_(mean.to(bn.running_mean.dtype), bn.momentum)
            bn.running_var.lerp_(var.to(bn.running_var.dtype), bn.momentum)
            bn.num_batches_tracked += 1


class _NativeWeightNet(torch.autograd.Function):
    """WeightNet through native/weightnet.cpp: → (h (n, m), batch means…, batch invstds… (float64,
    training only)). Keeps the rows and the hidden layers' pre-activations; a backward that must itself be
    differentiable (create_graph=True) recomputes the PyTorch layers with the same statistics."""

    @staticmethod
    def forward(ctx, x, train, net, *params):
        h, saved = native_weightnet.forward(x, net.linears, net.norms, train)
        ctx.net, ctx.train, ctx.layers = net, train, len(saved.means)
        ctx.save_for_backward(x, *saved.zs, *saved.means, *saved.invstds)
        outputs = (*saved.means, *saved.invstds) if train else ()
        ctx.mark_non_differentiable(*outputs)
        return (h, *outputs)

    @staticmethod
    def backward(ctx, grad, *_):
        x, *rest = ctx.saved_tensors
        L, net = ctx.layers, ctx.net
        if torch.is_grad_enabled():  # double backward: the differentiable PyTorch layers
            with torch.enable_grad():
                h, _ = net.torch_mlp(x, "deferred" if ctx.train else "eval")
                grads = torch.autograd.grad(h, net._parameters_in_order(), grad, create_graph=True, allow_unused=True)
        else:
            zs, stats = rest[: L - 1], rest[L - 1 :]  # every layer's z but the last
            saved = native_weightnet.Saved(zs, stats[:L], stats[L:])
            grads = native_weightnet.backward(x, net.linears, net.norms, saved, grad, ctx.train)
        return (None, None, None, *grads)


class LieConv(nn.Module):
    """One LieConv layer on a Lifted set: (optionally) subsample queries by FPS, pick neighbours
    in the space's distance, convolve. Values (B, L, c_in) → (B, M, c_out), M = round(ds_frac·L);
    `group` is a group (its default space), a space or a name; points lifted by another space
    are refused.

    Neighbourhoods are a random `nbhd` of the points inside a ball whose radius adapts during
    training to contain a `fill` fraction of the points, or the `nbhd` nearest with knn=True.
    With mean=True the sum over neighbours is divided by their number *before* the final Linear
    (the original divides after it, bias included; ours keeps the bias a bias).
    fps_ordered=True declares the input an FPS result in greedy order (a previous subsampling
    layer's output): its FPS is then its prefix (farthest_point_prefix), with no distances.
    checkpoint=True recomputes the per-pair work (kernel MLP, gather, contraction) in the
    backward pass instead of storing it: training memory O(M·c) instead of O(M·K·hidden).
    pair_features: "log" (the paper), "continuous" (group.embed, no jump at rotations by π) or
    "invariants" (the space's complete pair invariants, independent of the lift draws).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        group: "LieGroup | HomogeneousSpace | str",
        nbhd: int = 32,
        fill: float = 1 / 3,
        ds_frac: float = 1.0,
        knn: bool = False,
        mean: bool = True,
        kernel_dim: int = 16,
        kernel_hidden: int = 32,
        batchnorm: bool = True,
        checkpoint: bool = False,
        fps_ordered: bool = False,
        pair_features: str = "log",
    ):
        super().__init__()
        if nbhd < 1:
            raise ValueError(f"LieConv: nbhd must be >= 1, got {nbhd}")
        if not 0.0 < ds_frac <= 1.0:
            raise ValueError(f"LieConv: ds_frac must lie in (0, 1], got {ds_frac}")
        self.space = make_space(group)
        self.nbhd, self.ds_frac, self.knn, self.mean = nbhd, ds_frac, knn, mean
        self.checkpoint, self.fps_ordered = checkpoint, fps_ordered
        self.radius = AdaptiveRadius(min(fill, 1.0))
        self.pair_features = check_features(pair_features)
        self.weightnet = WeightNet(self.space.pair_dim_of(pair_features), kernel_dim, kernel_hidden, batchnorm=batchnorm)
        self.linear = nn.Linear(in_channels * kernel_dim, out_channels)

    def subsample(self, lifted: Lifted, generator=None) -> tuple[Tensor | None, Lifted]:
        """(query indices or None, the query set) by FPS to ds_frac of the valid points."""
        if self.ds_frac >= 1.0:
            return None, lifted
        if self.fps_ordered:
            idx, slot_mask = farthest_point_prefix(lifted.mask, self.ds_frac)
        else:
            idx, slot_mask = farthest_point_subsample(self.space, lifted, self.ds_frac, generator)
        queries = lifted.select(idx)
        return idx, queries._replace(mask=queries.mask & slot_mask)

    def neighbourhood(self, lifted: Lifted, query_idx, generator=None):
        if self.knn:
            return knn_neighbourhood(self.space, lifted, self.nbhd, query_idx, generator=generator)
        nb = ball_neighbourhood(self.space, lifted, self.nbhd, float(self.radius.radius), query_idx, generator)
        self.radius.update(nb.fill)
        return nb

    def aggregate(self, values: Tensor, idx: Tensor, pairs: Tensor, mask: Tensor, mode: str = "eval") -> tuple[Tensor, ...]:
        """Linear(Σ_k k(ℓ_ij) ⊗ f_j over the valid neighbours): (B, M, c_out), then WeightNet statistics.

        values (B, L, c_in), idx / mask (B, M, K), pairs (B, M, K, P). The kernel MLP runs on
        the valid pairs only; nn.contraction sums them against the neighbours' features.
        """
        flat = mask.reshape(-1)
        rows = pairs.reshape(-1, pairs.shape[-1])
        w, stats = self.weightnet.mlp(rows if bool(flat.all()) else rows[flat], mode)
        # self.linear's weight is laid out (c_out, c_in·m) as in the original; the sums are m-major
        c_out, m = self.linear.out_features, self.weightnet.out_dim
        weight = self.linear.weight.view(c_out, -1, m).transpose(1, 2).reshape(c_out, -1)
        out = contract_neighbours(values, w, idx, mask, self.mean, linear=(weight, self.linear.bias))
        return (out, *stats)

    def forward(self, lifted: Lifted, generator=None, query_idx: Tensor | None = None, queries: Lifted | None = None) -> Lifted:
        """Convolve lifted.values at the queries; query_idx/queries from subsample() (computed here
        if not given). Returns the query set carrying the new values (padding zeroed)."""
        check_lifted(lifted, self.space, "LieConv")
        if queries is None:
            query_idx, queries = self.subsample(lifted, generator)
        nb = self.neighbourhood(lifted, query_idx, generator)
        mask = nb.mask & queries.mask.unsqueeze(-1)
        pairs = self.space.pair_features(lifted, nb.idx, query_idx, features=self.pair_features)
        if self.checkpoint and self.training and torch.is_grad_enabled():
            out, *stats = checkpoint(self.aggregate, lifted.values, nb.idx, pairs, mask, "deferred", use_reentrant=False)
            self.weightnet.update_running_stats(stats)
        else:
            out, *_ = self.aggregate(lifted.values, nb.idx, pairs, mask, "train" if self.training else "eval")
        return queries.with_values(torch.where(queries.mask.unsqueeze(-1), out, torch.zeros((), dtype=out.dtype)))


class BottleBlock(nn.Module):
    """Pre-activation bottleneck residual block (LieConv):
    BN → Swish → Linear(c → c/4) → BN → Swish → LieConv(c/4 → c_out/4) → BN → Swish →
    Linear(c_out/4 → c_out), plus the (subsampled) input added on its first c_in channels."""

    def __init__(self, in_channels: int, out_channels: int, group: "LieGroup | HomogeneousSpace | str",
                 batchnorm: bool = True, **conv_kwargs):
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

    def forward(self, lifted: Lifted, generator=None) -> Lifted:
        x, mask = lifted.values, lifted.mask
        h = self.norm2.swish(self.norm1.swish(x, mask, self.down), mask)
        query_idx, queries = self.conv.subsample(lifted, generator)
        h = self.conv(lifted.with_values(h), generator, query_idx, queries.with_values(None))
        out = self.norm3.swish(h.values, h.mask, self.up)
        residual = queries.values
        out = torch.cat([out[..., : self.in_channels] + residual, out[..., self.in_channels :]], -1)
        return h.with_values(torch.where(h.mask.unsqueeze(-1), out, torch.zeros((), dtype=out.dtype)))
