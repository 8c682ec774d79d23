"""Layers on lifted points: neighbourhoods and FPS, LieConv, LieSelfAttention, norms, pooling."""

from .attention import LieSelfAttention, LieTransformerBlock
from .lieconv import BottleBlock, LieConv, WeightNet
from .neighbourhood import (
    AdaptiveRadius, Neighbourhood, ball_neighbourhood, farthest_point_prefix, farthest_point_subsample,
    knn_neighbourhood,
)
from .norm import MaskedBatchNorm, MaskedLayerNorm, masked_pool

__all__ = [
    "AdaptiveRadius", "BottleBlock", "LieConv", "LieSelfAttention", "LieTransformerBlock", "MaskedBatchNorm",
    "MaskedLayerNorm", "Neighbourhood", "WeightNet", "ball_neighbourhood", "farthest_point_prefix", "farthest_point_subsample",
    "knn_neighbourhood", "masked_pool",
]
