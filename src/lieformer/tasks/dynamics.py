"""Learning dynamics as a LightningModule: roll states forward with an ODE solver (torchdiffeq)
and fit the rolled-out trajectory. The base for the Hamiltonian springs experiment (DESIGN §5).

States of n particles in d dimensions are z = (q, p), shape (B, 2, n, d). A Hamiltonian model
learns the potential V_θ(q) — one invariant scalar per system from the network on the particle
positions — and moves by Hamilton's equations with the known kinetic energy Σ p²/2m:

    dq/dt = p / m,        dp/dt = −∂V_θ/∂q,

integrated with RK4 (torchdiffeq). The loss is the MSE of the rolled-out states over the chunk.
Use a network whose lift is deterministic (a group with a trivial stabilizer such as T(2), or
lift_frame="centroid"), so that every solver stage sees the same potential.
DirectDynamics is the non-Hamiltonian alternative: a network gives dz/dt itself (the springs
baselines FC and OGN).
"""

from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchdiffeq import odeint

from .base import PointSetTask, bound_arguments, build_network


class DynamicsTask(PointSetTask):
    """Base: rollout(z0, ts, context) integrates vector_field with `method` (fixed-step RK4 by
    default, `step` the step size, None = the spacing of ts). Batches: (z0 (B, 2, n, d),
    ts (B, T) the times of the chunk (equal across the batch), trajectory (B, T, 2, n, d),
    masses (B, n), features (B, n, c)). Metrics: the MSE of the rolled-out states."""

    monitor_metric = ("mse", "min")

    method: str = "rk4"
    step: float | None = None

    def vector_field(self, t: Tensor, z: Tensor, masses: Tensor, features: Tensor) -> Tensor:
        raise NotImplementedError

    def rollout(self, z0: Tensor, ts: Tensor, masses: Tensor, features: Tensor) -> Tensor:
        """States at the times ts (T,): (B, T, 2, n, d), starting from z0 = the state at ts[0]."""
        if z0.dim() != 4 or z0.shape[1] != 2:
            raise ValueError(f"z0 must be (B, 2, n, d) = (q, p), got {tuple(z0.shape)}")
        if ts.dim() != 1 or len(ts) < 2:
            raise ValueError(f"ts must be a 1-D tensor of at least 2 times, got shape {tuple(ts.shape)}")
        options = {"step_size": self.step} if self.step is not None else None
        # forces need autograd even in evaluation, which Lightning runs in inference mode
        with torch.inference_mode(False):
            z0, ts, masses, features = (t.clone() if t.is_inference() else t for t in (z0, ts, masses, features))
            states = odeint(lambda t, z: self.vector_field(t, z, masses, features), z0, ts.to(z0.dtype),
                            method=self.method, options=options)  # (T, B, 2, n, d)
        return states.transpose(0, 1)

    def loss_and_metrics(self, batch) -> tuple[Tensor, dict[str, Tensor]]:
        z0, ts, trajectory, masses, features = batch
        if not torch.allclose(ts, ts[:1].expand_as(ts)):
            raise ValueError("every system of a batch must use the same chunk times ts")
        predicted = self.rollout(z0, ts[0], masses, features)
        loss = F.mse_loss(predicted, trajectory)
        return loss, {"loss": loss, "mse": loss.detach()}


class HamiltonianDynamics(DynamicsTask):
    """H(q, p) = Σ_i ‖p_i‖²/2m_i + V_θ(q): V_θ = network(q, features, mask) (one scalar per
    system, invariant under the network's group), the kinetic energy known. The forces −∂V/∂q
    come from autograd (create_graph while training, so the parameters get gradients through
    them); the masses are the first feature channel unless `features` are given separately."""

    def __init__(
        self,
        network: str = "LieTransformer",
        group: str = "T(2)",
        in_channels: int = 1,
        network_args: dict | None = None,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        weight_decay: float = 0.0,
        warmup_frac: float = 0.01,
        step: float | None = None,
        eval_names: tuple[str, ...] | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.net = build_network(network, in_channels, 1, group, network_args)
        self.step, self.eval_names = step, None if eval_names is None else tuple(eval_names)

    def potential(self, q: Tensor, features: Tensor) -> Tensor:
        """V_θ(q) (B,) for positions q (B, n, d) and per-particle features (B, n, c)."""
        return self.net(q, features, None).squeeze(-1)

    def energy(self, z: Tensor, masses: Tensor, features: Tensor) -> Tensor:
        """H(q, p) (B,)."""
        q, p = z[:, 0], z[:, 1]
        kinetic = (p.square().sum(-1) / (2 * masses.to(p.dtype))).sum(-1)
        return kinetic + self.potential(q, features)

    def vector_field(self, t: Tensor, z: Tensor, masses: Tensor, features: Tensor) -> Tensor:
        with torch.enable_grad():
            q = z[:, 0] if z[:, 0].requires_grad else z[:, 0].detach().requires_grad_()
            V = self.potential(q, features).sum()
            (force,) = torch.autograd.grad(-V, q, create_graph=self.training or z.requires_grad)
        p = z[:, 1]
        return torch.stack([p / masses.to(p.dtype).unsqueeze(-1), force], 1)

    def predict_step(self, batch, batch_idx, dataloader_idx: int = 0):
        z0, ts, _, masses, features = batch
        return self.rollout(z0, ts[0], masses, features)


class DirectDynamics(DynamicsTask):
    """A network that gives the time derivative itself, dz/dt = network(z, features) (B, 2, n, d),
    integrated with RK4 like the Hamiltonian models: no conservation law built in (the springs
    baselines FC and OGN, lieformer.models.baselines.DYNAMICS_NETWORKS). Same batches, loss and
    metrics as HamiltonianDynamics; the masses reach the network only through `features`."""

    def __init__(
        self,
        network: str = "FC",
        in_channels: int = 2,
        network_args: dict | None = None,
        lr: float = 1e-2,
        betas: tuple[float, float] = (0.9, 0.999),
        weight_decay: float = 0.0,
        warmup_frac: float = 0.01,
        step: float | None = None,
        eval_names: tuple[str, ...] | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        from ..models.baselines import DYNAMICS_NETWORKS

        if network not in DYNAMICS_NETWORKS:
            raise ValueError(f"model.network: unknown direct-dynamics network {network!r}; choose one of "
                             f"{sorted(DYNAMICS_NETWORKS)}")
        cls = DYNAMICS_NETWORKS[network]
        self.net = cls(in_channels, **bound_arguments(network, cls, (in_channels,), network_args))
        self.step, self.eval_names = step, None if eval_names is None else tuple(eval_names)

    def vector_field(self, t: Tensor, z: Tensor, masses: Tensor, features: Tensor) -> Tensor:
        return self.net(z, features)

    def predict_step(self, batch, batch_idx, dataloader_idx: int = 0):
        z0, ts, _, masses, features = batch
        return self.rollout(z0, ts[0], masses, features)


class PotentialModule(nn.Module):
    """Adapter: a plain function V(q (B, n, d), features (B, n, c)) → (B,) as a `net`, for
    closed-form potentials (tests, baselines): net(q, features, mask) → (B, 1)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, q: Tensor, features: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.fn(q, features).unsqueeze(-1)
