"""The run directory of the `lieformer` command (trainer.default_root_dir): one run at a time, and
nothing a run logged is lost.

- A lock (flock on `<root>/.lieformer.lock`, held for the run's duration and released by the OS
  when its process dies, even by kill -9) keeps a second run out while one is running.
- A new training run is refused in a directory that already holds one (its checkpoints or
  logged metrics); `--ckpt_path` resumes it instead.
- A resumed run keeps its history: the rows of `logs/metrics.csv` logged before the resumed
  checkpoint stay, rows logged after it (step >= the checkpoint's step, which the resumed run
  logs again) move to `logs/metrics.superseded-<k>.csv`, and the run appends.

Lightning writes every logged row to disk at once (its logger connector saves the loggers after
each log), so a killed run keeps all it logged.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import torch
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

try:
    import fcntl
except ImportError:  # not a POSIX system: no lock
    fcntl = None

LOCK_NAME = ".lieformer.lock"


class RunDirectoryError(ValueError):
    """A run cannot use this directory (in use, already holds a run, no checkpoint): one-line message."""


class RunDirectory:
    """`root` of one run: lock it, ask whether it holds a run, clear it."""

    def __init__(self, root: str | Path):
        self.root = Path(root).absolute()
        self._fd: int | None = None

    def lock(self) -> None:
        """Take the directory for this process (created if missing) until release() or the process ends;
        RunDirectoryError naming the holder's pid if another run has it."""
        if fcntl is None or self._fd is not None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RunDirectoryError(
                f"trainer.default_root_dir {self.root} is in use by another lieformer run (pid {holder}): "
                "wait for it to end or choose another --trainer.default_root_dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)  # (a forked DataLoader worker may share the descriptor)
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:  # a CLI built with run=False and dropped
        try:
            self.release()
        except Exception:
            pass

    def held_run(self) -> list[str]:
        """What shows that a training run used this directory: its checkpoints and its logged metrics."""
        found = sorted(str(p.relative_to(self.root)) for p in (self.root / "checkpoints").glob("*.ckpt"))
        metrics = self.root / "logs" / "metrics.csv"
        if metrics.is_file() and metrics.stat().st_size > 0:
            found.append(str(metrics.relative_to(self.root)))
        return found

    def clear(self) -> list[str]:
        """Remove everything in the directory but the lock; the names removed."""
        removed = []
        for path in sorted(self.root.iterdir()):
            if path.name == LOCK_NAME:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
                removed.append(path.name + "/")
            else:
                path.unlink()
                removed.append(path.name)
        return removed


def checkpoint_step(path: str | Path) -> int:
    """The logging step a run resumed from this Lightning checkpoint continues at: the number of
    training batches it has stepped (rows logged before it was saved have step < this)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    loop = ckpt.get("loops", {}).get("fit_loop", {}).get("epoch_loop.state_dict", {})
    return int(loop.get("_batches_that_stepped", ckpt["global_step"]))


def trim_history(metrics_csv: str | Path, step: int) -> tuple[int, Path | None]:
    """Keep the rows of metrics_csv logged before `step`; move the others (logged after the resumed
    checkpoint was saved) to metrics.superseded-<k>.csv beside it. Returns (rows moved, where)."""
    metrics_csv = Path(metrics_csv)
    if not metrics_csv.is_file():
        return 0, None
    with metrics_csv.open(newline="") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames or [], list(reader)
    kept = [r for r in rows if int(float(r["step"])) < step]
    later = [r for r in rows if int(float(r["step"])) >= step]
    if not later:
        return 0, None
    k = 1
    while (aside := metrics_csv.with_name(f"metrics.superseded-{k}.csv")).exists():
        k += 1
    _write_rows(aside, header, later)
    _write_rows(metrics_csv, header, kept)
    return len(later), aside


def _write_rows(path: Path, header: list[str], rows: list[dict]) -> None:
    """Write a CSV file whole, through a temporary file (a kill leaves the old or the new file)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, but an existing metrics.csv is continued (its header read), never deleted."""

    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as f:
                self.metrics_keys = list(csv.DictReader(f).fieldnames or [])

    def _check_log_dir_exists(self) -> None:  # Lightning deletes an existing metrics.csv here
        pass


class AppendingCSVLogger(CSVLogger):
    """CSVLogger that appends to the metrics.csv it finds (a resumed run's history)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:  # Lightning's, with the appending writer
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment
