"""Hamiltonian springs (issue 14): the simulation against an independent integrator and the
conservation laws, the data module's streams (nested, independent, cached), the baselines,
equivariant rollouts of the Hamiltonian Lie models, and a short training comparison."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from lieformer.data import springs as springs_module
from lieformer.data.springs import SpringsData, simulate_springs
from lieformer.models.baselines import FC, HFC, HOGN, OGN
from lieformer.tasks import DirectDynamics, HamiltonianDynamics


# ------------------------------------------------------------------ independent references (numpy, loops)
def reference_field(t, y, masses, k):
    """dz/dt of one system, z = (q, p) flattened (2·n·2,): plain loops over the ordered pairs."""
    n = len(masses)
    q, p = y[: 2 * n].reshape(n, 2), y[2 * n:].reshape(n, 2)
    force = np.zeros_like(q)
    for i in range(n):
        for j in range(n):
            if i != j:  # V = ½ Σ_{i≠j} k_i k_j |q_i − q_j|²: each pair twice, force −2 Σ_j k_i k_j (q_i − q_j)
                force[i] -= 2 * k[i] * k[j] * (q[i] - q[j])
    return np.concatenate([(p / masses[:, None]).ravel(), force.ravel()])


def reference_energy(q, p, masses, k):
    n = len(masses)
    kinetic = sum(p[i] @ p[i] / (2 * masses[i]) for i in range(n))
    potential = 0.5 * sum(k[i] * k[j] * (q[i] - q[j]) @ (q[i] - q[j]) for i in range(n) for j in range(n) if i != j)
    return kinetic + potential


def dop853(z0, masses, k, ts):
    """(T, 2, n, 2) from scipy's DOP853 at rtol 1e-10."""
    sol = solve_ivp(reference_field, (ts[0], ts[-1]), z0.reshape(-1), method="DOP853", t_eval=ts, rtol=1e-10,
                    atol=1e-12, args=(masses, k))
    assert sol.success
    return sol.y.T.reshape(len(ts), 2, -1, 2)


# ------------------------------------------------------------------ simulation
def test_simulation_matches_dop853_to_the_rk4_truncation_error():
    """From the same initial states, RK4 (dt 0.01) differs from DOP853 (rtol 1e-10) by its own
    truncation error: small, and 4th order — halving the step shrinks it ~16×."""
    S = 6
    ts, z, masses, k = simulate_springs(S, seed=11)
    _, z_half, _, _ = simulate_springs(S, seed=11, steps=1000)
    assert ts.dtype == z.dtype == masses.dtype == k.dtype == torch.float64
    assert z.shape == (S, 501, 2, 6, 2) and ts.shape == (501,) and masses.shape == k.shape == (S, 6)
    torch.testing.assert_close(ts, torch.linspace(0, 5, 501, dtype=torch.float64))
    torch.testing.assert_close(z_half[:, 0], z[:, 0], rtol=0, atol=0)  # same initial states
    err, err_half = [], []
    for s in range(S):
        ref = dop853(z[s, 0].numpy(), masses[s].numpy(), k[s].numpy(), ts.numpy())
        err.append(np.abs(z[s].numpy() - ref).max())
        err_half.append(np.abs(z_half[s, ::2].numpy() - ref).max())
    err, err_half = np.array(err), np.array(err_half)
    assert np.median(err) < 1e-3, err
    ratio = err / err_half
    assert np.median(ratio) > 12 and ratio.min() > 8, ratio  # 4th order: 2⁴ = 16


def test_energy_drift_is_small_and_fourth_order_and_momentum_stays_zero():
    """Median relative energy drift over 500 steps ≤ 1e-5 (energies from a plain-loop reference),
    shrinking ≥16× when the step halves; each system's total momentum is zero throughout."""
    S = 200
    _, z, masses, k = simulate_springs(S, seed=5)
    _, z_half, _, _ = simulate_springs(S, seed=5, steps=1000)

    def drift(traj):
        out = []
        for s in range(S):
            e0 = reference_energy(traj[s, 0, 0], traj[s, 0, 1], masses[s].numpy(), k[s].numpy())
            e1 = reference_energy(traj[s, -1, 0], traj[s, -1, 1], masses[s].numpy(), k[s].numpy())
            out.append(abs(e1 - e0) / abs(e0))
        return np.array(out)

    d, d_half = drift(z.numpy()), drift(z_half.numpy())
    assert np.median(d) <= 1e-5, np.median(d)
    assert np.median(d) / np.median(d_half) >= 16, (np.median(d), np.median(d_half))
    momentum = z[:, :, 1].sum(-2)  # (S, T, 2)
    assert momentum.abs().max() < 1e-12
    assert z[:, :, 1].abs().max() > 1  # it is not zero because the momenta are


def test_initial_state_distribution():
    """masses U(0.1, 3.1), k U(0, 5), q₀ 0.4·N(0, 1), p₀ 0.6·N(0, 1) minus its per-system mean
    (so its per-body variance is 0.36·(n−1)/n); reproducible from the seed."""
    _, z, masses, k = simulate_springs(3000, seed=2, steps=1, t_end=0.01)
    q0, p0 = z[:, 0, 0], z[:, 0, 1]
    assert 0.1 <= masses.min() and masses.max() <= 3.1 and abs(masses.mean() - 1.6) < 0.03
    assert 0 <= k.min() and k.max() <= 5 and abs(k.mean() - 2.5) < 0.05
    assert abs(q0.std() - 0.4) < 0.01
    assert abs(p0.var() - 0.36 * 5 / 6) < 0.01
    _, z_again, _, _ = simulate_springs(3000, seed=2, steps=1, t_end=0.01)
    torch.testing.assert_close(z, z_again, rtol=0, atol=0)
    _, z_other, _, _ = simulate_springs(3000, seed=3, steps=1, t_end=0.01)
    assert not torch.allclose(z_other[:, 0], z[:, 0])


@pytest.mark.parametrize("kwargs,match", [
    ({"num_systems": 0}, "num_systems must be a positive integer"),
    ({"num_systems": 2.5}, "num_systems must be a positive integer"),
    ({"num_bodies": 1}, "num_bodies must be at least 2"),
    ({"steps": 0}, "steps must be a positive integer"),
    ({"t_end": -1.0}, "t_end must be a positive finite number"),
    ({"t_end": float("nan")}, "t_end must be a positive finite number"),
])
def test_simulate_springs_bad_input(kwargs, match):
    args = {"num_systems": 2, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        simulate_springs(args.pop("num_systems"), **args)


# ------------------------------------------------------------------ data module
SMALL = dict(steps=60, t_end=0.6, rollout_steps=20, chunk_len=5, block_size=8, n_val=4, n_test=10, batch_size=4)


def small_data(tmp_path, **kwargs) -> SpringsData:
    data = SpringsData(**{**SMALL, "cache_dir": str(tmp_path), **kwargs})
    data.setup()
    return data


def test_training_sets_are_nested_chunks_of_the_simulated_stream(tmp_path):
    """n_train = 10 is the first 10 systems of n_train = 25 (across blocks of 8); every chunk is
    chunk_len + 1 consecutive states of that system's own simulate_springs trajectory."""
    small, large = small_data(tmp_path, n_train=10), small_data(tmp_path, n_train=25)
    assert len(small.train_set) == 10 and len(large.train_set) == 25
    for a, b in ((small.train_set.trajectory, large.train_set.trajectory),
                 (small.train_set.features, large.train_set.features)):
        torch.testing.assert_close(a, b[:10], rtol=0, atol=0)
    data = small_data(tmp_path, n_train=25, dtype="float64")
    starts = data.stream("train", 25)["chunk_start"]
    for s in (0, 9, 17, 24):  # systems of blocks 0, 1, 2, 3
        block, row = divmod(s, 8)
        ts, z, masses, k = simulate_springs(8, seed=[0, 0, block], steps=60, t_end=0.6)
        start = int(starts[s])
        assert 0 <= start <= 60 - 5
        torch.testing.assert_close(data.train_set.trajectory[s], z[row, start:start + 6], rtol=0, atol=0)
        torch.testing.assert_close(data.train_set.features[s], torch.stack([masses[row], k[row]], -1), rtol=0, atol=0)
    assert len(set(starts.tolist())) > 5  # random chunks, not one fixed start
    z0, ts, traj, masses, features = next(iter(data.train_dataloader()))
    assert z0.shape == (4, 2, 6, 2) and ts.shape == (4, 6) and traj.shape == (4, 6, 2, 6, 2)
    assert masses.shape == (4, 6) and features.shape == (4, 6, 2)
    torch.testing.assert_close(ts[0], 0.01 * torch.arange(6, dtype=torch.float64))
    torch.testing.assert_close(z0, traj[:, 0], rtol=0, atol=0)
    torch.testing.assert_close(masses, features[..., 0], rtol=0, atol=0)


def test_test_set_is_fixed_and_independent_of_training(tmp_path):
    """The test stream comes from test_seed (unchanged when `seed` changes), shares no system with
    the training or validation streams, and its rollout set starts at the initial states."""
    a, b = small_data(tmp_path, n_train=16), small_data(tmp_path, n_train=16, seed=7)
    for x, y in zip(a.test_sets, b.test_sets):
        torch.testing.assert_close(x.trajectory, y.trajectory, rtol=0, atol=0)
    assert not torch.allclose(a.train_set.trajectory[:, 0], b.train_set.trajectory[:, 0])
    initial = lambda ds: {tuple(np.round(x.numpy().ravel(), 9)) for x in ds.trajectory[:, 0]}  # noqa: E731
    train0 = {tuple(np.round(x.numpy().ravel(), 9)) for x in a.train_initial}
    rollout = a.test_sets[1]
    assert rollout.trajectory.shape == (10, 21, 2, 6, 2)
    assert not (initial(rollout) & train0) and not (initial(a.val_sets[1]) & train0)
    assert not (initial(rollout) & initial(a.val_sets[1]))
    # the same seed number for test and training still gives different systems (separate streams)
    c = small_data(tmp_path, n_train=16, seed=1, test_seed=1)
    assert not ({tuple(np.round(x.numpy().ravel(), 9)) for x in c.train_initial} & initial(c.test_sets[1]))
    assert a.eval_names == ("chunk", "rollout") and len(a.test_dataloader()) == 2


def test_blocks_are_cached(tmp_path, monkeypatch):
    small_data(tmp_path, n_train=16)
    monkeypatch.setattr(springs_module, "integrate_springs", lambda *a, **k: pytest.fail("simulated again"))
    data = small_data(tmp_path, n_train=16)
    assert len(data.train_set) == 16
    assert len(list(tmp_path.glob("springs-*.npz"))) == 5  # blocks of 8: train 2, validation 1, test 2


@pytest.mark.parametrize("kwargs,match", [
    ({"n_train": 0}, r"data.n_train: must be an integer ≥ 1"),
    ({"chunk_len": 100}, "must not exceed data.steps"),
    ({"rollout_steps": 100}, "must not exceed data.steps"),
    ({"dtype": "float16"}, "data.dtype"),
    ({"n_rollout": 0}, "data.n_rollout"),
    ({"num_bodies": 1}, r"data.num_bodies: must be an integer ≥ 2"),
    ({"t_end": 0.0}, "data.t_end"),
])
def test_springs_data_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SpringsData(**{**SMALL, **kwargs})


# ------------------------------------------------------------------ models
def rotate(z: torch.Tensor, angle: float, shift=(0.0, 0.0)) -> torch.Tensor:
    """g·z for states (..., 2, n, 2): positions rotated then shifted, momenta rotated."""
    c, s = math.cos(angle), math.sin(angle)
    R = torch.tensor([[c, -s], [s, c]], dtype=z.dtype)
    q, p = z[..., 0, :, :] @ R.T + torch.tensor(shift, dtype=z.dtype), z[..., 1, :, :] @ R.T
    return torch.stack([q, p], -3)


def springs_batch(B=3, seed=4):
    ts, z, masses, k = simulate_springs(B, seed=seed, steps=10, t_end=0.1)
    return z[:, 0], ts, masses, torch.stack([masses, k], -1)


LIERESNET = dict(k=16, num_layers=2, nbhd=6, fill=1.0, knn=True, batchnorm=False)
LIETRANSFORMER = dict(dim=16, num_layers=2, heads=2, nbhd=6, kernel_dim=8, normalisation="dot-product")


@pytest.mark.parametrize("network,group,args,angle,shift", [
    ("LieResNet", "T(2)", LIERESNET, 0.0, (2.5, -1.0)),
    ("LieTransformer", "T(2)", LIETRANSFORMER, 0.0, (2.5, -1.0)),
    ("LieResNet", "SO2", LIERESNET, 1.1, (0.0, 0.0)),
    ("LieResNet", "SE2", {**LIERESNET, "lift_frame": "centroid"}, 2.0, (-3.0, 0.5)),
    ("LieTransformer", "SE2", {**LIETRANSFORMER, "lift_frame": "centroid"}, -0.7, (1.0, 4.0)),
])
def test_hamiltonian_rollouts_move_with_the_group(network, group, args, angle, shift):
    """A model invariant under G rolls g·z₀ out to g·(its rollout of z₀): translations for T(2),
    rotations about the origin for SO2, both for SE2 (float64, to 1e-9)."""
    torch.manual_seed(0)
    task = HamiltonianDynamics(network, group, 2, network_args=args).double().eval()
    z0, ts, masses, features = springs_batch()
    states = task.rollout(z0, ts, masses, features)
    moved = task.rollout(rotate(z0, angle, shift), ts, masses, features)
    assert (states[:, -1] - states[:, 0]).abs().max() > 1e-3  # it moved
    torch.testing.assert_close(moved, rotate(states, angle, shift), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("make,angle,shift", [
    (lambda: HamiltonianDynamics("LieResNet", "Trivial(2)", 2, network_args=LIERESNET), 0.0, (2.5, -1.0)),
    (lambda: HamiltonianDynamics("LieResNet", "T(2)", 2, network_args=LIERESNET), 1.1, (0.0, 0.0)),
    (lambda: HamiltonianDynamics("HFC", "T(2)", 2, network_args={"k": 32, "num_layers": 2}), 0.0, (2.5, -1.0)),
    (lambda: DirectDynamics("FC", 2, network_args={"k": 32, "num_layers": 2}), 0.0, (2.5, -1.0)),
])
def test_models_without_the_symmetry_do_not_move_with_it(make, angle, shift):
    """The control for the test above: models not invariant under the move (Trivial, T(2) under a
    rotation, the baselines) give rollouts that are not moved copies."""
    torch.manual_seed(0)
    task = make().double().eval()
    z0, ts, masses, features = springs_batch()
    states = task.rollout(z0, ts, masses, features)
    moved = task.rollout(rotate(z0, angle, shift), ts, masses, features)
    assert (moved - rotate(states, angle, shift)).abs().max() > 1e-6


def test_baselines_shapes_and_permutation_behaviour():
    """HFC, FC see bodies in order (flattened); the graph networks are permutation-equivariant
    (OGN: per-body derivatives permute; HOGN: V invariant)."""
    torch.manual_seed(0)
    z0, _, masses, features = springs_batch(B=2)
    z0, features = z0.float(), features.float()
    perm = torch.tensor([3, 0, 5, 1, 2, 4])
    ogn, hogn, fc, hfc = OGN(2, k=16), HOGN(2, k=16), FC(2, k=16, num_layers=2), HFC(2, k=16, num_layers=2)
    out = ogn(z0, features)
    assert out.shape == z0.shape
    torch.testing.assert_close(ogn(z0[:, :, perm], features[:, perm]), out[:, :, perm])
    torch.testing.assert_close(hogn(z0[:, 0, perm], features[:, perm]), hogn(z0[:, 0], features))
    assert fc(z0, features).shape == z0.shape and hfc(z0[:, 0], features).shape == (2, 1)
    assert not torch.allclose(hfc(z0[:, 0, perm], features[:, perm]), hfc(z0[:, 0], features))


def test_baselines_bad_input():
    z0, _, _, features = springs_batch(B=2)
    z0, features = z0.float(), features.float()
    with pytest.raises(ValueError, match=r"HFC: positions must be \(B, 5, 2\)"):
        HFC(2, num_bodies=5)(z0[:, 0], features)
    with pytest.raises(ValueError, match=r"OGN: features must be \(B, 6, 3\)"):
        OGN(3)(z0, features)
    with pytest.raises(ValueError, match=r"FC: z must be \(B, 2, 6, 2\)"):
        FC(2)(z0[:, 0], features)
    with pytest.raises(ValueError, match="mask all True"):
        HOGN(2)(z0[:, 0], features, torch.tensor([[True] * 5 + [False]] * 2))
    with pytest.raises(ValueError, match="model.network: unknown direct-dynamics network 'MLP'"):
        DirectDynamics("MLP")
    with pytest.raises(ValueError, match="model.network_args: FC"):
        DirectDynamics("FC", network_args={"width": 3})


# ------------------------------------------------------------------ training
def train_and_test(task, data, steps: int, lr: float) -> float:
    torch.manual_seed(0)
    opt = torch.optim.Adam(task.parameters(), lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    task.train()
    step = 0
    while step < steps:
        for batch in data.train_dataloader():
            loss, _ = task.loss_and_metrics(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
            step += 1
            if step == steps:
                break
    task.eval()
    test = data.test_sets[0]
    pred = task.rollout(test.trajectory[:, 0], test.ts, test.masses, test.features).detach()
    return float((pred - test.trajectory).square().mean())


def compare_hlieresnet_with_fc(tmp_path, steps: int, k: int, n_test: int, batch_size: int) -> tuple[float, float]:
    """Test 5-step MSE of HLieResNet-T2 (lr 1e-2) and FC (lr 1e-2, the papers') after `steps` Adam
    steps (cosine) on the same batches of the n_train = 400 training set."""
    data = SpringsData(n_train=400, n_val=8, n_test=n_test, batch_size=batch_size, rollout_steps=5, block_size=200,
                       cache_dir=str(tmp_path))
    data.setup()
    torch.manual_seed(0)
    lie = HamiltonianDynamics("LieResNet", "T(2)", 2, network_args={**LIERESNET, "k": k})
    torch.manual_seed(0)
    fc = DirectDynamics("FC", 2, network_args={"k": 256, "num_layers": 4})
    return train_and_test(lie, data, steps, 1e-2), train_and_test(fc, data, steps, 1e-2)


def test_hlieresnet_t2_beats_fc_on_springs_small(tmp_path):
    """CI version (45 s on the loaded shared 2-core machine): 40 steps of batch 25 at n_train = 400,
    test 5-step MSE on 200 test systems: the Hamiltonian T(2) model is already ahead by more than 2×
    (measured 0.048 against 0.29)."""
    lie, fc = compare_hlieresnet_with_fc(tmp_path, steps=40, k=32, n_test=200, batch_size=25)
    assert lie < 0.5 * fc, (lie, fc)


@pytest.mark.slow
def test_hlieresnet_t2_beats_fc_on_springs(tmp_path):
    """The issue's check: a small HLieResNet-T2 trained for a few minutes (200 steps of batch 100)
    beats FC (same steps, the papers' lr 1e-2) on the test 5-step MSE at n_train = 400 (2,000 test systems)."""
    lie, fc = compare_hlieresnet_with_fc(tmp_path, steps=200, k=64, n_test=2000, batch_size=100)
    assert lie < 0.5 * fc, (lie, fc)


# ------------------------------------------------------------------ configs
def test_paper_configs_carry_the_papers_hyper_parameters():
    """configs/springs/<model>_{cpu,paper}.yaml for the six models; the paper ones at DESIGN §5 /
    REFERENCE: HLieResNet k=384, 4 layers, no BatchNorm, lr 1e-3, batch 200, 100 epochs;
    HLieTransformer dim 160, 8 heads, 5 layers, dot-product normalisation, lr 1e-3, batch 100,
    200 epochs; FC/HFC/OGN/HOGN k=256, lr 1e-2, batch 200, 100 epochs. (test_configs builds them.)"""
    import yaml
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "configs" / "springs"
    expected = {
        "hlieresnet_t2": (dict(k=384, num_layers=4, batchnorm=False), 1e-3, 200, 100),
        "hlietransformer_t2": (dict(dim=160, heads=8, num_layers=5, normalisation="dot-product"), 1e-3, 100, 200),
        **{m: (dict(k=256), 1e-2, 200, 100) for m in ("fc", "hfc", "ogn", "hogn")},
    }
    for model, (args, lr, batch, epochs) in expected.items():
        assert (root / f"{model}_cpu.yaml").exists()
        config = yaml.safe_load((root / f"{model}_paper.yaml").read_text())
        init = config["model"]["init_args"]
        assert {key: init["network_args"][key] for key in args} == args, model
        assert init["lr"] == lr and config["data"]["init_args"]["batch_size"] == batch, model
        assert config["trainer"]["max_epochs"] == epochs and config["data"]["init_args"]["n_train"] == 10_000, model
        assert config["data"]["class_path"] == "lieformer.data.SpringsData"
