"""Charged n-body prediction as a LightningModule (the EGNN benchmark; lieformer.data.nbody):
positions 1,000 steps ahead from positions, velocities and charges.

A task of its own rather than PointSetRegressor: the target is a vector per particle that must
move with the input (rotating and translating the system rotates and translates the answer), so
the network returns positions, not pooled invariants; ParticleTransformer (models) builds them
from invariant weights on equivariant vectors (symmetry "E3") or, as the baseline, directly
(symmetry "T3"). Loss and metric as the EGNN code computes them: torch's MSE over every
coordinate of every particle (mean over B·n·3 numbers), and its mean over a split.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ..models.particle_transformer import ParticleTransformer
from .base import PointSetTask


class NBodyTask(PointSetTask):
    """Batches (loc (B, n, 3), vel (B, n, 3), charges (B, n), loc_end (B, n, 3)); predicts loc_end.
    Metric "mse" (and loss): mean squared error over particles and coordinates."""

    monitor_metric = ("mse", "min")

    def __init__(self, symmetry: str = "E3", dim: int = 64, num_layers: int = 4, heads: int = 4, kernel_dim: int = 16,
                 lr: float = 5e-4, betas: tuple[float, float] = (0.9, 0.999), weight_decay: float = 1e-12,
                 warmup_frac: float = 0.01):
        super().__init__()
        self.save_hyperparameters()
        self.net = ParticleTransformer(symmetry, dim=dim, num_layers=num_layers, heads=heads, kernel_dim=kernel_dim)

    def forward(self, loc: Tensor, vel: Tensor, charges: Tensor) -> Tensor:
        """Predicted positions (B, n, 3)."""
        return self.net(loc, vel, charges)

    def loss_and_metrics(self, batch) -> tuple[Tensor, dict[str, Tensor]]:
        loc, vel, charges, loc_end = batch
        if loc_end.shape != loc.shape:
            raise ValueError(f"NBodyTask: target positions must have the input's shape {tuple(loc.shape)}, got {tuple(loc_end.shape)}")
        pred = self(loc, vel, charges)
        loss = F.mse_loss(pred, loc_end.to(pred.dtype))
        return loss, {"loss": loss, "mse": loss.detach()}

    def predict_step(self, batch, batch_idx, dataloader_idx: int = 0):
        loc, vel, charges = batch[:3]
        return self(loc, vel, charges)
