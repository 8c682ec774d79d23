"""What every task shares: building the network from its name and group, Adam with a linear
warm-up and cosine decay, metric logging per evaluation set (named by the data module), and the
random-number state in checkpoints (so a resumed run continues the stream of an uninterrupted one).
No experiment is named here: the data module says what its evaluation sets are called."""

from __future__ import annotations

import inspect
import math
import random

import lightning as L
import numpy as np
import torch
from torch import Tensor, nn

from ..models import LieResNet, LieTransformer, SetTransformer
from ..models.baselines import HFC, HOGN
from ..spaces import make_space

NETWORKS = {"LieTransformer": LieTransformer, "LieResNet": LieResNet, "SetTransformer": SetTransformer,
            "HFC": HFC, "HOGN": HOGN}  # the last two: springs baselines, potentials V(q, features), no group


def network_call(name: str, in_channels: int, out_channels: int, group: str, args: dict | None):
    """(cls, positional, args) for NETWORKS[name](in_channels, out_channels, group, **args), checked
    without building anything: an unknown network, group or argument name is a ValueError naming
    the model field. Networks whose class says takes_group = False (the Set Transformer, the
    springs baselines) take no group."""
    if name not in NETWORKS:
        raise ValueError(f"model.network: unknown network {name!r}; choose one of {sorted(NETWORKS)}")
    cls = NETWORKS[name]
    if not getattr(cls, "takes_group", True):
        positional = (in_channels, out_channels)
    else:
        try:
            positional = (in_channels, out_channels, make_space(group))
        except ValueError as err:
            raise ValueError(f"model.group: {err}") from None
    return cls, positional, bound_arguments(name, cls, positional, args)


def bound_arguments(name: str, cls: type, positional: tuple, args: dict | None) -> dict:
    """args, once checked against cls's signature with `positional` before them: a mismatch is a
    ValueError naming model.network_args and what cls takes."""
    args, signature = dict(args or {}), inspect.signature(cls)
    try:
        signature.bind(*positional, **args)
    except TypeError as err:
        raise ValueError(f"model.network_args: {name}: {err}; it takes {signature}") from None
    return args


def build_network(name: str, in_channels: int, out_channels: int, group: str, args: dict | None) -> nn.Module:
    """NETWORKS[name](in_channels, out_channels, group, **args), checked first (network_call).
    `group` names a group (its default space) or a space: "SE2(alpha=0.2)", "SO3Space(SO3())".
    What the constructor itself raises passes unchanged."""
    cls, positional, args = network_call(name, in_channels, out_channels, group, args)
    return cls(*positional, **args)


class PointSetTask(L.LightningModule):
    """Base LightningModule. Subclasses build self.net (build_network), call
    self.save_hyperparameters() with lr, betas, weight_decay and warmup_frac among their
    arguments, and implement loss_and_metrics(batch) → (loss, {name: value}).

    Optimiser: Adam(lr, betas, weight_decay), the learning rate warmed up linearly over
    warmup_frac of the steps, then cosine-decayed to 0 (per step). Evaluation sets are logged as
    {stage}/{eval_names[i]}/{metric} (one set: {stage}/{metric}). The names come from the task's
    `eval_names` argument if given, else from the data module's `eval_names` (adopt_eval_names,
    called by the `lieformer` command and in setup), else the sets after the first are numbered.
    """

    #: names of the evaluation sets (validation/test dataloaders, in order); None: not known yet
    eval_names: tuple[str, ...] | None = None
    #: the metric that picks the best checkpoint, and whether higher ("max") or lower is better
    monitor_metric: tuple[str, str] = ("loss", "min")

    def loss_and_metrics(self, batch) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    def metric_key(self, stage: str, dataloader_idx: int, metric: str) -> str:
        """"{stage}/{metric}" with one evaluation set, "{stage}/{its name}/{metric}" with several;
        without names, "{stage}/{metric}" for the first set and "{stage}/{index}/{metric}" after it."""
        names = self.eval_names
        if names is None:
            return f"{stage}/{metric}" if dataloader_idx == 0 else f"{stage}/{dataloader_idx}/{metric}"
        if len(names) == 1:
            return f"{stage}/{metric}"
        name = names[dataloader_idx] if dataloader_idx < len(names) else str(dataloader_idx)
        return f"{stage}/{name}/{metric}"

    def adopt_eval_names(self, datamodule) -> None:
        """Name the evaluation sets after `datamodule.eval_names` (if it has them) unless the task was
        given its own; given ones must be as many (a ValueError naming model.eval_names otherwise)."""
        names = getattr(datamodule, "eval_names", None)
        if names is None:
            return
        names = tuple(names)
        if self.eval_names is None:
            self.eval_names = names
        elif len(self.eval_names) != len(names):
            raise ValueError(f"model.eval_names: {len(self.eval_names)} names {self.eval_names} for the "
                             f"{len(names)} evaluation sets of {type(datamodule).__name__} {names}")

    def setup(self, stage: str) -> None:
        if self._trainer is not None and self.trainer.datamodule is not None:
            self.adopt_eval_names(self.trainer.datamodule)

    @property
    def monitor(self) -> tuple[str, str]:
        """(logged key, "max" | "min") of the checkpoint-selection metric: the first evaluation set's."""
        metric, mode = self.monitor_metric
        return self.metric_key("val", 0, metric), mode

    def training_step(self, batch, batch_idx):
        loss, metrics = self.loss_and_metrics(batch)
        self.log_dict({f"train/{k}": v for k, v in metrics.items()}, prog_bar=True, on_step=True, on_epoch=True,
                      sync_dist=True, batch_size=len(batch[0]))
        return loss

    def _eval_step(self, stage: str, batch, dataloader_idx: int) -> None:
        _, metrics = self.loss_and_metrics(batch)
        self.log_dict({self.metric_key(stage, dataloader_idx, k): v for k, v in metrics.items()}, add_dataloader_idx=False,
                      prog_bar=(dataloader_idx == 0 and stage == "val"), batch_size=len(batch[0]), sync_dist=True)

    def validation_step(self, batch, batch_idx, dataloader_idx: int = 0):
        self._eval_step("val", batch, dataloader_idx)

    def test_step(self, batch, batch_idx, dataloader_idx: int = 0):
        self._eval_step("test", batch, dataloader_idx)

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
