"""Plots any run can draw: learning curves from a run's metrics.csv, saving a figure, and
TestPlots, the base of the experiments' plot callbacks (an experiment's own plots live with its
data module, e.g. lieformer.data.constellation_plots)."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import matplotlib
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_metrics(csv_path) -> dict[str, list[tuple[float, float]]]:
    """Lightning CSVLogger metrics.csv → {metric: [(epoch, value), ...]}."""
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    with open(csv_path) as f:
        for row in csv.DictReader(f):
            epoch = row.get("epoch")
            for key, value in row.items():
                if key in ("epoch", "step") or value in ("", None) or epoch in ("", None):
                    continue
                series[key].append((float(epoch), float(value)))
    return dict(series)


def plot_learning_curves(runs: dict[str, str | Path], path, metrics: tuple[str, ...] | None = None) -> Path:
    """One panel per metric, one line per run (name → metrics.csv); metrics=None: every metric
    logged per epoch (all but the per-step `*_step` ones), in the order first found."""
    all_series = {name: read_metrics(csv_path) for name, csv_path in runs.items()}
    if metrics is None:
        metrics = tuple(dict.fromkeys(k for s in all_series.values() for k in s if not k.endswith("_step")))
    if not metrics:
        raise ValueError(f"no metrics to plot in {', '.join(map(str, runs.values()))}")
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.5), squeeze=False)
    for name, series in all_series.items():
        for ax, metric in zip(axes[0], metrics):
            points = series.get(metric, [])
            if points:
                e, v = zip(*points)
                ax.plot(e, v, marker="o", ms=3, label=name)
    for ax, metric in zip(axes[0], metrics):
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0][0].legend()
    return save_figure(fig, path)


def save_figure(fig, path) -> Path:
    """Lay out, write (creating the folder) and close a figure."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def finish_panels(fig, axes, n: int, path, title: str = "", **title_options) -> Path:
    """A grid of 2-D panels: the first n square and without ticks, the rest hidden; an optional
    suptitle; laid out and saved (save_figure)."""
    for i, ax in enumerate(axes.flat):
        if i < n:
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            ax.axis("off")
    if title:
        fig.suptitle(title, **title_options)
    return save_figure(fig, path)


def model_label(pl_module) -> str:
    """"LieResNet (SE2(alpha=0.2))": the task's network and the space (or group) it acts on, for titles."""
    net = getattr(pl_module, "net", pl_module)
    where = getattr(net, "space", None) or getattr(net, "group", None)
    return type(net).__name__ + (f" ({where!r})" if where is not None else "")


@torch.no_grad()
def predict(pl_module, *inputs: Tensor) -> Tensor:
    """pl_module(*inputs) on the module's device, without gradients, back on the CPU."""
    return pl_module(*(t.to(pl_module.device) for t in inputs)).cpu()


class TestPlots(Callback):
    """Base of an experiment's plot callback (declared under trainer.callbacks in its configs).
    At setup it refuses, in one line, a run whose data module is not `data_class`; after testing
    (rank 0 only) it calls draw(trainer, pl_module, folder, label) with the module in eval mode
    (its mode restored after), folder = trainer.default_root_dir and label = model_label."""

    data_class: type = object

    def setup(self, trainer, pl_module, stage: str) -> None:
        if not isinstance(trainer.datamodule, self.data_class):
            raise ValueError(f"trainer.callbacks: {type(self).__name__} draws {self.data_class.__name__} test sets, and "
                             f"this run's data is {type(trainer.datamodule).__name__}: remove the callback from the config")

    def on_test_end(self, trainer, pl_module) -> None:
        if trainer.global_rank != 0:
            return
        was_training = pl_module.training
        pl_module.eval()
        try:
            self.draw(trainer, pl_module, Path(trainer.default_root_dir), model_label(pl_module))
        finally:
            pl_module.train(was_training)

    def draw(self, trainer, pl_module, folder: Path, label: str) -> None:
        raise NotImplementedError
