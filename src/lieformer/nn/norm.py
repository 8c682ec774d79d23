"""Normalisation and pooling that see only valid (unmasked) points."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MaskedBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the last (channel) dimension of x (..., C) with statistics from the entries
    where mask (...) is True only: padding neither shifts the statistics nor receives them.

    The valid rows are gathered and go through the fused nn.BatchNorm1d kernel (biased batch
    variance for the output, unbiased for the running estimate); padding outputs are zero. With
    fewer than two valid rows in training the running statistics are used.
    """

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:  # type: ignore[override]
        flat = x.reshape(-1, x.shape[-1])
        rows = mask.reshape(-1)
        if bool(rows.all()):
            return super().forward(flat).view_as(x)
        valid = flat[rows]
        if self.training and valid.shape[0] < 2:
            out = nn.functional.batch_norm(valid, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        else:
            out = super().forward(valid)
        return flat.new_zeros(flat.shape).index_put((rows,), out).view_as(x)


class MaskedLayerNorm(nn.LayerNorm):
    """LayerNorm per point (no cross-point statistics); padding outputs are zeroed."""

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return torch.where(mask.unsqueeze(-1), super().forward(x), torch.zeros((), dtype=x.dtype, device=x.device))


class NoNorm(nn.Module):
    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return x


def make_norm(kind: str, channels: int) -> nn.Module:
    """'batch' → MaskedBatchNorm, 'layer' → MaskedLayerNorm, 'none' → identity."""
    kinds = {"batch": MaskedBatchNorm, "layer": MaskedLayerNorm, "none": lambda c: NoNorm()}
    if kind not in kinds:
        raise ValueError(f"unknown norm {kind!r}; choose one of {sorted(kinds)}")
    return kinds[kind](channels)


POOLS = ("mean", "sum", "max")


def masked_pool(x: Tensor, mask: Tensor, kind: str = "mean") -> Tensor:
    """Pool x (B, L, C) over valid points (mask (B, L)) → (B, C): mean, sum or max."""
    m = mask.unsqueeze(-1)
    if kind == "sum":
        return (x * m).sum(1)
    if kind == "mean":
        return (x * m).sum(1) / m.sum(1).clamp_min(1)
    if kind == "max":
        return torch.where(m, x, torch.finfo(x.dtype).min).amax(1)
    raise ValueError(f"unknown pooling {kind!r}; choose one of {POOLS}")
