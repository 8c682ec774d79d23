"""Plots any run can draw: learning curves from a run's metrics.csv, and saving a figure.
(An experiment's own plots live with its data module, e.g. lieformer.data.constellation_plots.)"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import matplotlib

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
