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
    independent lifts (Monte Carlo estimate of the lift-averaged, exactly invariant model).

    lift_frame="random" draws the stabilizer from Haar measure (the papers); "centroid" takes it
    from an equivariant frame of each input set (group.frame_stabilizer: the direction to the
    set's centroid), which makes the model deterministic and exactly invariant on any input,
    without compensation — an option beyond the papers (SE2, SO3 and trivial-stabilizer groups)."""

    def __init__(self, in_channels: int, out_channels: int, group: "LieGroup | str", lift_samples: int = 1,
                 eval_lift_draws: int = 1, lift_frame: str = "random"):
        super().__init__()
        self.group = make_group(group)
        if lift_samples < 1 or eval_lift_draws < 1:
            raise ValueError("lift_samples and eval_lift_draws must be >= 1")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.lift_samples, self.eval_lift_draws = lift_samples, eval_lift_draws
        if lift_frame not in ("random", "centroid"):
            raise ValueError(f"lift_frame must be 'random' or 'centroid', got {lift_frame!r}")
        if lift_frame == "centroid":
            try:  # fail at construction, not at the first batch
                probe = torch.zeros(1, 2, self.group.space_dim)
                self.group.frame_stabilizer(probe + torch.arange(2.0).view(1, 2, 1) + 1, torch.ones(1, 2, dtype=torch.bool), 1)
            except NotImplementedError as err:
                raise ValueError(f"lift_frame='centroid': {err}") from None
        self.lift_frame = lift_frame

    def forward(self, coords: Tensor, values: Tensor, mask: Tensor | None = None, *, generator=None, stabilizer=None) -> Tensor:
        if values.dim() != 3 or values.shape[-1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__}: values must be (B, N, {self.in_channels}), got {tuple(values.shape)}"
            )
        if stabilizer is None and self.lift_frame == "centroid":
            coords_, mask_ = self.group.validate(coords, values, mask, self.lift_samples)
            stabilizer = self.group.frame_stabilizer(coords_, mask_, self.group.fixed_lift_samples or self.lift_samples)
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
