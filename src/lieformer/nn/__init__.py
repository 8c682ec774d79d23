"""Layers on lifted points: neighbourhoods (grid-pruned search), FPS subsampling, LieConv,
LieSelfAttention, norms, pooling."""

from .attention import LieSelfAttention, LieTransformerBlock
from .lieconv import AdaptiveRadius, BottleBlock, LieConv, WeightNet
from .neighbourhood import Neighbourhood, ball_neighbourhood, knn_neighbourhood
from .norm import MaskedBatchNorm, MaskedLayerNorm, masked_pool
from .subsampling import farthest_point_prefix, farthest_point_subsample

__all__ = [
    "AdaptiveRadius", "BottleBlock", "LieConv", "LieSelfAttention", "LieTransformerBlock", "MaskedBatchNorm",
    "MaskedLayerNorm", "Neighbourhood", "WeightNet", "ball_neighbourhood", "farthest_point_prefix", "farthest_point_subsample",
    "knn_neighbourhood", "masked_pool",
]
