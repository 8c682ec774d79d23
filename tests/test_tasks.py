"""Regression and dynamics tasks (issue 4): metrics in the data's units, standardisation from the
training split, learning, checkpoints, the `lieformer` command with a task's class_path; Hamilton's
equations against closed forms and conservation laws, equivariant rollouts, gradients."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
import yaml
from torch.utils.data import DataLoader, TensorDataset

from lieformer.cli import main
from lieformer.tasks import HamiltonianDynamics, PointSetRegressor, PotentialModule

TINY_LT = {"dim": 16, "num_layers": 1, "heads": 2, "nbhd": 6, "kernel_dim": 8}
TINY_RESNET = {"k": 32, "num_layers": 2, "nbhd": 8, "fill": 1.0}


# ------------------------------------------------------------------------------------ regression
def invariant_sets(n: int, seed: int, points: int = 12):
    """Point sets with two SE(2)-invariant targets on different scales: 10·(mean distance to the
    centroid) + 5 and 100·(largest distance to the centroid); values: uninformative random
    features (constant ones would leave a BatchNorm over zero variance, unstable in eval mode)."""
    gen = torch.Generator().manual_seed(seed)
    coords = torch.randn(n, points, 2, generator=gen) * (0.5 + torch.rand(n, 1, 1, generator=gen))
    r = (coords - coords.mean(1, keepdim=True)).norm(dim=-1)
    y = torch.stack([10 * r.mean(-1) + 5, 100 * r.amax(-1)], -1)
    return coords, torch.rand(n, points, 1, generator=gen), torch.ones(n, points, dtype=torch.bool), y


class InvariantRegressionData(L.LightningDataModule):
    """Synthetic regression sets (invariant_sets); target_stats() from the training split."""

    def __init__(self, n_train: int = 256, n_val: int = 64, batch_size: int = 32):
        super().__init__()
        self.train = TensorDataset(*invariant_sets(n_train, 0))
        self.val = TensorDataset(*invariant_sets(n_val, 1))
        self.batch_size = batch_size

    def target_stats(self):
        y = self.train.tensors[-1].double()
        return y.mean(0), y.std(0)

    def train_dataloader(self):
        return DataLoader(self.train, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.val, batch_size=self.batch_size)


class Constant(torch.nn.Module):
    def __init__(self, z):
        super().__init__()
        self.z = z

    def forward(self, coords, values, mask):
        return self.z


def test_regression_metrics_are_in_the_data_units():
    model = PointSetRegressor("LieTransformer", "SE2", 1, targets=("a", "b"), network_args=TINY_LT,
                              target_mean=[5.0, 100.0], target_std=[2.0, 40.0], unit_scale=[1000.0, 1.0])
    coords, values, mask, y = invariant_sets(8, 3)
    z = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    model.net = Constant(z)
    loss, metrics = model.loss_and_metrics((coords, values, mask, y))
    mean, std, scale = torch.tensor([5.0, 100.0]), torch.tensor([2.0, 40.0]), torch.tensor([1000.0, 1.0])
    prediction = z * std + mean
    torch.testing.assert_close(model(coords, values, mask), prediction)
    torch.testing.assert_close(loss, ((z - (y - mean) / std).abs()).mean())
    mae = (prediction - y).abs().mean(0) * scale
    torch.testing.assert_close(metrics["mae_a"], mae[0])
    torch.testing.assert_close(metrics["mae_b"], mae[1])
    torch.testing.assert_close(metrics["mae"], mae.mean())


def test_regressor_standardises_from_the_training_split_learns_and_checkpoints(tmp_path):
    torch.manual_seed(0)
    data = InvariantRegressionData()
    model = PointSetRegressor("LieResNet", "SE2", 1, targets=("mean_r", "max_r"), network_args=TINY_RESNET,
                              lr=1e-2, loss="l1")
    trainer = L.Trainer(max_epochs=6, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(model, data)
    mean, std = data.target_stats()
    torch.testing.assert_close(model.target_mean, mean)
    torch.testing.assert_close(model.target_std, std)
    # learned something: well below the error of predicting the training mean
    y_val = data.val.tensors[-1].double()
    baseline = (y_val - mean).abs().mean(0).mean()
    assert trainer.callback_metrics["val/mae"] < 0.6 * baseline
    # the standardisation travels with the checkpoint
    trainer.save_checkpoint(tmp_path / "reg.ckpt")
    loaded = PointSetRegressor.load_from_checkpoint(tmp_path / "reg.ckpt")
    torch.testing.assert_close(loaded.target_mean, mean)
    coords, values, mask, _ = data.val.tensors
    model.eval(), loaded.eval()
    with torch.no_grad():  # the same lift draws for both (SE2 lifts are random)
        same = [m.net(coords, values, mask, generator=torch.Generator().manual_seed(0)) for m in (model, loaded)]
    torch.testing.assert_close(same[1], same[0])


def test_regressor_bad_input():
    with pytest.raises(ValueError, match="model.loss"):
        PointSetRegressor("LieTransformer", "SE2", 1, network_args=TINY_LT, loss="huber")
    with pytest.raises(ValueError, match="model.target_std: 1 values for 2 targets"):
        PointSetRegressor("LieTransformer", "SE2", 1, targets=("a", "b"), network_args=TINY_LT, target_std=[1.0])
    with pytest.raises(ValueError, match="positive"):
        PointSetRegressor("LieTransformer", "SE2", 1, network_args=TINY_LT, target_std=[0.0], target_mean=[0.0])
    model = PointSetRegressor("LieTransformer", "SE2", 1, targets=("a", "b"), network_args=TINY_LT)
    coords, values, mask, y = invariant_sets(4, 0)
    with pytest.raises(ValueError, match=r"targets must be \(B, 2\)"):
        model.loss_and_metrics((coords, values, mask, y[:, :1]))


def test_cli_runs_a_regression_task_by_class_path(tmp_path):
    config = {
        "seed_everything": 0,
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "enable_progress_bar": False,
                    "enable_model_summary": False, "default_root_dir": str(tmp_path / "reg"), "log_every_n_steps": 1},
        "model": {"class_path": "lieformer.tasks.PointSetRegressor",
                  "init_args": {"network": "LieTransformer", "group": "SE2", "in_channels": 1,
                                "targets": ["mean_r", "max_r"], "network_args": TINY_LT}},
        "data": {"class_path": "tests.test_tasks.InvariantRegressionData", "init_args": {"n_train": 64, "n_val": 32}},
    }
    path = tmp_path / "reg.yaml"
    path.write_text(yaml.safe_dump(config))
    main(["fit", "--config", str(path), "--model.loss", "mse"])
    metrics = (tmp_path / "reg" / "logs" / "metrics.csv").read_text()
    assert "val/mae" in metrics and "val/mae_max_r" in metrics
    best = list((tmp_path / "reg" / "checkpoints").glob("best-*.ckpt"))
    assert best and (tmp_path / "reg" / "checkpoints" / "last.ckpt").exists()
    assert torch.load(best[0], weights_only=False)["hyper_parameters"]["loss"] == "mse"
    assert not list((tmp_path / "reg").glob("*.png"))  # no experiment's plots attached to a run that did not ask


class TwoValidationSets(InvariantRegressionData):
    """Two validation loaders and no eval_names: the task numbers the second."""

    def val_dataloader(self):
        return [DataLoader(self.val, batch_size=self.batch_size), DataLoader(self.val, batch_size=self.batch_size)]


def test_evaluation_sets_without_names_are_numbered_after_the_first():
    model = PointSetRegressor("LieTransformer", "T(2)", 1, network_args=TINY_LT, target_mean=[0.0, 0.0],
                              target_std=[1.0, 1.0], targets=("a", "b"))
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    metrics = trainer.validate(model, TwoValidationSets(n_train=8, n_val=8), verbose=False)
    assert model.eval_names is None
    assert set(metrics[0]) == {"val/loss", "val/mae", "val/mae_a", "val/mae_b"}
    assert set(metrics[1]) == {"val/1/loss", "val/1/mae", "val/1/mae_a", "val/1/mae_b"}
    assert metrics[0]["val/mae"] == pytest.approx(metrics[1]["val/1/mae"])  # the same set twice (T(2): no random lift)


def test_the_generic_training_code_imports_no_experiment():
    """lieformer.tasks (every module of it) and the `lieformer` command know no data set: importing
    them loads no data module."""
    import subprocess
    import sys

    code = ("import importlib, pkgutil, sys, lieformer.cli, lieformer.tasks\n"
            "for m in pkgutil.iter_modules(lieformer.tasks.__path__): importlib.import_module('lieformer.tasks.' + m.name)\n"
            "assert 'lieformer.tasks.plots' in sys.modules\n"
            "print(sorted(m for m in sys.modules if m.startswith('lieformer.data')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "PYTHONWARNINGS": "ignore"}).stdout
    assert out.strip() == "[]"


# -------------------------------------------------------------------------------------- dynamics
def closed_form_task(potential) -> HamiltonianDynamics:
    task = HamiltonianDynamics("LieTransformer", "T(2)", 1, network_args=TINY_LT, step=1e-3).double()
    task.net = PotentialModule(potential)
    return task


def test_harmonic_oscillators_match_the_closed_form(dtype=torch.float64):
    """V = Σ ½ k_i ‖q_i‖²: q(t) = q₀ cos ωt + p₀/(mω) sin ωt, p(t) = −mω q₀ sin ωt + p₀ cos ωt."""
    gen = torch.Generator().manual_seed(0)
    B, n = 3, 4
    k = 0.5 + torch.rand(B, n, 1, generator=gen, dtype=dtype)
    m = 0.5 + torch.rand(B, n, generator=gen, dtype=dtype)
    task = closed_form_task(lambda q, f: 0.5 * (f * q.square()).sum((-1, -2)))
    z0 = torch.randn(B, 2, n, 2, generator=gen, dtype=dtype)
    ts = torch.linspace(0, 2, 21, dtype=dtype)
    states = task.rollout(z0, ts, m, k)
    w = (k[..., 0] / m).sqrt()[:, None, :, None]  # (B, 1, n, 1)
    t = ts[None, :, None, None]
    q0, p0, mm = z0[:, None, 0], z0[:, None, 1], m[:, None, :, None]
    q = q0 * torch.cos(w * t) + p0 / (mm * w) * torch.sin(w * t)
    p = -mm * w * q0 * torch.sin(w * t) + p0 * torch.cos(w * t)
    torch.testing.assert_close(states[:, :, 0], q, atol=1e-9, rtol=0)
    torch.testing.assert_close(states[:, :, 1], p, atol=1e-9, rtol=0)


def spring_potential(q, k):
    """½ Σ_{i,j} k_i k_j ‖q_i − q_j‖² (DESIGN §5's springs)."""
    kk = k[..., 0].unsqueeze(-1) * k[..., 0].unsqueeze(-2)
    return 0.5 * (kk * (q.unsqueeze(-2) - q.unsqueeze(-3)).square().sum(-1)).sum((-1, -2))


def test_spring_rollout_conserves_energy_and_momentum():
    gen = torch.Generator().manual_seed(1)
    B, n = 2, 6
    k = 5 * torch.rand(B, n, 1, generator=gen, dtype=torch.float64)
    m = 0.1 + 3 * torch.rand(B, n, generator=gen, dtype=torch.float64)
    task = closed_form_task(spring_potential)
    z0 = torch.cat([0.4 * torch.randn(B, 1, n, 2, generator=gen, dtype=torch.float64),
                    0.6 * torch.randn(B, 1, n, 2, generator=gen, dtype=torch.float64)], 1)
    states = task.rollout(z0, torch.linspace(0, 1, 11, dtype=torch.float64), m, k)
    energy = torch.stack([task.energy(states[:, i], m, k) for i in range(11)], 1)
    torch.testing.assert_close(energy, energy[:, :1].expand_as(energy), atol=1e-8, rtol=1e-9)
    momentum = states[:, :, 1].sum(-2)
    torch.testing.assert_close(momentum, momentum[:, :1].expand_as(momentum), atol=1e-10, rtol=0)
    assert (states[:, -1] - states[:, 0]).abs().max() > 0.1  # it moved


def rigid(z, angle, shift):
    R = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], dtype=z.dtype)
    q, p = z[..., 0, :, :] @ R.T + shift, z[..., 1, :, :] @ R.T
    return torch.stack([q, p], -3)


@pytest.mark.parametrize("group,network_args,angle", [
    ("T(2)", {}, 0.0),
    ("SE2", {"lift_frame": "centroid"}, 0.9),
])
def test_learned_rollout_is_equivariant_and_trains(group, network_args, angle):
    """A LieTransformer potential invariant under the group gives rollouts that move with the
    input (translations for T(2); rotations too for SE2 with centroid frames), and the trajectory
    loss reaches every parameter."""
    torch.manual_seed(0)
    task = HamiltonianDynamics("LieTransformer", group, 1, network_args={**TINY_LT, **network_args}, step=0.05).double()
    gen = torch.Generator().manual_seed(2)
    B, n = 2, 5
    z0 = torch.randn(B, 2, n, 2, generator=gen, dtype=torch.float64)
    m = 1 + torch.rand(B, n, generator=gen, dtype=torch.float64)
    features = m.unsqueeze(-1)
    ts = torch.linspace(0, 0.5, 6, dtype=torch.float64)
    task.eval()
    shift = torch.tensor([3.0, -1.5], dtype=torch.float64)
    states = task.rollout(z0, ts, m, features)
    moved = task.rollout(rigid(z0, angle, shift), ts, m, features)
    torch.testing.assert_close(moved, rigid(states, angle, shift), atol=1e-9, rtol=1e-9)
    task.train()
    target = states.detach() + 0.01 * torch.randn(states.shape, generator=gen, dtype=torch.float64)
    loss, metrics = task.loss_and_metrics((z0, ts.expand(B, -1), target, m, features))
    loss.backward()
    # every parameter but the output bias — an additive constant of V, which exerts no force
    output_bias = task.net.head[-1].bias
    assert output_bias.grad is None
    grads = [p.grad for p in task.net.parameters() if p is not output_bias]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    assert metrics["mse"] == loss.detach()


def test_dynamics_validation_runs_under_lightning_inference_mode():
    """Lightning evaluates in inference mode; the forces still come from autograd."""
    gen = torch.Generator().manual_seed(3)
    B, n, T = 8, 4, 4
    k = torch.rand(B, n, 1, generator=gen)
    m = 1 + torch.rand(B, n, generator=gen)
    truth = closed_form_task(spring_potential).float()
    z0 = torch.randn(B, 2, n, 2, generator=gen)
    ts = torch.linspace(0, 0.3, T)
    trajectory = truth.rollout(z0, ts, m, k).detach()
    loader = DataLoader(TensorDataset(z0, ts.expand(B, T), trajectory, m, k), batch_size=4)
    task = HamiltonianDynamics("LieTransformer", "T(2)", 1, network_args=TINY_LT, step=0.05)
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(task, loader, loader)
    result = trainer.validate(task, loader, verbose=False)[0]
    assert math.isfinite(result["val/mse"]) and result["val/mse"] > 0


def test_dynamics_bad_input():
    task = closed_form_task(spring_potential)
    with pytest.raises(ValueError, match=r"z0 must be \(B, 2, n, d\)"):
        task.rollout(torch.zeros(2, 3, 4, 2, dtype=torch.float64), torch.linspace(0, 1, 3), torch.ones(2, 4), torch.ones(2, 4, 1))
    with pytest.raises(ValueError, match="ts must be"):
        task.rollout(torch.zeros(2, 2, 4, 2, dtype=torch.float64), torch.zeros(1), torch.ones(2, 4), torch.ones(2, 4, 1))
