"""The `lieformer` command: LightningCLI over the tasks and datasets.

    lieformer fit --config configs/constellation/lietransformer_se2_cpu.yaml
    lieformer fit --config ... --model.group "SE2(alpha=0.2)" --trainer.max_epochs 5
    lieformer fit --config ... --ckpt_path last        # resume a killed run, nothing lost
    lieformer test --config ... --ckpt_path last

A config names its task and data by `model.class_path` / `data.class_path` with their `init_args`
(any PointSetTask — classification, regression, dynamics — and any LightningDataModule); overrides
may leave out `init_args`: `--model.group "T(2)"`.
Every run logs CSV and TensorBoard under trainer.default_root_dir, keeps `last.ckpt` (and the
best by the task's validation metric) under <default_root_dir>/checkpoints, and writes its plots there.
A malformed config or an unknown group ends with a one-line error naming the field.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import torch
from lightning.pytorch import LightningDataModule
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from .tasks.base import PointSetTask
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
        monitor, mode = getattr(self.model, "monitor", ("val/loss", "min"))
        kwargs["callbacks"] = [
            *(kwargs.get("callbacks") or []),
            # first: the best by the task's validation metric (what ckpt_path="best" resolves to)
            ModelCheckpoint(dirpath=root / "checkpoints", monitor=monitor, mode=mode, filename="best-{epoch}"),
            # every epoch: last.ckpt (Lightning writes "last" only beside a top-k save, so keep one)
            ModelCheckpoint(dirpath=root / "checkpoints", save_last=True, save_top_k=1, filename="latest"),
            PlotsAtEnd(),
        ]
        trainer = super().instantiate_trainer(**kwargs)
        # fit logs under logs/, other subcommands under logs_<subcommand>/: testing never wipes training logs
        name = "logs" if self.subcommand in (None, "fit") else f"logs_{self.subcommand}"
        trainer.loggers = [CSVLogger(root, name=name, version=""), TensorBoardLogger(root, name=f"tensorboard/{name}", version="")]
        return trainer


def build_cli(args: list[str] | None = None, **kwargs) -> LieformerCLI:
    """The `lieformer` command's LightningCLI (run=False among kwargs: parse and build only)."""
    return LieformerCLI(PointSetTask, LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
                        seed_everything_default=0, args=args, save_config_kwargs={"overwrite": True},
                        parser_kwargs={"exit_on_error": False}, **kwargs)


def main(args: list[str] | None = None) -> None:
    # main(args) from Python (tests, scripts) is intended: not a mix-up with sys.argv
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
    try:
        build_cli(args)
    except (ValueError, TypeError, KeyError) as err:
        print(f"lieformer: error: {_one_line(err)}", file=sys.stderr)
        raise SystemExit(2) from None
    except Exception as err:  # jsonargparse's ArgumentError and friends
        if type(err).__name__ in ("ArgumentError", "NSKeyError", "ParserError"):
            print(f"lieformer: error: {_one_line(err)}", file=sys.stderr)
            raise SystemExit(2) from None
        raise


def _one_line(err: BaseException) -> str:
    """The innermost cause (our own message naming the field, not the parser's wrapping of it), on one line."""
    while err.__cause__ is not None and isinstance(err.__cause__, (ValueError, TypeError, KeyError)):
        err = err.__cause__
    text = " ".join(str(err).split())
    return text if len(text) < 400 else text[:397] + "..."


if __name__ == "__main__":
    main()
