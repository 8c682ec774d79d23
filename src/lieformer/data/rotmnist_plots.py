"""The RotMNIST experiment's plots: test digits drawn as the point clouds the model sees, titled with
true and predicted labels, one grid per test variant. `RotMNISTPlots` draws them after testing; the
RotMNIST configs declare it:

    trainer:
      callbacks:
        - class_path: lieformer.data.rotmnist_plots.RotMNISTPlots

Learning curves of several runs against the training step (CPU runs last a few epochs, so per-epoch
curves would be a few points): `plot_training_curves`, or from the command line

    python -m lieformer.data.rotmnist_plots OUT.png NAME=RUN_DIR [NAME=RUN_DIR ...]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from ..tasks.plots import TestPlots, finish_panels, plt, predict, save_figure
from .rotmnist import PointCloudCollate, RotMNISTData


def plot_digit_clouds(coords, values, true_labels, pred_labels, path, columns: int = 8, title: str = "") -> Path:
    """A grid of point clouds (coords (n, P, 2) in (row, column) order, values (n, P) intensities in
    [0, 1]) drawn as images are (row downwards), each titled "true t / pred p" (green when right)."""
    n = len(coords)
    rows = (n + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.8 * rows), squeeze=False)
    for ax, x, v, t, p in zip(axes.flat, coords, values, true_labels, pred_labels):
        x, v = np.asarray(x), np.asarray(v)
        ax.scatter(x[:, 1], -x[:, 0], c=v, s=4, cmap="gray_r", vmin=0, vmax=1, marker="s", linewidths=0)
        ax.set_title(f"true {int(t)} / pred {int(p)}", fontsize=8, color="tab:green" if int(t) == int(p) else "tab:red")
    return finish_panels(fig, axes, n, path, title, fontsize=10)


class RotMNISTPlots(TestPlots):
    """After testing, for each test variant of the RotMNISTData, the first `n` test digits as point
    clouds with true and predicted labels: <trainer.default_root_dir>/digits_<variant>.png."""

    data_class = RotMNISTData

    def __init__(self, n: int = 32):
        self.n = n

    def draw(self, trainer, pl_module, folder: Path, label: str) -> None:
        dm = trainer.datamodule
        collate = PointCloudCollate(augment=False)
        for name, dataset in zip(dm.eval_names, dm.test_sets):
            coords, values, mask, labels = collate([dataset[i] for i in range(min(self.n, len(dataset)))])
            pred = predict(pl_module, coords, values, mask).argmax(-1)
            plot_digit_clouds(coords.numpy(), values[..., 0].numpy(), labels[:, 0].numpy(), pred[:, 0].numpy(),
                              folder / f"digits_{name}.png", title=f"{label} on the {name} RotMNIST test digits")


def read_step_metrics(csv_path) -> dict[str, list[tuple[int, float]]]:
    """Lightning CSVLogger metrics.csv → {metric: [(step, value), ...]} (every logged row)."""
    series: dict[str, list[tuple[int, float]]] = {}
    with open(csv_path) as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key in ("epoch", "step") or value in ("", None) or row.get("step") in ("", None):
                    continue
                series.setdefault(key, []).append((int(row["step"]), float(value)))
    return series


def plot_training_curves(runs: dict[str, str | Path], path, smooth: int = 3) -> Path:
    """Two panels for the runs (name → metrics.csv): training loss against the step (running mean
    over `smooth` logged values) and validation error (%) per test variant against the step."""
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, csv_path in runs.items():
        series = read_step_metrics(csv_path)
        loss = series.get("train/loss_step", [])
        if loss:
            steps, values = map(np.asarray, zip(*loss))
            kernel = np.ones(min(smooth, len(values))) / min(smooth, len(values))
            ax_loss.plot(steps[len(kernel) - 1:], np.convolve(values, kernel, "valid"), label=name)
        for key in sorted(k for k in series if k.startswith("val/") and k.endswith("/exact")):
            steps, acc = map(np.asarray, zip(*series[key]))
            ax_err.plot(steps, 100 * (1 - acc), marker="o", ms=4, label=f"{name} {key.split('/')[1]}")
    ax_loss.set(title="training loss (running mean)", xlabel="step", yscale="log")
    ax_err.set(title="validation error (%)", xlabel="step")
    for ax in (ax_loss, ax_err):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lieformer.data.rotmnist_plots",
                                     description="learning curves of RotMNIST runs against the step")
    parser.add_argument("out", help="the PNG to write")
    parser.add_argument("runs", nargs="+", help="NAME=RUN_DIR (its logs/metrics.csv is read)")
    args = parser.parse_args(argv)
    runs = {}
    for item in args.runs:
        name, sep, folder = item.partition("=")
        if not sep:
            parser.error(f"runs: expected NAME=RUN_DIR, got {item!r}")
        csv_path = Path(folder) / "logs" / "metrics.csv"
        if not csv_path.is_file():
            parser.error(f"runs: {name}: no {csv_path}")
        runs[name] = csv_path
    print(plot_training_curves(runs, args.out))


if __name__ == "__main__":
    main()
