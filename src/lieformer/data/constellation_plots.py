"""The constellation experiment's plots: grids of test sets titled with true and predicted counts.
`ConstellationPlots` draws them after testing; the constellation configs declare it:

    trainer:
      callbacks:
        - class_path: lieformer.data.constellation_plots.ConstellationPlots
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from ..tasks.plots import plt, save_figure
from .constellation import PATTERN_NAMES, ConstellationData


def plot_constellations(coords, mask, true_counts, pred_counts, path, columns: int = 4, title: str = "") -> Path:
    """A grid of point sets (coords (n, N, 2), mask (n, N)), each titled with true and predicted
    counts (n, 4) per pattern type (green when all four are right, red otherwise)."""
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
    return save_figure(fig, path)


class ConstellationPlots(Callback):
    """After testing, for each test variant of the ConstellationData, the first `n` test sets with
    true and predicted counts: <trainer.default_root_dir>/constellations_<variant>.png."""

    def __init__(self, n: int = 16):
        self.n = n

    def setup(self, trainer, pl_module, stage: str) -> None:
        if not isinstance(trainer.datamodule, ConstellationData):
            raise ValueError(f"trainer.callbacks: ConstellationPlots draws ConstellationData test sets, and this run's "
                             f"data is {type(trainer.datamodule).__name__}: remove the callback from the config")

    def on_test_end(self, trainer, pl_module) -> None:
        if trainer.global_rank != 0:
            return
        dm = trainer.datamodule
        for name, dataset in zip(dm.eval_names, dm.test_sets):
            coords, values, mask, counts = (t[: self.n] for t in (dataset.coords, dataset.values, dataset.mask, dataset.counts))
            was_training = pl_module.training
            pl_module.eval()
            with torch.no_grad():
                device = pl_module.device
                pred = pl_module(coords.to(device), values.to(device), mask.to(device)).argmax(-1).cpu()
            pl_module.train(was_training)
            net = getattr(pl_module, "net", pl_module)
            group = getattr(net, "group", None)
            label = f"{type(net).__name__}" + (f" ({group!r})" if group is not None else "")
            plot_constellations(coords.numpy(), mask.numpy(), counts.numpy(), pred.numpy(),
                                Path(trainer.default_root_dir) / f"constellations_{name}.png",
                                title=f"{label} on the {name} test set")
