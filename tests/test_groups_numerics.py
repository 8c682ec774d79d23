"""Planar groups: exp against scipy's expm, over the whole domain, in float32 and float64; Haar
sampling by Kolmogorov–Smirnov tests (DESIGN §3, issue 2). SO(3)/SE(3): tests/test_groups_3d.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.linalg import expm

from lieformer.groups import SE2, SO2, SQ, Rx, RxSO2, RxSQ


# -------------------------------------------------------------------------------- planar groups
def algebra_matrix(group, a: torch.Tensor) -> np.ndarray:
    """The Lie algebra element of coefficients a as a matrix, for scipy's expm."""
    a = a.numpy()
    n = len(a)
    if isinstance(group, SE2):
        A = np.zeros((n, 3, 3))
        A[:, 0, 1], A[:, 1, 0] = -a[:, 0], a[:, 0]
        A[:, :2, 2] = a[:, 1:]
    elif isinstance(group, SO2):
        A = np.zeros((n, 2, 2))
        A[:, 0, 1], A[:, 1, 0] = -a[:, 0], a[:, 0]
    elif isinstance(group, RxSO2):
        A = np.zeros((n, 2, 2))
        A[:, 0, 0] = A[:, 1, 1] = a[:, 0]
        A[:, 0, 1], A[:, 1, 0] = -a[:, 1], a[:, 1]
    elif isinstance(group, Rx):
        A = np.zeros((n, 2, 2))
        A[:, 0, 0] = A[:, 1, 1] = a[:, 0]
    elif isinstance(group, RxSQ):
        A = np.zeros((n, 2, 2))
        A[:, 0, 0], A[:, 1, 1] = a[:, 0] + a[:, 1], a[:, 0] - a[:, 1]
    elif isinstance(group, SQ):
        A = np.zeros((n, 2, 2))
        A[:, 0, 0], A[:, 1, 1] = a[:, 0], -a[:, 0]
    return A


PLANAR = [SO2(), SE2(), RxSO2(), Rx(), SQ(), RxSQ()]


def planar_coefficients(group, n=400, seed=20):
    """Random coefficients; angles across (−π, π) including ±(π − 1e-6) and tiny ones."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(n, group.lie_dim, generator=gen, dtype=torch.float64)
    angle_index = {"SO2": 0, "SE2": 0, "RxSO2": 1}.get(type(group).__name__)
    if angle_index is not None:
        a[:, angle_index] = (2 * torch.rand(n, generator=gen, dtype=torch.float64) - 1) * math.pi
        a[:20, angle_index] = math.pi - 1e-6
        a[20:40, angle_index] = -math.pi + 1e-6
    a[40:80] *= 1e-8
    return a


@pytest.mark.parametrize("group", PLANAR, ids=lambda g: type(g).__name__)
def test_planar_exp_matches_expm(group, dtype):
    a = planar_coefficients(group)
    ref = np.stack([expm(m) for m in algebra_matrix(group, a)])
    ours = group.exp(a.to(dtype)).double().numpy()
    np.testing.assert_allclose(ours, ref, atol=2e-6 if dtype == torch.float32 else 1e-11, rtol=2e-6 if dtype == torch.float32 else 0)


@pytest.mark.parametrize("group", PLANAR, ids=lambda g: type(g).__name__)
def test_planar_log_exp_round_trip(group, dtype):
    a = planar_coefficients(group, seed=21)
    back = group.log(group.exp(a.to(dtype))).double()
    tol = 1e-5 if dtype == torch.float32 else 1e-11
    torch.testing.assert_close(back, a, atol=tol, rtol=tol)


@pytest.mark.parametrize("group", PLANAR, ids=lambda g: type(g).__name__)
def test_planar_gradients_finite_and_gradcheck(group):
    a = planar_coefficients(group, n=6, seed=22)
    a[0] = 0
    a[1] = 1e-9
    x = a.clone().requires_grad_()
    group.log(group.exp(x)).sum().backward()
    assert torch.isfinite(x.grad).all()
    generic = torch.randn(3, group.lie_dim, dtype=torch.float64, generator=torch.Generator().manual_seed(23)) * 0.7
    assert torch.autograd.gradcheck(group.exp, (generic.requires_grad_(),))
    g = group.exp(generic.detach()).requires_grad_()
    assert torch.autograd.gradcheck(group.log, (g,))


def test_se2_stabilizer_is_uniform():
    h = SE2().sample_stabilizer((20000,), generator=torch.Generator().manual_seed(24), dtype=torch.float64)
    phi = torch.atan2(h[:, 1, 0], h[:, 0, 0]).numpy()
    assert stats.kstest(phi, stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue > 0.01
    torch.testing.assert_close(h[:, :2, 2], torch.zeros(20000, 2, dtype=torch.float64))


def test_se2_lift_angles_uniform():
    group = SE2()
    x = torch.zeros(4, 1000, 2, dtype=torch.float64)
    lifted = group.lift(x, torch.zeros(4, 1000, 1, dtype=torch.float64), torch.ones(4, 1000, dtype=torch.bool), 5,
                        generator=torch.Generator().manual_seed(25))
    phi = group.log(lifted.elements)[..., 0].flatten().numpy()
    assert stats.kstest(phi, stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue > 0.01


def test_se2_canonical_lift_and_invariance():
    from lieformer.groups import SE2Canonical

    group = SE2Canonical(4)
    gen = torch.Generator().manual_seed(26)
    x = torch.randn(2, 5, 2, generator=gen, dtype=torch.float64)
    v = torch.zeros(2, 5, 1, dtype=torch.float64)
    m = torch.ones(2, 5, dtype=torch.bool)
    lifted = group.lift(x, v, m, n_samples=1)
    assert lifted.elements.shape[1] == 20  # exactly L samples per point, whatever n_samples
    # a C_4 rotation by 90° plus a translation permutes the lift; pair features follow the permutation
    g = torch.tensor([[0.0, -1, 0.7], [1, 0, -2.0], [0, 0, 1]], dtype=torch.float64)
    lifted_g = group.lift(group.act(g, x), v, m, n_samples=1)
    perm = (torch.arange(20).view(5, 4) // 4 * 4 + (torch.arange(20).view(5, 4) % 4 + 1) % 4).flatten()
    idx = torch.randint(0, 20, (2, 20, 6), generator=gen)
    pa = group.pair_features(lifted, idx)
    pb = group.pair_features(lifted_g, perm[idx], perm.expand(2, 20))
    torch.testing.assert_close(pb, pa, atol=1e-12, rtol=0)
    assert set(pa[..., 2].unique().tolist()) <= {0.0, 1.0, 2.0, 3.0}


@pytest.mark.parametrize("group", [SQ(), RxSQ()], ids=["SQ", "RxSQ"])
def test_positive_quadrant_rejects_other_points(group):
    x = torch.rand(1, 4, 2) + 0.1
    x[0, 2, 1] = -0.5
    with pytest.raises(ValueError, match="positive quadrant"):
        group.lift(x, torch.zeros(1, 4, 1), torch.ones(1, 4, dtype=torch.bool), 1)
