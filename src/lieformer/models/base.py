"""What every lifting model shares: input checks, the lift, and test-time averaging over lifts."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..groups import LieGroup, make_group
from ..groups.base import Lifted


class LiftingModel(nn.Module):
    """model(coords (B, N, d), values (B, N, c), mask (B, N) | None, *, generator, stabilizer)
    → (B, out_channels). Lifts once with `group` (lift_samples stabilizer draws per point; an
    explicit stabilizer (B, N, S, rep, rep) makes the lift deterministic), then forward_lifted.
    In eval mode without an explicit stabilizer the output is averaged over eval_lift_draws
    independent lifts (Monte Carlo estimate of the lift-averaged, exactly invariant model)."""

    def __init__(self, in_channels: int, out_channels: int, group: "LieGroup | str", lift_samples: int = 1, eval_lift_draws: int = 1):
        super().__init__()
        self.group = make_group(group)
        if lift_samples < 1 or eval_lift_draws < 1:
            raise ValueError("lift_samples and eval_lift_draws must be >= 1")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.lift_samples, self.eval_lift_draws = lift_samples, eval_lift_draws

    def forward(self, coords: Tensor, values: Tensor, mask: Tensor | None = None, *, generator=None, stabilizer=None) -> Tensor:
        if values.dim() != 3 or values.shape[-1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__}: values must be (B, N, {self.in_channels}), got {tuple(values.shape)}"
            )
        draws = 1 if (self.training or stabilizer is not None) else self.eval_lift_draws
        outs = []
        for _ in range(draws):
            lifted = self.group.lift(coords, values, mask, self.lift_samples, generator, stabilizer)
            empty = ~lifted.mask.any(1)
            if empty.any():
                raise ValueError(
                    f"{type(self).__name__}: sample(s) {empty.nonzero().flatten().tolist()} have no valid points (mask all False)"
                )
            outs.append(self.forward_lifted(lifted, generator))
        return outs[0] if draws == 1 else torch.stack(outs).mean(0)

    def forward_lifted(self, lifted: Lifted, generator=None) -> Tensor:
        raise NotImplementedError
