"""Normalisation and pooling that see only valid (unmasked) points."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MaskedBatchNorm(nn.Module):
    """BatchNorm over the last (channel) dimension of x (..., C), statistics from entries where
    mask (...) is True only: padding neither shifts the statistics nor receives them.

    Training: biased batch variance for the output, unbiased for the running estimate (as
    nn.BatchNorm1d); evaluation: running statistics.
    """

    def __init__(self, channels: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        if self.training:
            m = mask.unsqueeze(-1).to(x.dtype)
            n = m.sum().clamp_min(1)
            dims = tuple(range(x.dim() - 1))
            mean = (x * m).sum(dims) / n
            var = (((x - mean) ** 2) * m).sum(dims) / n
            with torch.no_grad():
                unbiased = var * n / (n - 1).clamp_min(1)
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), self.momentum)
                self.running_var.lerp_(unbiased.detach().to(self.running_var.dtype), self.momentum)
        else:
            mean, var = self.running_mean.to(x.dtype), self.running_var.to(x.dtype)
        y = (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias
        return torch.where(mask.unsqueeze(-1), y, torch.zeros((), dtype=y.dtype, device=y.device))


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
