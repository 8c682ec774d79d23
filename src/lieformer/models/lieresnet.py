"""LieResNet (Finzi et al. 2020): embedding → BottleBlocks with FPS downsampling → pooled head."""

from __future__ import annotations

from torch import Tensor, nn

from ..groups import LieGroup
from ..spaces import HomogeneousSpace, Lifted
from ..nn.lieconv import BottleBlock
from ..nn.norm import MaskedBatchNorm, NoNorm, masked_pool
from .base import LiftingModel


class LieResNet(LiftingModel):
    """Linear(c_in → k) → num_layers BottleBlocks → BN → Swish → Linear(→ out) → masked pool.

    Layer i keeps ds_frac = total_ds^(1/num_layers) of its input points (FPS), uses the fill
    fill/ds_frac^i (so neighbourhoods keep their size as points thin out) and widens its
    channels to k/ds_frac^(i/2) — the LieConv image model; total_ds = 1 keeps every point and
    k fixed (the molecule model). Same constructor whatever the group. Only the first layer runs
    FPS; later layers take prefixes of its greedy order, which is the FPS of their input
    (farthest_point_prefix) — one greedy loop per forward instead of num_layers.
    checkpoint=True recomputes each LieConv's per-pair work in the backward pass (less memory).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        group: "LieGroup | HomogeneousSpace | str",
        k: int = 64,
        num_layers: int = 2,
        nbhd: int = 16,
        fill: float = 1 / 3,
        total_ds: float = 1.0,
        knn: bool = False,
        batchnorm: bool = True,
        mean: bool = True,
        pool: str = "mean",
        lift_samples: int = 1,
        eval_lift_draws: int = 1,
        lift_frame: str = "random",
        pair_features: str | None = None,
        checkpoint: bool = False,
    ):
        super().__init__(in_channels, out_channels, group, lift_samples, eval_lift_draws, lift_frame, pair_features)
        if not 0.0 < total_ds <= 1.0:
            raise ValueError(f"LieResNet: total_ds must lie in (0, 1], got {total_ds}")
        ds = total_ds ** (1 / num_layers)
        widths = [int(k / ds ** (i / 2)) for i in range(num_layers + 1)]
        self.pool = pool
        self.embed = nn.Linear(in_channels, widths[0])
        self.blocks = nn.ModuleList(
            BottleBlock(
                widths[i], widths[i + 1], self.space, batchnorm=batchnorm,
                nbhd=nbhd, fill=min(1.0, fill / ds**i), ds_frac=ds, knn=knn, mean=mean,
                checkpoint=checkpoint, fps_ordered=i > 0 and ds < 1, pair_features=self.pair_features,
            )
            for i in range(num_layers)
        )
        self.norm = MaskedBatchNorm(widths[-1]) if batchnorm else NoNorm()
        self.head = nn.Linear(widths[-1], out_channels)

    def forward_lifted(self, lifted: Lifted, generator=None) -> Tensor:
        x = lifted.with_values(self.embed(lifted.values))
        for block in self.blocks:
            x = block(x, generator)
        out = self.norm.swish(x.values, x.mask, self.head)
        return masked_pool(out, x.mask, self.pool)
