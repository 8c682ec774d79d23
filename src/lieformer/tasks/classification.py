"""Point-set classification as a LightningModule: several k-way labels per set (e.g. how many
copies of each of 4 pattern types: 4 labels × 3 classes, the defaults), any network, any group.

Metrics per evaluation set: `mean` (accuracy averaged over the labels — what the LieTransformer
paper's code reports, `predicted.eq(label).float().mean()`, and what RESULTS.md sets beside it)
and `exact` (all labels of a set right — the stricter number, which picks the best checkpoint).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import NETWORKS, PointSetTask, build_network


class PointSetClassifier(PointSetTask):
    """logits (B, labels, classes) = network(coords, values, mask); loss: mean cross-entropy.

    Optimiser, logging and checkpointed RNG states: PointSetTask.
    """

    monitor_metric = ("exact", "max")

    def __init__(
        self,
        network: str = "LieTransformer",
        group: str = "SE2(alpha=0.2)",
        in_channels: int = 1,
        labels: int = 4,
        classes: int = 3,
        network_args: dict | None = None,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        weight_decay: float = 0.0,
        warmup_frac: float = 0.01,
        eval_names: tuple[str, ...] | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.labels, self.classes = labels, classes
        self.net = build_network(network, in_channels, labels * classes, group, network_args)
        self.eval_names = None if eval_names is None else tuple(eval_names)

    def forward(self, coords: Tensor, values: Tensor, mask: Tensor) -> Tensor:
        return self.net(coords, values, mask).view(len(coords), self.labels, self.classes)

    def loss_and_metrics(self, batch) -> tuple[Tensor, dict[str, Tensor]]:
        coords, values, mask, targets = batch
        logits = self(coords, values, mask)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        right = logits.argmax(-1) == targets
        return loss, {"loss": loss, "exact": right.all(-1).float().mean(), "mean": right.float().mean()}

    def predict_step(self, batch, batch_idx, dataloader_idx: int = 0):
        coords, values, mask = batch[:3]
        return self(coords, values, mask).argmax(-1)


__all__ = ["NETWORKS", "PointSetClassifier", "build_network"]
