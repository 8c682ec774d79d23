"""The QM9 experiment's plots: for each evaluation set (valid, test) a parity plot (predicted
against true, one panel per target) and a histogram of the errors, in the papers' units.
`QM9Plots` draws them after testing; the QM9 configs declare it:

    trainer:
      callbacks:
        - class_path: lieformer.data.qm9_plots.QM9Plots
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..tasks.plots import TestPlots, plt, predict, save_figure
from .qm9 import UNITS, QM9Collate, QM9Data


def plot_parity(true: np.ndarray, pred: np.ndarray, targets, path, title: str = "") -> Path:
    """true, pred (n, T) in the papers' units → one panel per target, predicted against true with
    the diagonal, titled with the MAE over the n molecules."""
    T = len(targets)
    fig, axes = plt.subplots(1, T, figsize=(4.2 * T, 4.2), squeeze=False)
    for ax, t, x, y in zip(axes[0], targets, true.T, pred.T):
        lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        ax.plot([lo, hi], [lo, hi], color="0.6", lw=1)
        ax.scatter(x, y, s=3, alpha=0.4, lw=0)
        ax.set_xlabel(f"true {t} ({UNITS[t]})")
        ax.set_ylabel(f"predicted {t} ({UNITS[t]})")
        ax.set_title(f"{t}: MAE {np.abs(y - x).mean():.4g} {UNITS[t]} (n={len(x)})", fontsize=9)
        ax.set_aspect("equal")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_error_histogram(true: np.ndarray, pred: np.ndarray, targets, path, title: str = "", bins: int = 60) -> Path:
    """Histogram of predicted − true per target (log count), the MAE marked at ±MAE."""
    T = len(targets)
    fig, axes = plt.subplots(1, T, figsize=(4.2 * T, 3.4), squeeze=False)
    for ax, t, x, y in zip(axes[0], targets, true.T, pred.T):
        err = y - x
        mae = np.abs(err).mean()
        ax.hist(err, bins=bins, log=True, color="tab:blue", alpha=0.8)
        for s in (-mae, mae):
            ax.axvline(s, color="tab:red", lw=1, ls="--")
        ax.set_xlabel(f"predicted − true {t} ({UNITS[t]})")
        ax.set_title(f"{t}: MAE {mae:.4g} {UNITS[t]}", fontsize=9)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


class QM9Plots(TestPlots):
    """After testing, for each evaluation set of the QM9Data (valid, test), predictions on its
    first `n` molecules (None: all) → <trainer.default_root_dir>/qm9_parity_<set>.png and
    qm9_errors_<set>.png, plus the predictions themselves, qm9_predictions_<set>.npz (true,
    pred (n, T), targets)."""

    data_class = QM9Data

    def __init__(self, n: int | None = 3000, batch_size: int = 250):
        self.n, self.batch_size = n, batch_size

    def predictions(self, pl_module, dataset) -> tuple[np.ndarray, np.ndarray]:
        """(true, pred) (n, T) for the first n molecules of a QM9Dataset."""
        n = len(dataset) if self.n is None else min(self.n, len(dataset))
        collate = QM9Collate()
        true, pred = [], []
        for start in range(0, n, self.batch_size):
            coords, values, mask, y = collate([dataset[i] for i in range(start, min(n, start + self.batch_size))])
            pred.append(predict(pl_module, coords, values, mask).double())
            true.append(y)
        return torch.cat(true).numpy(), torch.cat(pred).numpy()

    def draw(self, trainer, pl_module, folder: Path, label: str) -> None:
        dm = trainer.datamodule
        for name, dataset in zip(dm.eval_names, (dm.valid_set, dm.test_set)):
            true, pred = self.predictions(pl_module, dataset)
            folder.mkdir(parents=True, exist_ok=True)
            np.savez(folder / f"qm9_predictions_{name}.npz", true=true, pred=pred, targets=np.array(dm.targets))
            plot_parity(true, pred, dm.targets, folder / f"qm9_parity_{name}.png", title=f"{label} on QM9 {name}")
            plot_error_histogram(true, pred, dm.targets, folder / f"qm9_errors_{name}.png", title=f"{label} on QM9 {name}")
