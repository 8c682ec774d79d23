"""lieformer: Lie-group-equivariant deep learning on continuous data (LieConv, LieTransformer)."""

from .groups import LieGroup, make_group
from .models import LieResNet, LieTransformer

__version__ = "0.1.0"
__all__ = ["LieGroup", "LieResNet", "LieTransformer", "make_group"]
