"""Models: LieResNet (LieConv) and LieTransformer (LieSelfAttention), for any group; the Set
Transformer; ParticleTransformer (a vector per particle, for n-body); baselines.py (the springs
baselines FC, HFC, OGN, HOGN)."""

from .base import LiftingModel
from .lieresnet import LieResNet
from .lietransformer import LieTransformer
from .particle_transformer import ParticleTransformer
from .set_transformer import SetTransformer

__all__ = ["LieResNet", "LieTransformer", "LiftingModel", "ParticleTransformer", "SetTransformer"]
