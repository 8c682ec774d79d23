"""LieTransformer (Hutchinson et al. 2021): embedding → LieSelfAttention blocks → pooled head."""

from __future__ import annotations

from torch import Tensor, nn

from ..groups import LieGroup
from ..spaces import HomogeneousSpace, Lifted, check_lifted
from ..nn.attention import LieTransformerBlock
from ..nn.neighbourhood import knn_neighbourhood
from ..nn.norm import masked_pool
from .base import LiftingModel


class LieTransformer(LiftingModel):
    """Linear(c_in → dim) → num_layers LieTransformerBlocks → masked pool → head.

    Every lifted point attends to nbhd neighbours: a random nbhd of its ⌊nbhd/fill⌋ nearest in
    the group distance (fill = 1: the nbhd nearest). The neighbourhood and its pair features are
    computed once and shared by all blocks (the points do not move between blocks). Head:
    (LayerNorm → Swish → Linear) twice. Attention variant keywords go to LieSelfAttention.
    The attention's per-pair tensors are never stored (nn.blocked_attention: blocks of queries,
    or the fused C++ kernel, recomputed in the backward pass); checkpoint=True recomputes the
    projections too, saving only the block inputs (BENCHMARKS.md §2).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        group: "LieGroup | HomogeneousSpace | str",
        dim: int = 64,
        num_layers: int = 2,
        heads: int = 4,
        nbhd: int = 16,
        fill: float = 1.0,
        kernel_dim: int = 16,
        content: str = "dot-product",
        location: str = "mlp",
        combination: str = "sum",
        normalisation: str = "softmax",
        norm: str = "layer",
        norm_position: str = "pre",
        pool: str = "mean",
        lift_samples: int = 1,
        eval_lift_draws: int = 1,
        lift_frame: str = "random",
        pair_features: str | None = None,
        checkpoint: bool = False,
    ):
        super().__init__(in_channels, out_channels, group, lift_samples, eval_lift_draws, lift_frame, pair_features)
        if not 0.0 < fill <= 1.0:
            raise ValueError(f"LieTransformer: fill must lie in (0, 1], got {fill}")
        self.nbhd, self.candidates, self.pool = nbhd, int(nbhd / fill), pool
        self.embed = nn.Linear(in_channels, dim)
        attention = dict(heads=heads, content=content, location=location, combination=combination,
                         normalisation=normalisation, kernel_dim=kernel_dim)
        self.blocks = nn.ModuleList(
            LieTransformerBlock(dim, self.pair_dim, norm=norm, norm_position=norm_position, checkpoint=checkpoint,
                                **attention)
            for _ in range(num_layers)
        )
        self.head = nn.Sequential(
            nn.LayerNorm(dim), nn.SiLU(), nn.Linear(dim, dim), nn.LayerNorm(dim), nn.SiLU(), nn.Linear(dim, out_channels)
        )

    def forward_lifted(self, lifted: Lifted, generator=None) -> Tensor:
        check_lifted(lifted, self.space, type(self).__name__)
        nb = knn_neighbourhood(self.space, lifted, self.nbhd, candidates=self.candidates, generator=generator)
        pairs = self.space.pair_features(lifted, nb.idx, features=self.pair_features)
        f = self.embed(lifted.values)
        for block in self.blocks:
            f = block(f, lifted.mask, pairs, nb.idx, nb.mask)
        return self.head(masked_pool(f, lifted.mask, self.pool))
