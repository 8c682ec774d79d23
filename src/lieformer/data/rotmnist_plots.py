"""The RotMNIST experiment's plots: test digits drawn as the point clouds the model sees, titled with
true and predicted labels, one grid per test variant. `RotMNISTPlots` draws them after testing; the
RotMNIST configs declare it:

    trainer:
      callbacks:
        - class_path: lieformer.data.rotmnist_plots.RotMNISTPlots
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from ..tasks.plots import plt, save_figure
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
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


class RotMNISTPlots(Callback):
    """After testing, for each test variant of the RotMNISTData, the first `n` test digits as point
    clouds with true and predicted labels: <trainer.default_root_dir>/digits_<variant>.png."""

    def __init__(self, n: int = 32):
        self.n = n

    def setup(self, trainer, pl_module, stage: str) -> None:
        if not isinstance(trainer.datamodule, RotMNISTData):
            raise ValueError(f"trainer.callbacks: RotMNISTPlots draws RotMNISTData test digits, and this run's "
                             f"data is {type(trainer.datamodule).__name__}: remove the callback from the config")

    def on_test_end(self, trainer, pl_module) -> None:
        if trainer.global_rank != 0:
            return
        dm = trainer.datamodule
        collate = PointCloudCollate(augment=False)
        for name, dataset in zip(dm.eval_names, dm.test_sets):
            coords, values, mask, labels = collate([dataset[i] for i in range(min(self.n, len(dataset)))])
            was_training = pl_module.training
            pl_module.eval()
            with torch.no_grad():
                device = pl_module.device
                pred = pl_module(coords.to(device), values.to(device), mask.to(device)).argmax(-1).cpu()
            pl_module.train(was_training)
            net = getattr(pl_module, "net", pl_module)
            group = getattr(net, "group", None)
            label = f"{type(net).__name__}" + (f" ({group!r})" if group is not None else "")
            plot_digit_clouds(coords.numpy(), values[..., 0].numpy(), labels[:, 0].numpy(), pred[:, 0].numpy(),
                              Path(trainer.default_root_dir) / f"digits_{name}.png",
                              title=f"{label} on the {name} RotMNIST test digits")
