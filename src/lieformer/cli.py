"""The `lieformer` command: LightningCLI over the tasks and datasets.

    lieformer fit --config configs/constellation/lietransformer_se2_cpu.yaml
    lieformer fit --config ... --model.group "SE2(alpha=0.2)" --trainer.max_epochs 5
    lieformer fit --config ... --ckpt_path last        # resume a killed run, nothing lost
    lieformer test --config ... --ckpt_path last       # (an error if there is no checkpoint)

A config names its task and data by `model.class_path` / `data.class_path` with their `init_args`
(any PointSetTask — classification, regression, dynamics — and any LightningDataModule); overrides
may leave out `init_args`: `--model.group "T(2)"`. An experiment's callbacks (its plots) are
declared in its configs under `trainer.callbacks`; the command adds only what every run has.
The task names its metrics after the data module's `eval_names` (PointSetTask.adopt_eval_names).
Every run logs CSV and TensorBoard under trainer.default_root_dir, keeps `last.ckpt` (and the
best by the task's validation metric) under <default_root_dir>/checkpoints, and writes its plots there.
One run at a time uses a directory; a new training run is refused where one already trained, and a
resumed run appends to its logs (lieformer.run_directory).

Errors: a config that cannot be parsed, or whose classes cannot be built from it (a ValueError
from a constructor checking its arguments, an unknown group, an unusable run directory), ends
with one line naming the field and exit code 2 (ConfigError). Anything else — a TypeError inside
a constructor, any exception once the subcommand runs (training, testing) — keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from lightning.pytorch import LightningDataModule
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from .run_directory import AppendingCSVLogger, RunDirectory, RunDirectoryError, checkpoint_step, trim_history
from .tasks.base import PointSetTask


class ConfigError(ValueError):
    """The command line or config could not be parsed, or its classes not built from it: the
    message (one line) names the field; the original exception is its __cause__."""


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

    def parse_arguments(self, parser, args) -> None:
        """Parse; any error of the parser becomes a ConfigError (one line naming the field)."""
        try:
            super().parse_arguments(parser, args)
        except (argparse.ArgumentError, ValueError, TypeError, KeyError) as err:
            raise ConfigError(_one_line(err)) from err

    def instantiate_classes(self) -> None:
        """Build the model, data module and trainer; a config error (the parser's, or a ValueError
        or Lightning misconfiguration raised checking an argument) becomes a ConfigError, anything
        else (a TypeError, KeyError, … inside a constructor: a bug) passes with its traceback."""
        try:
            super().instantiate_classes()
        except Exception as err:
            inner = _unwrap_parser(err)
            if _is_config_error(inner):
                raise ConfigError(_one_line(err)) from err
            if inner is err:
                raise
            inner.__suppress_context__ = True  # the bug's own exception and traceback, not the parser's wrapping
            raise inner

    def instantiate_trainer(self, **kwargs):
        config = self.config[self.subcommand] if self.subcommand else self.config
        root = Path(config.trainer.default_root_dir)
        if isinstance(self.model, PointSetTask):  # metric names (and so the monitored key) from the data
            self.model.adopt_eval_names(self.datamodule)
        monitor, mode = getattr(self.model, "monitor", ("val/loss", "min"))
        declared = self._get(self.config_init, "trainer", default={}).get("callbacks") or []
        kwargs["callbacks"] = [
            # the first checkpoint callback: the best by the task's validation metric (what
            # ckpt_path="best" resolves to, whatever checkpoint callbacks a config adds)
            ModelCheckpoint(dirpath=root / "checkpoints", monitor=monitor, mode=mode, filename="best-{epoch}"),
            # every epoch: last.ckpt (Lightning writes "last" only beside a top-k save, so keep one)
            ModelCheckpoint(dirpath=root / "checkpoints", save_last=True, save_top_k=1, filename="latest"),
            *(declared if isinstance(declared, list) else [declared]),  # the experiment's, from its config
            *(kwargs.get("callbacks") or []),
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
    """The `lieformer` command's LightningCLI (run=False among kwargs: parse and build only).
    ConfigError for a config that cannot be parsed or built; other exceptions pass unchanged."""
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
    except ConfigError as err:  # only these: what training raises keeps its traceback
        print(f"lieformer: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def _raised_by_parser(err: BaseException) -> bool:
    """Was err raised inside jsonargparse (its own error, or its wrapping of a constructor's)?"""
    tb = err.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_globals.get("__name__", "").startswith("jsonargparse")


def _unwrap_parser(err: BaseException) -> BaseException:
    """What a constructor raised, under jsonargparse's wrapping (exceptions it raised from it)."""
    while err.__cause__ is not None and _raised_by_parser(err):
        err = err.__cause__
    return err


def _is_config_error(err: BaseException) -> bool:
    """Raised building from a config, is this the config's fault? The parser's own errors, a
    ValueError (our constructors' argument checks, unknown groups, RunDirectoryError) or a
    Lightning MisconfigurationException; not a TypeError, KeyError, AttributeError, … of a bug."""
    return isinstance(err, (argparse.ArgumentError, ValueError, MisconfigurationException)) or _raised_by_parser(err)


def _one_line(err: BaseException) -> str:
    """The innermost cause (our own message naming the field, not the parser's wrapping of it), on one line."""
    while err.__cause__ is not None and isinstance(err.__cause__, (ValueError, TypeError, KeyError)):
        err = err.__cause__
    text = " ".join(str(err).split())
    return text if len(text) < 400 else text[:397] + "..."


if __name__ == "__main__":
    main()
