"""The `lieformer` command: LightningCLI over the tasks and datasets.

    lieformer fit --config configs/constellation/lietransformer_se2_cpu.yaml
    lieformer fit --config ... --model.group "SE2(alpha=0.2)" --trainer.max_epochs 5
    lieformer fit --config ... --ckpt_path last        # resume a killed run, nothing lost
    lieformer test --config ... --ckpt_path last       # (an error if there is no checkpoint)

A config names its task and data by `model.class_path` / `data.class_path` with their `init_args`
(any PointSetTask — classification, regression, dynamics — and any LightningDataModule); overrides
may leave out `init_args`: `--model.group "T(2)"`.
Every run logs CSV and TensorBoard under trainer.default_root_dir, keeps `last.ckpt` (and the
best by the task's validation metric) under <default_root_dir>/checkpoints, and writes its plots there.
One run at a time uses a directory; a new training run is refused where one already trained, and a
resumed run appends to its logs (lieformer.run_directory).
A malformed config or an unknown group ends with a one-line error naming the field.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import torch
from lightning.pytorch import LightningDataModule
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import TensorBoardLogger

from .run_directory import AppendingCSVLogger, RunDirectory, RunDirectoryError, checkpoint_step, trim_history
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
    and plots, all under trainer.default_root_dir (see lieformer.run_directory: one run at a time,
    a used directory is refused to a new run, a resumed run appends to its history).

    replace_existing_run=True (the demo) clears a directory that holds a previous run, saying so,
    instead of refusing it. With run=False the directory stays locked until release_run_directory()
    (or the process ends)."""

    def __init__(self, *args, replace_existing_run: bool = False, **kwargs):
        self.replace_existing_run = replace_existing_run
        self.run_directory: RunDirectory | None = None
        finished = False
        try:
            super().__init__(*args, **kwargs)
            finished = True
        finally:
            if not finished or kwargs.get("run", True):
                self.release_run_directory()

    def release_run_directory(self) -> None:
        if self.run_directory is not None:
            self.run_directory.release()

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
        stage = self.subcommand or "fit"  # run=False: the caller fits (the demo)
        ckpt_path, resume = self._resolve_ckpt_path(root, stage)
        resume_step = None
        if trainer.global_rank == 0:  # other DDP ranks write nothing here and must not lock
            resume_step = self._prepare_run_directory(trainer, root, stage, ckpt_path, resume)
        if stage == "fit":
            # training logs under logs/: a resumed run continues them
            trainer.loggers = [AppendingCSVLogger(root, name="logs", version=""),
                               TensorBoardLogger(root, name="tensorboard/logs", version="", purge_step=resume_step)]
        else:
            # evaluations under logs_<subcommand>/version_<n>/: each its own, none over the training logs
            name = f"logs_{stage}"
            trainer.loggers = [AppendingCSVLogger(root, name=name), TensorBoardLogger(root, name=f"tensorboard/{name}")]
        return trainer

    def _resolve_ckpt_path(self, root: Path, stage: str) -> tuple[str | None, bool]:
        """The checkpoint this run starts from, and whether it resumes (--ckpt_path given): "last" made
        the file <root>/checkpoints/last.ckpt (so the history is trimmed at the checkpoint Lightning
        loads), "best" for an evaluation the best-*.ckpt file there; an evaluation without a
        checkpoint is an error."""
        if not self.subcommand:
            return None, False
        ckpt_path = self.config[self.subcommand].get("ckpt_path")
        resume = ckpt_path is not None
        if ckpt_path == "last":
            last = root.absolute() / "checkpoints" / "last.ckpt"
            if last.is_file():
                ckpt_path = str(last)
            elif stage == "fit":  # "resume if there is something to resume": from the start
                ckpt_path = None
            else:
                raise RunDirectoryError(f"ckpt_path: no checkpoint at {last} to {stage}: "
                                        "train first, or give a checkpoint file")
            self.config[self.subcommand].ckpt_path = self.config_init[self.subcommand].ckpt_path = ckpt_path
        elif ckpt_path == "best" and stage != "fit":  # Lightning knows "best" only in the process that trained
            best = sorted((root.absolute() / "checkpoints").glob("best-*.ckpt"))
            if len(best) != 1:
                raise RunDirectoryError(f"ckpt_path: {len(best) or 'no'} best checkpoints (best-*.ckpt) in "
                                        f"{root.absolute() / 'checkpoints'} to {stage}: give a checkpoint file")
            ckpt_path = str(best[0])
            self.config[self.subcommand].ckpt_path = self.config_init[self.subcommand].ckpt_path = ckpt_path
        elif ckpt_path is None and stage != "fit":
            raise RunDirectoryError(f"ckpt_path: {stage} needs a checkpoint (--ckpt_path last, best or a file); "
                                    "without one it would evaluate untrained weights")
        elif ckpt_path not in (None, "best", "hpc", "registry") and "://" not in ckpt_path and not Path(ckpt_path).is_file():
            raise RunDirectoryError(f"ckpt_path: no checkpoint file {ckpt_path}")
        return ckpt_path, resume

    def _prepare_run_directory(self, trainer, root: Path, stage: str, ckpt_path: str | None,
                               resume: bool) -> int | None:
        """Lock the run directory; for training, refuse (or clear, for the demo) a used one, or trim the
        history of a resumed one at its checkpoint's step (returned)."""
        self.run_directory = RunDirectory(root)
        self.run_directory.lock()
        if stage != "fit":
            return None
        held = self.run_directory.held_run()
        step = None
        if ckpt_path is not None and Path(ckpt_path).is_file():
            step = checkpoint_step(ckpt_path)
        elif resume and ckpt_path is None:
            print(f"lieformer: no checkpoint in {self.run_directory.root / 'checkpoints'}: training from the start",
                  file=sys.stderr)
            if not any(name.endswith(".ckpt") for name in held):
                step = 0  # killed before its first checkpoint: it starts over, what it logged set aside
        if step is None and held:
            if not self.replace_existing_run:
                raise RunDirectoryError(
                    f"trainer.default_root_dir {self.run_directory.root} already holds a run ({', '.join(held[:3])}): "
                    "resume it with --ckpt_path last, or give this run another --trainer.default_root_dir")
            removed = self.run_directory.clear()
            print(f"lieformer: replacing the previous run in {self.run_directory.root} (removed {', '.join(removed)})",
                  file=sys.stderr)
        if step is None:
            return None
        moved, aside = trim_history(root / "logs" / "metrics.csv", step)
        if moved:
            print(f"lieformer: resuming at step {step}: {moved} metrics rows logged from that step on "
                  f"(logged again now) moved to {aside}", file=sys.stderr)
        if (root / "logs" / "config.yaml").exists():  # the resumed run's config beside the first one's
            k = 1
            while (root / "logs" / f"config-{k}.yaml").exists():
                k += 1
            for callback in trainer.callbacks:
                if isinstance(callback, SaveConfigCallback):
                    callback.config_filename = f"config-{k}.yaml"
        return step


def build_cli(args: list[str] | None = None, **kwargs) -> LieformerCLI:
    """The `lieformer` command's LightningCLI (run=False among kwargs: parse and build only)."""
    return LieformerCLI(PointSetTask, LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
                        seed_everything_default=0, args=args, save_config_kwargs={"overwrite": True},
                        parser_kwargs={"exit_on_error": False}, **kwargs)


def main(args: list[str] | None = None) -> None:
    # main(args) from Python (tests, scripts) is intended: not a mix-up with sys.argv
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
    # a new run never shares a checkpoint directory (lieformer.run_directory), a resumed one is meant to
    warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
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
