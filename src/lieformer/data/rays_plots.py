"""The ray-shape experiment's plots: scenes of camera rays in 3-D, titled with the true and the
predicted shape. `RayPlots` draws them after testing; the configs in configs/rays declare it:

    trainer:
      callbacks:
        - class_path: lieformer.data.rays_plots.RayPlots
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..tasks.plots import TestPlots, plt, predict, save_figure
from .rays import SHAPES, RayShapesData

#: length drawn for rays that miss the object
MISS_LENGTH = 5.0


def plot_ray_sets(rays, values, origins, labels, preds, path, columns: int = 4, title: str = "") -> Path:
    """A grid of 3-D ray sets: rays (n, N, 6) Plücker (d, m), values (n, N, 2) (hit, depth),
    origins (n, N, 3) camera centres; each ray drawn from its camera, to its hit point (coloured
    by depth, dot at the surface) or MISS_LENGTH along d (grey). Titles: true / predicted shape
    (labels, preds (n,) indices into SHAPES; preds None: true only), green when right."""
    n = len(rays)
    rows = (n + columns - 1) // columns
    fig = plt.figure(figsize=(3.4 * columns, 3.4 * rows))
    cmap = plt.get_cmap("viridis")
    for i in range(n):
        ax = fig.add_subplot(rows, columns, i + 1, projection="3d")
        d, hit, depth, c = np.asarray(rays[i][:, :3]), np.asarray(values[i][:, 0]) > 0, np.asarray(values[i][:, 1]), np.asarray(origins[i])
        end = c + np.where(hit, depth, MISS_LENGTH)[:, None] * d
        lo, hi = depth[hit].min() if hit.any() else 0, depth[hit].max() if hit.any() else 1
        for k in range(len(d)):
            colour = cmap((depth[k] - lo) / max(hi - lo, 1e-6)) if hit[k] else (0.6, 0.6, 0.6, 0.5)
            ax.plot(*zip(c[k], end[k]), color=colour, lw=0.6)
        if hit.any():
            ax.scatter(*end[hit].T, s=5, c=depth[hit], cmap=cmap)
        true = SHAPES[int(labels[i])]
        if preds is None:
            ax.set_title(true, fontsize=9)
        else:
            guess = SHAPES[int(preds[i])]
            ax.set_title(f"true {true}\npred {guess}", fontsize=9, color="tab:green" if guess == true else "tab:red")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_zticks([])
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


class RayPlots(TestPlots):
    """After testing, for each test variant of the RayShapesData, the first `n` scenes with true
    and predicted shapes: <trainer.default_root_dir>/rays_<variant>.png."""

    data_class = RayShapesData

    def __init__(self, n: int = 8):
        self.n = n

    def draw(self, trainer, pl_module, folder: Path, label: str) -> None:
        dm = trainer.datamodule
        for name, ds in zip(dm.eval_names, dm.test_sets):
            rays, values, mask, origins, labels, depth = (t[: self.n] for t in (ds.rays, ds.values, ds.mask, ds.origins,
                                                                                 ds.labels, ds.depth))
            pred = predict(pl_module, rays, values, mask).argmax(-1)[:, 0]
            hit_depth = torch.stack([values[..., 0], depth], -1)
            plot_ray_sets(rays.numpy(), hit_depth.numpy(), origins.numpy(), labels[:, 0].numpy(), pred.numpy(),
                          folder / f"rays_{name}.png", title=f"{label} on the {name} test set")
