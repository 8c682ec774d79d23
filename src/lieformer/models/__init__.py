"""Models: LieResNet (LieConv) and LieTransformer (LieSelfAttention), for any group."""

from .base import LiftingModel
from .lieresnet import LieResNet
from .lietransformer import LieTransformer
from .set_transformer import SetTransformer

__all__ = ["LieResNet", "LieTransformer", "LiftingModel", "SetTransformer"]
from .particle_transformer import ParticleTransformer  # noqa: E402  (vector output per particle: n-body)

__all__ += ["ParticleTransformer"]
