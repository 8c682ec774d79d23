"""Set Transformer baseline (Lee et al. 2019): permutation-invariant, not group-equivariant.

Encoder: SAB blocks (self-attention over the set); PMA pools onto k learned seed vectors;
decoder: SAB blocks over the seeds; the seeds are flattened into the output. Padding points are
masked out of every attention. The input per point is [x, values]: coordinates are plain
features here, which is exactly why it is not invariant to rotations and translations.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MAB(nn.Module):
    """Multihead attention block: H = LN(Q + Attn(Q, K, K)); out = LN(H + FF(H))."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))

    def forward(self, q: Tensor, k: Tensor, key_padding: Tensor | None = None) -> Tensor:
        h = self.norm1(q + self.attention(q, k, k, key_padding_mask=key_padding, need_weights=False)[0])
        return self.norm2(h + self.ff(h))


class SetTransformer(nn.Module):
    """model(coords (B, N, d), values (B, N, c), mask (B, N)) → (B, out_channels).

    in_channels counts the values only; space_dim the coordinates (2 for constellations).
    """

    #: built with no group (tasks.base.network_call): it is the non-equivariant baseline
    takes_group = False

    def __init__(self, in_channels: int, out_channels: int, space_dim: int = 2, dim: int = 128, heads: int = 4,
                 encoder_blocks: int = 4, seeds: int = 4, decoder_blocks: int = 4):
        super().__init__()
        self.in_channels, self.space_dim = in_channels, space_dim
        self.embed = nn.Linear(space_dim + in_channels, dim)
        self.encoder = nn.ModuleList(MAB(dim, heads) for _ in range(encoder_blocks))
        self.seeds = nn.Parameter(torch.randn(1, seeds, dim) / dim**0.5)
        self.pool = MAB(dim, heads)
        self.decoder = nn.ModuleList(MAB(dim, heads) for _ in range(decoder_blocks))
        self.head = nn.Linear(seeds * dim, out_channels)

    def forward(self, coords: Tensor, values: Tensor, mask: Tensor | None = None, *, generator=None, stabilizer=None) -> Tensor:
        if coords.dim() != 3 or coords.shape[-1] != self.space_dim:
            raise ValueError(f"SetTransformer: coords must be (B, N, {self.space_dim}), got {tuple(coords.shape)}")
        if values.shape[:2] != coords.shape[:2] or values.shape[-1] != self.in_channels:
            raise ValueError(f"SetTransformer: values must be (B, N, {self.in_channels}), got {tuple(values.shape)}")
        mask = torch.ones(coords.shape[:2], dtype=torch.bool, device=coords.device) if mask is None else mask
        if not mask.any(1).all():
            raise ValueError("SetTransformer: a sample has no valid points (mask all False)")
        x = torch.where(mask.unsqueeze(-1), torch.cat([coords, values], -1), 0.0)
        h = self.embed(x)
        padding = ~mask
        for block in self.encoder:
            h = block(h, h, padding)
        s = self.pool(self.seeds.expand(len(h), -1, -1), h, padding)
        for block in self.decoder:
            s = block(s, s)
        return self.head(s.flatten(1))
