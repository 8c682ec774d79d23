"""Models: LieResNet (LieConv) and LieTransformer (LieSelfAttention), for any group."""

from .base import LiftingModel
from .lieresnet import LieResNet
from .lietransformer import LieTransformer

__all__ = ["LieResNet", "LieTransformer", "LiftingModel"]
