"""exp/log against independent references (scipy), over the whole domain, in float32 and
float64; Haar sampling by Kolmogorov–Smirnov tests (DESIGN §3, issue 2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.linalg import expm
from scipy.spatial.transform import Rotation

from lieformer.groups import SE2, SE3, SO2, SO3, SQ, Rx, RxSO2, RxSQ
from lieformer.groups.so3 import hat, relative_angle, rotation_between, so3_exp, so3_log

F32_ROUND_TRIP = 1e-5


def random_axes(n, gen):
    v = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    return v / v.norm(dim=-1, keepdim=True)


# ---------------------------------------------------------------------------------- SO(3), SE(3)
def rotvecs(n=3000, seed=0):
    """Angles across [0, π): uniform, tiny (1e-7 … 1e-3) and within 1e-3 … 1e-6 of π."""
    gen = torch.Generator().manual_seed(seed)
    axes = random_axes(n, gen)
    angles = torch.rand(n, generator=gen, dtype=torch.float64) * math.pi
    angles[:200] = 10 ** torch.empty(200, dtype=torch.float64).uniform_(-7, -3, generator=gen)
    angles[200:400] = math.pi - 10 ** torch.empty(200, dtype=torch.float64).uniform_(-6, -3, generator=gen)
    return axes * angles[:, None]


def test_so3_exp_matches_scipy(dtype):
    w = rotvecs()
    ours = so3_exp(w.to(dtype)).double().numpy()
    ref = Rotation.from_rotvec(w.numpy()).as_matrix()
    np.testing.assert_allclose(ours, ref, atol=1e-6 if dtype == torch.float32 else 1e-14)


def test_so3_log_matches_scipy(dtype):
    w = rotvecs(seed=1)
    R = torch.from_numpy(Rotation.from_rotvec(w.numpy()).as_matrix())
    ours = so3_log(R.to(dtype)).double()
    ref = torch.from_numpy(Rotation.from_matrix(R.numpy()).as_rotvec())
    angle = ref.norm(dim=-1)
    # within float resolution of π, ω and −ω are the same rotation: compare those as rotations
    far = math.pi - angle > (1e-3 if dtype == torch.float32 else 1e-6)
    tol = 2e-6 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(ours[far], ref[far], atol=tol, rtol=0)
    back = Rotation.from_rotvec(ours[~far].numpy()).as_matrix()
    np.testing.assert_allclose(back, R[~far].numpy(), atol=10 * tol)
    assert (ours.norm(dim=-1) <= math.pi + 1e-6).all()


@pytest.mark.parametrize("angle", [0.0, 1e-7, 1e-6, 1e-3, 1.0, math.pi / 2, math.pi - 1e-6, math.pi - 1e-7, math.pi])
def test_so3_round_trip_float32(angle):
    """exp(log(R)) = R to 1e-5 in float32 at every angle in [0, π], π−1e-7 and π included."""
    gen = torch.Generator().manual_seed(2)
    axes = random_axes(500, gen)
    R = torch.from_numpy(Rotation.from_rotvec((axes * angle).numpy()).as_matrix()).float()
    back = so3_exp(so3_log(R))
    assert (back - R).abs().max() < F32_ROUND_TRIP
    w = so3_log(R)
    if 0 < angle < math.pi - 1e-3:
        torch.testing.assert_close(w, (axes * angle).float(), atol=2e-6, rtol=0)
    assert torch.isfinite(w).all()


def test_so3_log_exp_round_trip(dtype):
    gen = torch.Generator().manual_seed(3)
    w = random_axes(2000, gen) * (torch.rand(2000, 1, generator=gen, dtype=torch.float64) * (math.pi - 1e-3))
    torch.testing.assert_close(so3_log(so3_exp(w.to(dtype))).double(), w, atol=5e-6 if dtype == torch.float32 else 1e-10, rtol=0)


@pytest.mark.parametrize("angle", [0.0, 1e-7, 1e-4, 1.0, math.pi - 1e-7])
def test_so3_gradients_finite(angle, dtype):
    gen = torch.Generator().manual_seed(4)
    axes = random_axes(64, gen).to(dtype)
    w = (axes * angle).requires_grad_()
    so3_exp(w).sum().backward()
    assert torch.isfinite(w.grad).all()
    R = so3_exp((axes * angle).detach()).requires_grad_()
    (so3_log(R) * torch.randn(64, 3, generator=gen, dtype=torch.float64).to(dtype)).sum().backward()
    assert torch.isfinite(R.grad).all()


def test_so3_gradcheck():
    gen = torch.Generator().manual_seed(5)
    w = (random_axes(4, gen) * torch.tensor([[0.3], [1.2], [2.5], [1e-3]], dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(so3_exp, (w,))
    R = so3_exp(w.detach()).requires_grad_()
    # log restricted to rotation matrices: check along the manifold via exp∘(small perturbation)
    assert torch.autograd.gradcheck(lambda v: so3_log(so3_exp(v)), (w,))


def test_se3_exp_matches_expm(dtype):
    gen = torch.Generator().manual_seed(6)
    a = torch.cat([rotvecs(400, seed=7)[100:], 3 * torch.randn(300, 3, generator=gen, dtype=torch.float64)], -1)
    A = torch.zeros(300, 4, 4, dtype=torch.float64)
    A[:, :3, :3] = hat(a[:, :3])
    A[:, :3, 3] = a[:, 3:]
    ref = np.stack([expm(m) for m in A.numpy()])
    ours = SE3().exp(a.to(dtype)).double().numpy()
    np.testing.assert_allclose(ours, ref, atol=5e-6 if dtype == torch.float32 else 1e-12)


def test_se3_log_round_trip(dtype):
    group = SE3()
    gen = torch.Generator().manual_seed(8)
    g = group.sample((2000,), generator=gen, dtype=torch.float64)
    # include rotations within 1e-7 of π and tiny ones
    near_pi = torch.from_numpy(Rotation.from_rotvec((random_axes(100, gen) * (math.pi - 1e-7)).numpy()).as_matrix())
    g[:100, :3, :3] = near_pi
    g[100:200, :3, :3] = so3_exp(random_axes(100, gen) * 1e-7)
    g = g.to(dtype)
    back = group.exp(group.log(g))
    assert (back - g).abs().max() < (3e-5 if dtype == torch.float32 else 1e-10)


def test_se3_log_exp_round_trip_and_gradients():
    group = SE3()
    gen = torch.Generator().manual_seed(9)
    a = torch.cat([random_axes(500, gen) * torch.rand(500, 1, generator=gen, dtype=torch.float64) * 3.1,
                   torch.randn(500, 3, generator=gen, dtype=torch.float64)], -1)
    torch.testing.assert_close(group.log(group.exp(a)), a, atol=1e-10, rtol=0)
    g = group.exp(torch.zeros(1, 6, dtype=torch.float64)).requires_grad_()
    group.log(g).sum().backward()
    assert torch.isfinite(g.grad).all()


def test_rotation_between_including_antiparallel(dtype):
    gen = torch.Generator().manual_seed(10)
    e = torch.tensor([0.0, 0.0, 1.0], dtype=dtype)
    x = torch.cat([
        random_axes(500, gen),
        torch.tensor([[0.0, 0, -1], [0, 0, 1], [1e-7, 0, -1], [0, -1e-7, -1], [1, 0, 0]], dtype=torch.float64),
    ]).to(dtype)
    x = x / x.norm(dim=-1, keepdim=True)
    R = rotation_between(e, x)
    tol = 2e-6 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(R @ e, x, atol=tol, rtol=0)
    torch.testing.assert_close(R.transpose(-1, -2) @ R, torch.eye(3, dtype=dtype).expand_as(R), atol=tol, rtol=0)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(len(x), dtype=dtype), atol=tol, rtol=0)


def test_relative_angle_accurate_at_both_ends(dtype):
    """The all-pairs rotation angle used by distances matches scipy at 1e-7 and π − 1e-7."""
    gen = torch.Generator().manual_seed(11)
    base = torch.from_numpy(Rotation.random(64, random_state=0).as_matrix())
    angles = torch.tensor([1e-7, 1e-4, 1.0, 3.0, math.pi - 1e-7], dtype=torch.float64)
    axes = random_axes(len(angles), gen)
    rel = so3_exp(axes * angles[:, None])
    Ra = base[:, None].expand(64, len(angles), 3, 3).reshape(1, -1, 3, 3)
    Rb = (base[:, None] @ rel[None]).reshape(1, -1, 3, 3)
    ours = torch.diagonal(relative_angle(Ra.to(dtype), Rb.to(dtype)), dim1=1, dim2=2).double()
    expected = angles.repeat(64)[None]
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    # float32 cannot hold a rotation closer to I than ~1e-7: compare absolute angles
    torch.testing.assert_close(ours, expected, atol=tol * 4, rtol=0)


def angle_cdf_so3(theta):
    return (theta - np.sin(theta)) / np.pi


def test_se3_stabilizer_is_haar():
    """Rotation angles of Haar SO(3) have density (1 − cos θ)/π on [0, π]."""
    h = SE3().sample_stabilizer((20000,), generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    angles = so3_log(h[:, :3, :3]).norm(dim=-1).numpy()
    assert stats.kstest(angles, angle_cdf_so3).pvalue > 0.01
    # and the rotation axes are isotropic: each coordinate of the axis is U(−1, 1)
    axes = Rotation.from_matrix(h[:, :3, :3].numpy()).as_rotvec()
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    assert stats.kstest(axes[:, 2], stats.uniform(-1, 2).cdf).pvalue > 0.01


def test_ks_rejects_non_haar_angles():
    """The KS test above can fail: rotations with uniformly distributed angles are not Haar."""
    gen = torch.Generator().manual_seed(13)
    theta = torch.rand(20000, generator=gen, dtype=torch.float64) * math.pi
    assert stats.kstest(theta.numpy(), angle_cdf_so3).pvalue < 1e-6


def test_so3_stabilizer_uniform_about_e3():
    group = SO3()
    h = group.sample_stabilizer((20000,), generator=torch.Generator().manual_seed(14), dtype=torch.float64)
    e3 = torch.tensor([0.0, 0, 1], dtype=torch.float64)
    torch.testing.assert_close(h @ e3, e3.expand(20000, 3), atol=1e-12, rtol=0)
    phi = torch.atan2(h[:, 1, 0], h[:, 0, 0]).numpy()
    assert stats.kstest(phi, stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue > 0.01


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
