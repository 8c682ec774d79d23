"""Plots people would rather look at than read: constellations with their counts, learning curves."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..data.constellation import PATTERN_NAMES  # noqa: E402


def plot_constellations(coords, mask, true_counts, pred_counts, path, columns: int = 4, title: str = "") -> Path:
    """A grid of point sets, each titled with true and predicted counts per pattern type
    (green when all four are right, red otherwise)."""
    n = len(coords)
    rows = (n + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.4 * rows), squeeze=False)
    short = "".join(p[0].upper() for p in PATTERN_NAMES)
    for ax, x, m, t, p in zip(axes.flat, coords, mask, true_counts, pred_counts):
        pts = np.asarray(x)[np.asarray(m)]
        ax.scatter(pts[:, 0], pts[:, 1], s=12, c="k")
        ok = bool((np.asarray(t) == np.asarray(p)).all())
        ax.set_title(f"{short}\ntrue {''.join(map(str, t))}  pred {''.join(map(str, p))}", fontsize=9,
                     color="tab:green" if ok else "tab:red")
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


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


def plot_learning_curves(runs: dict[str, str | Path], path, metrics=("train/loss_epoch", "val/D/exact", "val/SE2/exact")) -> Path:
    """One panel per metric, one line per run (name → metrics.csv)."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.5), squeeze=False)
    for name, csv_path in runs.items():
        series = read_metrics(csv_path)
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
    return _save(fig, path)


def _save(fig, path) -> Path:
    """Lay out, write (creating the folder) and close a figure."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
