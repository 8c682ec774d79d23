"""Point-set regression as a LightningModule: T real targets per set (QM9's properties, energies,
any invariant quantity), any network, any group.

The network predicts standardised targets z = (y − mean) / std; the loss is L1 (QM9's protocol)
or MSE on z, and the metrics are the mean absolute error per target in the data's own units
(times unit_scale, e.g. Hartree → meV), logged as mae_<target> (one target too), plus their mean
`mae`. mean/std come from the training split
(the datamodule's `target_stats()`) unless given, and are saved with the model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import PointSetTask, build_network, network_call

LOSSES = {"l1": F.l1_loss, "mse": F.mse_loss}


class PointSetRegressor(PointSetTask):
    """y (B, T) = network(coords, values, mask) · std + mean; batches (coords, values, mask, y).
    targets=None takes the names (and so T) from the data module's `targets` in setup (QM9Data's),
    so `--data.targets '[homo, lumo]'` alone chooses what a config predicts."""

    monitor_metric = ("mae", "min")

    def __init__(
        self,
        network: str = "LieResNet",
        group: str = "T(3)",
        in_channels: int = 1,
        targets: tuple[str, ...] | None = ("y",),
        network_args: dict | None = None,
        loss: str = "l1",
        target_mean: list[float] | None = None,
        target_std: list[float] | None = None,
        unit_scale: list[float] | None = None,
        lr: float = 3e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        weight_decay: float = 0.0,
        warmup_frac: float = 0.01,
        eval_names: tuple[str, ...] | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        if loss not in LOSSES:
            raise ValueError(f"model.loss: unknown loss {loss!r}; choose one of {sorted(LOSSES)}")
        self.loss_fn, self.eval_names = LOSSES[loss], None if eval_names is None else tuple(eval_names)
        self.targets: tuple[str, ...] | None = None
        if targets is not None:
            self._build(tuple(targets))
        else:  # built in setup: check the network's name, group and arguments now, as building would
            network_call(network, 1, 1, group, network_args)

    def _build(self, targets: tuple[str, ...]) -> None:
        """The network with one output per target, and the standardisation buffers."""
        hp = self.hparams
        self.targets = targets
        T = len(targets)
        for name in ("target_mean", "target_std", "unit_scale"):
            given = hp[name]
            if given is not None and len(given) != T:
                raise ValueError(f"model.{name}: {len(given)} values for {T} targets {self.targets}")
        if hp.target_std is not None and min(hp.target_std) <= 0:
            raise ValueError(f"model.target_std: must be positive, got {hp.target_std}")
        self.net = build_network(hp.network, hp.in_channels, T, hp.group, hp.network_args)
        self.register_buffer("target_mean", torch.tensor(hp.target_mean or [0.0] * T, dtype=torch.float64))
        self.register_buffer("target_std", torch.tensor(hp.target_std or [1.0] * T, dtype=torch.float64))
        self.register_buffer("unit_scale", torch.tensor(hp.unit_scale or [1.0] * T, dtype=torch.float64))
        self.register_buffer("stats_set", torch.tensor(hp.target_mean is not None and hp.target_std is not None))

    def setup(self, stage: str) -> None:
        """targets=None: take the data module's `targets` (built here, before a checkpoint is restored;
        saved in the hyper-parameters, so checkpoints rebuild the same network). Given targets must
        match the data module's, if it names them. Then the standardisation from the training split
        when it was not given (nor loaded)."""
        super().setup(stage)
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        data_targets = getattr(dm, "targets", None)
        if self.targets is None:
            if data_targets is None:
                raise ValueError("model.targets: null means the data's targets, and the data module names none: "
                                 "give model.targets")
            self._build(tuple(data_targets))
            self.to(self.trainer.strategy.root_device)
        elif data_targets is not None and tuple(data_targets) != self.targets:
            raise ValueError(f"model.targets {list(self.targets)} differ from data.targets {list(data_targets)}: "
                             "set model.targets to null to take the data's")
        if data_targets is not None:  # as the data module has them (Lightning refuses to log differing hparams)
            self.hparams["targets"] = self._hparams_initial["targets"] = list(self.targets)
        if not bool(self.stats_set) and dm is not None and hasattr(dm, "target_stats"):
            mean, std = dm.target_stats()
            self.set_target_stats(mean, std)

    def set_target_stats(self, mean: Tensor, std: Tensor) -> None:
        mean, std = torch.as_tensor(mean, dtype=torch.float64), torch.as_tensor(std, dtype=torch.float64)
        if mean.shape != self.target_mean.shape or std.shape != self.target_std.shape:
            raise ValueError(f"target stats must have shape {tuple(self.target_mean.shape)}, got {tuple(mean.shape)}, {tuple(std.shape)}")
        if (std <= 0).any():
            raise ValueError(f"target std must be positive, got {std.tolist()}")
        self.target_mean.copy_(mean)
        self.target_std.copy_(std)
        self.stats_set.fill_(True)

    def standardised(self, coords: Tensor, values: Tensor, mask: Tensor) -> Tensor:
        """The network's raw output: standardised predictions (B, T)."""
        return self.net(coords, values, mask)

    def forward(self, coords: Tensor, values: Tensor, mask: Tensor) -> Tensor:
        """Predictions (B, T) in the data's units."""
        z = self.standardised(coords, values, mask)
        return z * self.target_std.to(z.dtype) + self.target_mean.to(z.dtype)

    def loss_and_metrics(self, batch) -> tuple[Tensor, dict[str, Tensor]]:
        coords, values, mask, y = batch
        if y.dim() != 2 or y.shape[-1] != len(self.targets):
            raise ValueError(f"targets must be (B, {len(self.targets)}) for {self.targets}, got {tuple(y.shape)}")
        z = self.standardised(coords, values, mask)
        z_true = ((y.double() - self.target_mean) / self.target_std).to(z.dtype)
        loss = self.loss_fn(z, z_true)
        error = ((z - z_true).abs().double() * self.target_std * self.unit_scale).mean(0).float()  # MAE per target
        metrics = {"loss": loss, "mae": error.mean()}
        metrics.update({f"mae_{name}": e for name, e in zip(self.targets, error)})  # one target too: its name in the logs
        return loss, metrics

    def predict_step(self, batch, batch_idx, dataloader_idx: int = 0):
        coords, values, mask = batch[:3]
        return self(coords, values, mask)
