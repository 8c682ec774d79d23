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
        return self._masked(x, mask, swish=False)

    def swish(self, x: Tensor, mask: Tensor, linear: nn.Linear | None = None) -> Tensor:
        """Swish(BatchNorm(x)) (padding 0), then `linear` if given (on every row, padding too),
        keeping only x and the statistics for the backward pass, which recomputes the normalised
        values and the activations: two or three (…, C) tensors fewer than the separate layers keep."""
        return self._masked(x, mask, swish=True, linear=linear)

    def _masked(self, x: Tensor, mask: Tensor, swish: bool, linear: nn.Linear | None = None) -> Tensor:
        flat = x.reshape(-1, x.shape[-1])
        rows = mask.reshape(-1)
        every = bool(rows.all())
        valid = flat if every else flat[rows]
        lean = swish and self.affine and self.track_running_stats and self.momentum is not None
        if lean and not (self.training and valid.shape[0] < 2):
            if self.training:
                self.num_batches_tracked += 1
            lin = (None, None) if linear is None else (linear.weight, linear.bias)
            out = _BatchNormSwish.apply(valid, self.weight, self.bias, self.running_mean, self.running_var,
                                        self.training, self.momentum, self.eps, None if every else rows, *lin)
            return out.view(*x.shape[:-1], out.shape[-1])
        if self.training and valid.shape[0] < 2:  # too few rows for batch statistics: the running ones
            out = nn.functional.batch_norm(valid, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        else:
            out = super().forward(valid)
        out = nn.functional.silu(out) if swish else out
        out = out.view_as(x) if every else flat.new_zeros(flat.shape).index_put((rows,), out).view_as(x)
        return out if linear is None else linear(out)


class _BatchNormSwish(torch.autograd.Function):
    """silu(batch_norm(x)) for the valid rows x (n, C), put back among the padding rows (zeros)
    when rows (N,) is given, then F.linear(·, lin_weight, lin_bias) if lin_weight is given;
    running statistics updated as BatchNorm does. Saves x and the batch statistics only (the
    backward recomputes the rest). A backward that must be differentiable (create_graph=True)
    recomputes the layers under autograd."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps, rows, lin_weight, lin_bias):
        y, mean, invstd = torch.native_batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps)
        if not training:  # evaluation: the running statistics are the ones applied
            mean, invstd = running_mean, (running_var + eps).rsqrt()
        ctx.training, ctx.eps = training, eps
        ctx.save_for_backward(x, weight, bias, running_mean, running_var, mean, invstd, rows, lin_weight, lin_bias)
        return _BatchNormSwish.tail(nn.functional.silu(y), rows, lin_weight, lin_bias)

    @staticmethod
    def tail(h, rows, lin_weight, lin_bias):
        if rows is not None:
            h = h.new_zeros(rows.shape[0], h.shape[1]).index_put((rows,), h)
        return h if lin_weight is None else nn.functional.linear(h, lin_weight, lin_bias)

    @staticmethod
    def backward(ctx, grad):
        x, weight, bias, running_mean, running_var, mean, invstd, rows, lin_weight, lin_bias = ctx.saved_tensors
        inputs = (x, weight, bias, lin_weight, lin_bias)
        if torch.is_grad_enabled():  # double backward: the layers under autograd, these statistics
            stats = (None, None) if ctx.training else (running_mean, running_var)
            y = nn.functional.batch_norm(x, *stats, weight, bias, ctx.training, 0.0, ctx.eps)
            out = _BatchNormSwish.tail(nn.functional.silu(y), rows, lin_weight, lin_bias)
            wanted = [t for t in inputs if t is not None and t.requires_grad]
            found = iter(torch.autograd.grad(out, wanted, grad, create_graph=True))
            gx, gw, gb, glw, glb = (next(found) if t is not None and t.requires_grad else None for t in inputs)
            return gx, gw, gb, None, None, None, None, None, None, glw, glb
        scale = invstd * weight
        y = torch.addcmul(bias - mean * scale, x, scale)
        glw = glb = None
        if lin_weight is not None:
            flat = grad.reshape(-1, grad.shape[-1])
            h = _BatchNormSwish.tail(nn.functional.silu(y), rows, None, None)
            glw = flat.t() @ h
            glb = flat.sum(0) if lin_bias is not None else None
            grad = flat @ lin_weight
        if rows is not None:
            grad = grad[rows]
        dy = torch.ops.aten.silu_backward(grad, y)
        dx, dw, db = torch.ops.aten.native_batch_norm_backward(
            dy, x, weight, running_mean, running_var, mean if ctx.training else None,
            invstd if ctx.training else None, ctx.training, ctx.eps, [True, True, True])
        return dx, dw, db, None, None, None, None, None, None, glw, glb


class MaskedLayerNorm(nn.LayerNorm):
    """LayerNorm per point (no cross-point statistics); padding outputs are zeroed."""

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return torch.where(mask.unsqueeze(-1), super().forward(x), torch.zeros((), dtype=x.dtype, device=x.device))


class NoNorm(nn.Module):
    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return x

    def swish(self, x: Tensor, mask: Tensor, linear: nn.Linear | None = None) -> Tensor:
        h = nn.functional.silu(x)
        return h if linear is None else linear(h)


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
