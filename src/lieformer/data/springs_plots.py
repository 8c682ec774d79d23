"""The springs experiment's plots, drawn after testing by `SpringsPlots` (the springs configs
declare it):

    trainer:
      callbacks:
        - class_path: lieformer.data.springs_plots.SpringsPlots

- trajectories.png: the positions of the first `n` test systems over the rollout (rollout_steps
  steps from the initial state), true (solid) and predicted (dashed), one colour per body;
- rollout_error.png: the MSE of the predicted state against the true one at each time of the
  rollout, averaged over the rollout test set (log scale), with its value also saved as
  rollout_error.csv (time, mse).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..tasks.plots import TestPlots, plt, save_figure
from .springs import SpringsData


def plot_trajectories(true: np.ndarray, predicted: np.ndarray, path, title: str = "") -> Path:
    """true, predicted (S, T, 2, n, 2) states: one panel per system, positions of each body over
    time, true solid and predicted dashed."""
    S, n = len(true), true.shape[-2]
    fig, axes = plt.subplots(1, S, figsize=(3.4 * S, 3.4), squeeze=False)
    colours = plt.cm.tab10(np.arange(n) % 10)
    for s, ax in enumerate(axes[0]):
        for i in range(n):
            ax.plot(true[s, :, 0, i, 0], true[s, :, 0, i, 1], "-", color=colours[i], lw=1.2)
            ax.plot(predicted[s, :, 0, i, 0], predicted[s, :, 0, i, 1], "--", color=colours[i], lw=1.2)
            ax.plot(*true[s, 0, 0, i], "o", color=colours[i], ms=4)
        ax.set_aspect("equal")
        ax.set_title(f"test system {s}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].plot([], [], "k-", label="true")
    axes[0][0].plot([], [], "k--", label="predicted")
    axes[0][0].legend(fontsize=8, loc="best")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_rollout_error(curves: dict[str, tuple[np.ndarray, np.ndarray]], path, title: str = "") -> Path:
    """curves: name → (times (T,), MSE at each time (T,)); log-scale error against time."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for name, (t, mse) in curves.items():
        ax.semilogy(t[1:], mse[1:], label=name)  # t = 0 is exact
    ax.set_xlabel("time")
    ax.set_ylabel("state MSE")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def rollout_error(pl_module, dataset, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times (T,), MSE per time (T,), predicted states (S, T, 2, n, 2)) of the task's rollouts of
    a DynamicsDataset, in evaluation mode."""
    was_training = pl_module.training
    pl_module.eval()
    errors, predicted = [], []
    device = pl_module.device
    for start in range(0, len(dataset), batch_size):
        traj = dataset.trajectory[start:start + batch_size].to(device)
        masses, features = dataset.masses[start:start + batch_size].to(device), dataset.features[start:start + batch_size].to(device)
        pred = pl_module.rollout(traj[:, 0], dataset.ts.to(device), masses, features).detach()
        errors.append((pred - traj).square().flatten(2).sum(-1).double().cpu())
        predicted.append(pred.cpu())
    pl_module.train(was_training)
    per_element = traj[0, 0].numel()
    mse = torch.cat(errors).mean(0) / per_element
    return dataset.ts.double().numpy(), mse.numpy(), torch.cat(predicted).double().numpy()


class SpringsPlots(TestPlots):
    """After testing: <trainer.default_root_dir>/trajectories.png (the first `n` test systems) and
    rollout_error.png / rollout_error.csv over the rollout test set (module docstring)."""

    data_class = SpringsData

    def __init__(self, n: int = 4):
        self.n = n

    def draw(self, trainer, pl_module, folder: Path, label: str) -> None:
        dataset = trainer.datamodule.test_sets[1]  # "rollout"
        t, mse, predicted = rollout_error(pl_module, dataset)
        folder.mkdir(parents=True, exist_ok=True)
        np.savetxt(folder / "rollout_error.csv", np.stack([t, mse], 1), delimiter=",", header="time,mse", comments="")
        plot_rollout_error({label: (t, mse)}, folder / "rollout_error.png", title=f"{label}: rollout error on the test set")
        n = min(self.n, len(dataset))
        plot_trajectories(dataset.trajectory[:n].double().numpy(), predicted[:n], folder / "trajectories.png",
                          title=f"{label}: true (solid) and predicted (dashed) test trajectories")
