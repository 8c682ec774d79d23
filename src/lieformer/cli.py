"""The `lieformer` command: LightningCLI over the tasks and datasets.

    lieformer fit --config configs/constellation/lietransformer_se2_cpu.yaml
    lieformer fit --config ... --model.group "SE2(alpha=0.2)" --trainer.max_epochs 5
    lieformer fit --config ... --ckpt_path last        # resume a killed run, nothing lost
    lieformer test --config ... --ckpt_path last

Every run logs CSV and TensorBoard under trainer.default_root_dir, keeps `last.ckpt` (and the
best by validation accuracy) under <default_root_dir>/checkpoints, and writes its plots there.
A malformed config or an unknown group ends with a one-line error naming the field.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from .data.constellation import ConstellationData
from .tasks.classification import PointSetClassifier
from .tasks.plots import plot_constellations


class PlotsAtEnd(Callback):
    """After testing, draw a grid of test constellations (per test variant) with true and predicted counts."""

    def __init__(self, n: int = 16):
        self.n = n

    def _plot(self, trainer, module) -> None:
        dm = trainer.datamodule
        if dm is None or not hasattr(dm, "test_sets") or trainer.global_rank != 0:
            return
        for name, dataset in zip(module.eval_names, dm.test_sets):
            coords, values, mask, counts = (t[: self.n] for t in (dataset.coords, dataset.values, dataset.mask, dataset.counts))
            was_training = module.training
            module.eval()
            with torch.no_grad():
                pred = module(coords.to(module.device), values.to(module.device), mask.to(module.device)).argmax(-1).cpu()
            module.train(was_training)
            plot_constellations(coords.numpy(), mask.numpy(), counts.numpy(), pred.numpy(),
                                Path(trainer.default_root_dir) / f"constellations_{name}.png",
                                title=f"{module.net.__class__.__name__}{_group_label(module.net)} on the {name} test set")

    def on_test_end(self, trainer, module) -> None:
        self._plot(trainer, module)


def _group_label(net) -> str:
    group = getattr(net, "group", None)
    return f" ({group!r})" if group is not None else ""


class LieformerCLI(LightningCLI):
    """LightningCLI with the project's run layout: CSV + TensorBoard logs, last/best checkpoints
    and plots, all under trainer.default_root_dir."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.set_defaults({"trainer.default_root_dir": "runs/default"})

    def instantiate_trainer(self, **kwargs):
        config = self.config[self.subcommand] if self.subcommand else self.config
        root = Path(config.trainer.default_root_dir)
        kwargs["callbacks"] = [
            *(kwargs.get("callbacks") or []),
            # first: the best by validation accuracy (what ckpt_path="best" resolves to)
            ModelCheckpoint(dirpath=root / "checkpoints", monitor="val/D/exact", mode="max", filename="best-{epoch}"),
            # every epoch: last.ckpt (Lightning writes "last" only beside a top-k save, so keep one)
            ModelCheckpoint(dirpath=root / "checkpoints", save_last=True, save_top_k=1, filename="latest"),
            PlotsAtEnd(),
        ]
        trainer = super().instantiate_trainer(**kwargs)
        # fit logs under logs/, other subcommands under logs_<subcommand>/: testing never wipes training logs
        name = "logs" if self.subcommand in (None, "fit") else f"logs_{self.subcommand}"
        trainer.loggers = [CSVLogger(root, name=name, version=""), TensorBoardLogger(root, name=f"tensorboard/{name}", version="")]
        return trainer


def main(args: list[str] | None = None) -> None:
    try:
        LieformerCLI(PointSetClassifier, ConstellationData, seed_everything_default=0, args=args,
             save_config_kwargs={"overwrite": True}, parser_kwargs={"exit_on_error": False})
    except (ValueError, TypeError, KeyError) as err:
        print(f"lieformer: error: {_one_line(err)}", file=sys.stderr)
        raise SystemExit(2) from None
    except Exception as err:  # jsonargparse's ArgumentError and friends
        if type(err).__name__ in ("ArgumentError", "NSKeyError", "ParserError"):
            print(f"lieformer: error: {_one_line(err)}", file=sys.stderr)
            raise SystemExit(2) from None
        raise


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text if len(text) < 400 else text[:397] + "..."


if __name__ == "__main__":
    main()
