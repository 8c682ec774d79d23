"""Point-set classification as a LightningModule: several k-way labels per set (the
constellation counts: 4 pattern types × 3 classes), any network, any group.

Metrics per evaluation set: `exact` (all labels of a set right — the stricter number) and `mean`
(accuracy averaged over the labels). The LieTransformer paper's constellation accuracies are
compared with `exact` in RESULTS.md.
"""

from __future__ import annotations

import math
import random

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..groups import make_group
from ..models import LieResNet, LieTransformer, SetTransformer

NETWORKS = {"LieTransformer": LieTransformer, "LieResNet": LieResNet, "SetTransformer": SetTransformer}


def build_network(name: str, in_channels: int, out_channels: int, group: str, args: dict | None) -> nn.Module:
    """NETWORKS[name](in_channels, out_channels, group, **args); the Set Transformer takes no group."""
    if name not in NETWORKS:
        raise ValueError(f"model.network: unknown network {name!r}; choose one of {sorted(NETWORKS)}")
    args = dict(args or {})
    if name == "SetTransformer":
        return SetTransformer(in_channels, out_channels, **args)
    try:
        group_obj = make_group(group)
    except ValueError as err:
        raise ValueError(f"model.group: {err}") from None
    try:
        return NETWORKS[name](in_channels, out_channels, group_obj, **args)
    except TypeError as err:
        raise ValueError(f"model.network_args: {err}") from None


class PointSetClassifier(L.LightningModule):
    """logits (B, labels, classes) = network(coords, values, mask); loss: mean cross-entropy.

    Optimiser: Adam(lr, betas, weight_decay) with a linear warm-up over warmup_frac of the steps
    then cosine decay to 0 (per step). The global RNG states are saved in checkpoints, so a
    resumed run continues the same random stream (lift draws, shuffling) as an uninterrupted one.
    """

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
        eval_names: tuple[str, ...] = ("D", "T2", "SE2"),
    ):
        super().__init__()
        self.save_hyperparameters()
        self.labels, self.classes = labels, classes
        self.net = build_network(network, in_channels, labels * classes, group, network_args)
        self.eval_names = tuple(eval_names)

    def forward(self, coords: Tensor, values: Tensor, mask: Tensor) -> Tensor:
        return self.net(coords, values, mask).view(len(coords), self.labels, self.classes)

    def _loss_and_metrics(self, batch) -> tuple[Tensor, dict[str, Tensor]]:
        coords, values, mask, targets = batch
        logits = self(coords, values, mask)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        right = logits.argmax(-1) == targets
        return loss, {"loss": loss, "exact": right.all(-1).float().mean(), "mean": right.float().mean()}

    def training_step(self, batch, batch_idx):
        loss, metrics = self._loss_and_metrics(batch)
        self.log_dict({f"train/{k}": v for k, v in metrics.items()}, prog_bar=True, on_step=True, on_epoch=True, sync_dist=True,
                      batch_size=len(batch[0]))
        return loss

    def _eval_step(self, stage: str, batch, dataloader_idx: int) -> None:
        _, metrics = self._loss_and_metrics(batch)
        name = self.eval_names[dataloader_idx] if dataloader_idx < len(self.eval_names) else str(dataloader_idx)
        self.log_dict({f"{stage}/{name}/{k}": v for k, v in metrics.items()}, add_dataloader_idx=False,
                      prog_bar=(name == self.eval_names[0] and stage == "val"), batch_size=len(batch[0]), sync_dist=True)

    def validation_step(self, batch, batch_idx, dataloader_idx: int = 0):
        self._eval_step("val", batch, dataloader_idx)

    def test_step(self, batch, batch_idx, dataloader_idx: int = 0):
        self._eval_step("test", batch, dataloader_idx)

    def predict_step(self, batch, batch_idx, dataloader_idx: int = 0):
        coords, values, mask = batch[:3]
        return self(coords, values, mask).argmax(-1)

    def configure_optimizers(self):
        hp = self.hparams
        optimizer = torch.optim.Adam(self.parameters(), lr=hp.lr, betas=tuple(hp.betas), weight_decay=hp.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = max(1, int(hp.warmup_frac * total))

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        checkpoint["rng_states"] = {  # plain tensors and numbers: loadable with weights_only=True
            "torch": torch.get_rng_state(),
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
            "python": random.getstate(),
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        states = checkpoint.get("rng_states")
        if states:
            torch.set_rng_state(states["torch"])
            kind, keys, pos, has_gauss, cached = states["numpy"]
            np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
            random.setstate(states["python"])
