"""The constellation experiment's plots: grids of test sets titled with true and predicted counts.
`ConstellationPlots` draws them after testing; the constellation configs declare it:

    trainer:
      callbacks:
        - class_path: lieformer.data.constellation_plots.ConstellationPlots
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..tasks.plots import TestPlots, finish_panels, plt, predict
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
    return finish_panels(fig, axes, n, path, title)


class ConstellationPlots(TestPlots):
    """After testing, for each test variant of the ConstellationData, the first `n` test sets with
    true and predicted counts: <trainer.default_root_dir>/constellations_<variant>.png."""

    data_class = ConstellationData

    def __init__(self, n: int = 16):
        self.n = n

    def draw(self, trainer, pl_module, folder: Path, label: str) -> None:
        dm = trainer.datamodule
        for name, dataset in zip(dm.eval_names, dm.test_sets):
            coords, values, mask, counts = (t[: self.n] for t in (dataset.coords, dataset.values, dataset.mask, dataset.counts))
            pred = predict(pl_module, coords, values, mask).argmax(-1)
            plot_constellations(coords.numpy(), mask.numpy(), counts.numpy(), pred.numpy(),
                                folder / f"constellations_{name}.png", title=f"{label} on the {name} test set")
