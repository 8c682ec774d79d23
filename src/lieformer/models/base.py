"""What every lifting model shares: input checks, the lift, and test-time averaging over lifts."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..groups import LieGroup
from ..spaces import HomogeneousSpace, Lifted, check_features, make_space

LIFT_FRAMES = ("random", "centroid")


class LiftingModel(nn.Module):
    """model(coords (B, N, d), values (B, N, c), mask (B, N) | None, *, generator, stabilizer)
    → (B, out_channels). `group` is a group (it acts on its default space, R^d), a space, or a
    name of either ("SE2(alpha=0.2)"); model.space is the space, model.group its group.
    Lifts once with the space (lift_samples stabilizer draws per point; an
    explicit stabilizer (B, N, S, rep, rep) makes the lift deterministic), then forward_lifted.
    In eval mode without an explicit stabilizer the output is averaged over eval_lift_draws
    independent lifts (Monte Carlo estimate of the lift-averaged, exactly invariant model).

    Inputs are cast to the model's dtype. Groups that contain translations see each set centred
    on its mean first (group.centre): no change in exact arithmetic, and float32 stays exact for
    sets far from the origin.

    lift_frame="random" draws the stabilizer from Haar measure (the papers), keyed to each point
    (padding never moves a draw); "centroid" takes it from an equivariant frame of each input set
    (space.frame_stabilizer: the direction to the set's centroid, blended with a moment vector
    near it), which makes the model deterministic and exactly invariant without compensation —
    an option beyond the papers (SE2, SO2, SO3 and trivial-stabilizer groups). A set with a point
    about which it is (nearly) symmetric has no such frame and is refused with a ValueError.

    pair_features: "log" (log(u_i⁻¹u_j), the papers) or "continuous" (group.embed: no jump where
    u_i⁻¹u_j is a rotation by π, which symmetric inputs hit exactly and rounding then sends to
    either side), or "invariants" (the space's complete set of pair invariants, e.g. angle,
    reciprocal product and distance of two rays: independent of the lift draws; spaces that
    declare none refuse it). Default: "continuous" with centroid frames, "log" otherwise."""

    def __init__(self, in_channels: int, out_channels: int, group: "LieGroup | HomogeneousSpace | str",
                 lift_samples: int = 1, eval_lift_draws: int = 1, lift_frame: str = "random",
                 pair_features: str | None = None):
        super().__init__()
        self.space = make_space(group)
        self.group = self.space.group
        if lift_samples < 1 or eval_lift_draws < 1:
            raise ValueError("lift_samples and eval_lift_draws must be >= 1")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.lift_samples, self.eval_lift_draws = lift_samples, eval_lift_draws
        if lift_frame not in LIFT_FRAMES:
            raise ValueError(f"lift_frame must be one of {LIFT_FRAMES}, got {lift_frame!r}")
        if lift_frame == "centroid" and not self.space.has_frames:
            raise ValueError(f"lift_frame='centroid': {self.space!r} has no equivariant frame lift; use random lifts")
        self.lift_frame = lift_frame
        self.pair_features = check_features(pair_features or ("continuous" if lift_frame == "centroid" else "log"))
        self.pair_dim = self.space.pair_dim_of(self.pair_features)

    def _inputs(self, coords: Tensor, values: Tensor, stabilizer: Tensor | None):
        """coords, values (and stabilizer) in the model's floating dtype; clear errors otherwise."""
        name = type(self).__name__
        for what, t in (("coords", coords), ("values", values)):
            if not isinstance(t, Tensor):
                raise ValueError(f"{name}: {what} must be a tensor, got {type(t).__name__}")
            if t.is_complex():
                raise ValueError(f"{name}: {what} must be real, got {t.dtype}")
        if values.dim() != 3 or values.shape[-1] != self.in_channels:
            raise ValueError(f"{name}: values must be (B, N, {self.in_channels}), got {tuple(values.shape)}")
        param = next((p for p in self.parameters() if p.is_floating_point()), None)
        dtype = param.dtype if param is not None else torch.get_default_dtype()
        return coords.to(dtype), values.to(dtype), None if stabilizer is None else stabilizer.to(dtype)

    def forward(self, coords: Tensor, values: Tensor, mask: Tensor | None = None, *, generator=None, stabilizer=None) -> Tensor:
        coords, values, stabilizer = self._inputs(coords, values, stabilizer)
        space = self.space
        S = space.fixed_lift_samples or self.lift_samples
        coords, mask = space.validate(coords, values, mask, S)
        empty = ~mask.any(1)
        if empty.any():
            raise ValueError(
                f"{type(self).__name__}: sample(s) {empty.nonzero().flatten().tolist()} have no valid points (mask all False)"
            )
        coords = space.centre(coords, mask)
        if stabilizer is None and self.lift_frame == "centroid":
            stabilizer = space.frame_stabilizer(coords, mask, S)
        draws = 1 if (self.training or stabilizer is not None) else self.eval_lift_draws
        outs = [self.forward_lifted(space.lift_validated(coords, values, mask, S, generator, stabilizer), generator)
                for _ in range(draws)]
        return outs[0] if draws == 1 else torch.stack(outs).mean(0)

    def forward_lifted(self, lifted: Lifted, generator=None) -> Tensor:
        raise NotImplementedError
