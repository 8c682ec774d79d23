"""SO(3) and SE(3): exp/log against scipy over the whole domain (tiny angles and angles within
1e-7 of π included), gradients, Haar sampling (KS), rotation_between, sections, exact lift
equivariance (DESIGN §6) and the closed-form distances. Every numeric test runs in float32 and
float64 (the `dtype` fixture of conftest)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.linalg import expm
from scipy.spatial.transform import Rotation

from lieformer.groups.affine import homogeneous, split
from lieformer.groups.se3 import SE3
from lieformer.groups.so3 import (
    SO3,
    haar_so3,
    hat,
    matrix_to_quaternion,
    quaternion_to_matrix,
    relative_angle,
    rotation_angle_from_trace,
    rotation_between,
    so3_exp,
    so3_log,
    vee,
)

F64 = torch.float64
E3 = (0.0, 0.0, 1.0)


def is_f32(dtype) -> bool:
    return dtype == torch.float32


def axes(n, gen):
    v = torch.randn(n, 3, generator=gen, dtype=F64)
    return v / v.norm(dim=-1, keepdim=True)


def rotvecs(n, seed):
    """n + 400 rotation vectors: angles uniform on [0, π), 200 tiny (1e-8 … 1e-3) and 200 within
    1e-7 … 1e-3 of π, random axes (float64)."""
    gen = torch.Generator().manual_seed(seed)
    angles = torch.cat([
        torch.rand(n, generator=gen, dtype=F64) * math.pi,
        10 ** torch.empty(200, dtype=F64).uniform_(-8, -3, generator=gen),
        math.pi - 10 ** torch.empty(200, dtype=F64).uniform_(-7, -3, generator=gen),
    ])
    return axes(len(angles), gen) * angles[:, None]


def scipy_matrices(w: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(Rotation.from_rotvec(w.numpy()).as_matrix())


def assert_rotations(R, tol):
    eye = torch.eye(3, dtype=R.dtype).expand_as(R)
    torch.testing.assert_close(R.transpose(-1, -2) @ R, eye, atol=tol, rtol=0)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(R.shape[:-2], dtype=R.dtype), atol=tol, rtol=0)


# ---------------------------------------------------------------------------------- small helpers
def test_hat_vee_and_quaternions(dtype):
    gen = torch.Generator().manual_seed(0)
    w, x = torch.randn(2, 50, 3, generator=gen, dtype=F64).to(dtype)
    tol = 1e-6 if is_f32(dtype) else 1e-14
    torch.testing.assert_close((hat(w) @ x.unsqueeze(-1)).squeeze(-1), torch.linalg.cross(w, x, dim=-1), atol=tol, rtol=0)
    torch.testing.assert_close(vee(hat(w)), w, atol=0, rtol=0)
    # q and −q are the same rotation; matrix_to_quaternion returns the one with w ≥ 0
    q = torch.randn(400, 4, generator=gen, dtype=F64)
    q = q / q.norm(dim=-1, keepdim=True)
    R = quaternion_to_matrix(q).to(dtype)
    ref = torch.from_numpy(Rotation.from_quat(q[:, [1, 2, 3, 0]].numpy()).as_matrix())  # scipy is (x, y, z, w)
    torch.testing.assert_close(R.double(), ref, atol=tol, rtol=0)
    back = matrix_to_quaternion(R).double()
    assert (back[:, 0] >= 0).all()
    torch.testing.assert_close(back, q * q[:, :1].sign(), atol=10 * tol, rtol=0)
    assert_rotations(R, 10 * tol)


# ---------------------------------------------------------------------------------- exp and log
def test_so3_exp_matches_scipy(dtype):
    w = rotvecs(2000, seed=1)
    ours = so3_exp(w.to(dtype)).double()
    torch.testing.assert_close(ours, scipy_matrices(w), atol=1e-6 if is_f32(dtype) else 1e-14, rtol=0)


@pytest.mark.parametrize("seed", [2, 3])
def test_so3_log_matches_scipy(dtype, seed):
    """so3_log = scipy's log of the same (rounded) matrices, the sign of ω included, in float32
    too, down to π − 1e-7.

    Near π, R − Rᵀ = 2 sin θ [n]× (≈ 2e-7 at π − 1e-7) decides between ω and −ω. Rounding R to
    float32 moves that difference by up to an ulp of its entries, so the rounded matrix may be a
    rotation about ±n — but it is one definite matrix, scipy (float64) takes its log, and the
    difference R_ij − R_ji of two nearby float32 numbers is exact: the float32 log must find the
    same sign (measured: max |Δω| 4.8e-7 over 20 seeds, 400 angles within 1e-3 of π each)."""
    gen = torch.Generator().manual_seed(seed + 100)
    w = torch.cat([rotvecs(2000, seed=seed), axes(100, gen) * (math.pi - 1e-7), axes(100, gen) * (math.pi - 1e-6)])
    R = scipy_matrices(w).to(dtype)
    ours = so3_log(R).double()
    ref = torch.from_numpy(Rotation.from_matrix(R.double().numpy()).as_rotvec())  # scipy on the same matrices
    tol = 2e-6 if is_f32(dtype) else 1e-12
    assert (math.pi - ref.norm(dim=-1)).min() < 2e-7  # the test reaches π − 1e-7 after rounding
    torch.testing.assert_close(ours, ref, atol=tol, rtol=0)
    assert (ours.norm(dim=-1) <= math.pi + 1e-6).all()


@pytest.mark.parametrize("angle", [0.0, 1e-7, 1e-6, 1e-3, 0.1, 1.0, math.pi / 2, 3.0, math.pi - 1e-6, math.pi - 1e-7, math.pi])
def test_so3_exp_log_round_trip(angle, dtype):
    """exp(log(R)) = R to 1e-5 in float32 at every angle of [0, π], both ends included."""
    gen = torch.Generator().manual_seed(3)
    R = scipy_matrices(axes(300, gen) * angle).to(dtype)
    w = so3_log(R)
    assert torch.isfinite(w).all()
    err = (so3_exp(w) - R).abs().max()
    assert err < (1e-5 if is_f32(dtype) else 1e-12), float(err)


def test_so3_log_exp_round_trip(dtype):
    """log(exp(w)) = w for ‖w‖ < π − 1e-3 (where log is single valued and well conditioned)."""
    gen = torch.Generator().manual_seed(4)
    w = axes(3000, gen) * (torch.rand(3000, 1, generator=gen, dtype=F64) * (math.pi - 1e-3))
    w[:100] *= 1e-6
    back = so3_log(so3_exp(w.to(dtype))).double()
    torch.testing.assert_close(back, w, atol=3e-6 if is_f32(dtype) else 1e-12, rtol=0)


SPECIAL_ROTATIONS = torch.tensor([
    [[1.0, 0, 0], [0, 1, 0], [0, 0, 1]],  # identity
    [[1.0, 0, 0], [0, -1, 0], [0, 0, -1]],  # π about x: Shepperd pivots tie
    [[-1.0, 0, 0], [0, 1, 0], [0, 0, -1]],
    [[-1.0, 0, 0], [0, -1, 0], [0, 0, 1]],
    [[0.0, 1, 0], [1, 0, 0], [0, 0, -1]],  # π about (1, 1, 0)/√2
], dtype=F64)


@pytest.mark.parametrize("angle", [0.0, 1e-8, 1e-7, 1e-4, 0.1, 1.0, math.pi - 1e-4, math.pi - 1e-7, math.pi])
def test_so3_gradients_finite(angle, dtype):
    gen = torch.Generator().manual_seed(5)
    w = (axes(64, gen) * angle).to(dtype).requires_grad_()
    so3_exp(w).sum().backward()
    assert torch.isfinite(w.grad).all()
    R = torch.cat([so3_exp(w.detach()), SPECIAL_ROTATIONS.to(dtype)]).requires_grad_()
    so3_log(R).sum().backward()
    assert torch.isfinite(R.grad).all()
    tr = torch.diagonal(R.detach(), dim1=-2, dim2=-1).sum(-1).requires_grad_()
    rotation_angle_from_trace(tr).sum().backward()
    assert torch.isfinite(tr.grad).all()


def test_exp_log_gradcheck():
    """Analytic gradients (closed forms and the small-angle series) against finite differences."""
    gen = torch.Generator().manual_seed(6)
    norms = torch.tensor([[0.3], [1.2], [2.5], [3.0], [0.099], [0.05], [1e-3]], dtype=F64)
    w = (axes(len(norms), gen) * norms).requires_grad_()
    assert torch.autograd.gradcheck(so3_exp, (w,))
    assert torch.autograd.gradcheck(lambda v: so3_log(so3_exp(v)), (w,))
    # log as a function of all nine entries (its extension off SO(3) is smooth near each point)
    R = so3_exp(w.detach()[:5]).requires_grad_()
    assert torch.autograd.gradcheck(so3_log, (R,))
    a = torch.cat([w.detach(), torch.randn(len(norms), 3, generator=gen, dtype=F64)], -1).requires_grad_()
    assert torch.autograd.gradcheck(SE3().exp, (a,))
    assert torch.autograd.gradcheck(lambda b: SE3().log(SE3().exp(b)), (a,))


def test_rotation_angle_from_trace(dtype):
    gen = torch.Generator().manual_seed(7)
    angles = torch.cat([torch.rand(500, generator=gen, dtype=F64) * math.pi, torch.tensor([0.0, math.pi], dtype=F64)])
    R = scipy_matrices(axes(len(angles), gen) * angles[:, None]).to(dtype)
    ours = rotation_angle_from_trace(torch.diagonal(R, dim1=-2, dim2=-1).sum(-1)).double()
    # θ error ≈ ε / sin θ from the trace alone: compare away from the ends, and bound the ends by √ε
    eps = torch.finfo(dtype).eps
    mid = (angles > 0.05) & (angles < math.pi - 0.05)
    torch.testing.assert_close(ours[mid], angles[mid], atol=200 * eps, rtol=0)
    assert (ours - angles).abs().max() < 10 * math.sqrt(eps)
    assert rotation_angle_from_trace(torch.tensor([3.0 + 1e-6, -1.0 - 1e-6], dtype=dtype)).isfinite().all()


def algebra_se3(a: torch.Tensor) -> np.ndarray:
    A = torch.zeros(len(a), 4, 4, dtype=F64)
    A[:, :3, :3] = hat(a[:, :3])
    A[:, :3, 3] = a[:, 3:]
    return A.numpy()


def test_se3_exp_matches_expm(dtype):
    gen = torch.Generator().manual_seed(8)
    w = rotvecs(400, seed=9)
    a = torch.cat([w, 2 * torch.randn(len(w), 3, generator=gen, dtype=F64)], -1)
    ref = torch.from_numpy(np.stack([expm(m) for m in algebra_se3(a)]))
    ours = SE3().exp(a.to(dtype)).double()
    torch.testing.assert_close(ours, ref, atol=1e-5 if is_f32(dtype) else 1e-12, rtol=0)
    torch.testing.assert_close(ours[:, 3], torch.tensor([0.0, 0, 0, 1], dtype=F64).expand(len(a), 4), atol=0, rtol=0)


def test_se3_log_exp_round_trips(dtype):
    group = SE3()
    gen = torch.Generator().manual_seed(10)
    # log(exp(a)) = a where log is single valued
    a = torch.cat([axes(1000, gen) * torch.rand(1000, 1, generator=gen, dtype=F64) * (math.pi - 1e-3),
                   2 * torch.randn(1000, 3, generator=gen, dtype=F64)], -1)
    a[:100, :3] *= 1e-6
    torch.testing.assert_close(group.log(group.exp(a.to(dtype))).double(), a, atol=1e-5 if is_f32(dtype) else 1e-11, rtol=0)
    # exp(log(g)) = g over the whole group, rotations within 1e-7 of π and below 1e-7 included
    angles = torch.tensor([0.0, 1e-8, 1e-7, 1e-3, 1.0, math.pi - 1e-3, math.pi - 1e-6, math.pi - 1e-7, math.pi], dtype=F64)
    w = (axes(50, gen)[:, None] * angles[:, None]).reshape(-1, 3)
    g = homogeneous(scipy_matrices(w), 2 * torch.randn(len(w), 3, generator=gen, dtype=F64)).to(dtype)
    log = group.log(g)
    assert torch.isfinite(log).all() and (log[:, :3].norm(dim=-1) <= math.pi + 1e-6).all()
    err = (group.exp(log) - g).abs().max()
    assert err < (2e-5 if is_f32(dtype) else 1e-12), float(err)


@pytest.mark.parametrize("angle", [0.0, 1e-7, math.pi - 1e-7])
def test_se3_gradients_finite(angle, dtype):
    gen = torch.Generator().manual_seed(11)
    a = torch.cat([axes(32, gen) * angle, torch.randn(32, 3, generator=gen, dtype=F64)], -1).to(dtype).requires_grad_()
    SE3().exp(a).sum().backward()
    assert torch.isfinite(a.grad).all()
    g = SE3().exp(a.detach()).requires_grad_()
    SE3().log(g).sum().backward()
    assert torch.isfinite(g.grad).all()


# ---------------------------------------------------------------------------------- Haar sampling
def haar_angle_cdf(theta):
    """CDF of the rotation angle of Haar SO(3): density (1 − cos θ)/π on [0, π]."""
    return (theta - np.sin(theta)) / np.pi


def rotation_angles(R: torch.Tensor) -> np.ndarray:
    return so3_log(R).norm(dim=-1).double().numpy()


def test_se3_stabilizer_is_haar(dtype):
    h = SE3().sample_stabilizer((20000,), generator=torch.Generator().manual_seed(12), dtype=dtype)
    assert h.shape == (20000, 4, 4) and h.dtype == dtype
    R, t = split(h)
    assert (t == 0).all() and (h[:, 3] == torch.tensor([0.0, 0, 0, 1], dtype=dtype)).all()
    assert_rotations(R, 1e-5 if is_f32(dtype) else 1e-12)
    assert stats.kstest(rotation_angles(R), haar_angle_cdf).pvalue > 0.01
    # the axes are isotropic too: each coordinate of a uniform unit vector is U(−1, 1)
    w = so3_log(R).double()
    assert stats.kstest((w[:, 0] / w.norm(dim=-1)).numpy(), stats.uniform(-1, 2).cdf).pvalue > 0.01


def test_sample_is_haar(dtype):
    gen = torch.Generator().manual_seed(13)
    R = SO3().sample((20000,), generator=gen, dtype=dtype)
    assert stats.kstest(rotation_angles(R), haar_angle_cdf).pvalue > 0.01
    g = SE3().sample((20000,), generator=gen, dtype=dtype)
    assert stats.kstest(rotation_angles(g[:, :3, :3]), haar_angle_cdf).pvalue > 0.01
    assert stats.kstest(g[:, 1, 3].double().numpy(), stats.norm.cdf).pvalue > 0.01  # t ~ N(0, I)
    # a seeded generator reproduces the draw
    again = haar_so3((5,), torch.Generator().manual_seed(1), dtype)
    torch.testing.assert_close(again, haar_so3((5,), torch.Generator().manual_seed(1), dtype), atol=0, rtol=0)


def test_haar_ks_test_has_power():
    """The KS tests above can fail: uniformly distributed angles are not Haar."""
    theta = torch.rand(20000, generator=torch.Generator().manual_seed(14), dtype=F64) * math.pi
    R = so3_exp(axes(20000, torch.Generator().manual_seed(15)) * theta[:, None])
    assert stats.kstest(rotation_angles(R), haar_angle_cdf).pvalue < 1e-6


def test_so3_stabilizer_uniform_about_e3(dtype):
    h = SO3().sample_stabilizer((20000,), generator=torch.Generator().manual_seed(16), dtype=dtype)
    assert h.shape == (20000, 3, 3) and h.dtype == dtype
    e3 = torch.tensor(E3, dtype=dtype)
    tol = 1e-6 if is_f32(dtype) else 1e-14
    torch.testing.assert_close(h @ e3, e3.expand(20000, 3), atol=tol, rtol=0)
    assert_rotations(h, tol)
    phi = torch.atan2(h[:, 1, 0], h[:, 0, 0]).double().numpy()
    assert stats.kstest(phi, stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue > 0.01


def test_relative_angle_accurate_at_both_ends(dtype):
    """The all-pairs rotation angle used by distances matches scipy at 1e-7 and π − 1e-7."""
    gen = torch.Generator().manual_seed(11)
    base = torch.from_numpy(Rotation.random(64, random_state=0).as_matrix())
    angles = torch.tensor([1e-7, 1e-4, 1.0, 3.0, math.pi - 1e-7], dtype=torch.float64)
    rel = so3_exp(axes(len(angles), gen) * angles[:, None])
    Ra = base[:, None].expand(64, len(angles), 3, 3).reshape(1, -1, 3, 3)
    Rb = (base[:, None] @ rel[None]).reshape(1, -1, 3, 3)
    ours = torch.diagonal(relative_angle(Ra.to(dtype), Rb.to(dtype)), dim1=1, dim2=2).double()
    expected = angles.repeat(64)[None]
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    # float32 cannot hold a rotation closer to I than ~1e-7: compare absolute angles
    torch.testing.assert_close(ours, expected, atol=tol * 4, rtol=0)


# ---------------------------------------------------------------------------------- rotation_between
@pytest.mark.parametrize("axis", [E3, (1.0, 0.0, 0.0), (0.48, -0.6, 0.64)])
def test_rotation_between(axis, dtype):
    gen = torch.Generator().manual_seed(17)
    e = torch.tensor(axis, dtype=F64)
    e = e / e.norm()
    noise = 1e-7 * torch.randn(20, 3, generator=gen, dtype=F64)
    x = torch.cat([axes(500, gen), -e[None], e[None], -e + noise, e + noise, -e + 1e-3 * noise])
    x = (x / x.norm(dim=-1, keepdim=True)).to(dtype)
    e = e.to(dtype)
    R = rotation_between(e, x)
    tol = 1e-6 if is_f32(dtype) else 1e-13
    torch.testing.assert_close(R @ e, x, atol=tol, rtol=0)
    assert_rotations(R, tol)
    xg = x.clone().requires_grad_()
    rotation_between(e, xg).sum().backward()
    assert torch.isfinite(xg.grad).all()


# ---------------------------------------------------------------------------------- sections and lifts
@pytest.mark.parametrize("group", [SO3(), SE3()], ids=repr)
def test_section_maps_origin_to_x(group, dtype):
    gen = torch.Generator().manual_seed(18)
    x = torch.randn(2, 40, 3, generator=gen, dtype=F64)
    x[0, :4] = 0
    x[1, :4] = torch.tensor([[0, 0, -2.0], [0, 0, 3], [1e-8, 0, -1], [0, 0, 1e-30]])  # ±e3 axis, tiny
    x = x.to(dtype)
    s = group.section(x)
    assert s.shape == (2, 40, group.rep_dim, group.rep_dim)
    back = group.act(s, group.origin(group.orbit(x)))
    torch.testing.assert_close(back, x, atol=1e-6 if is_f32(dtype) else 1e-14, rtol=0)
    torch.testing.assert_close(s[0, :4], group.identity((4,), dtype), atol=0, rtol=0)  # s(0) = e
    xg = x.clone().requires_grad_()
    (group.section(xg).sum() + group.orbit(xg).sum()).backward()
    assert torch.isfinite(xg.grad).all()


def _lift_both(group, dtype, seed, B=3, N=7, S=4, c=2):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, N, 3, generator=gen, dtype=F64).to(dtype)
    x[0, 0] = 0  # a point at the origin
    values = torch.randn(B, N, c, generator=gen, dtype=F64).to(dtype)
    mask = torch.ones(B, N, dtype=torch.bool)
    mask[2, -2:] = False
    g = group.sample((B,), generator=gen, dtype=dtype)
    h = group.sample_stabilizer((B, N, S), generator=gen, dtype=dtype)
    hg = group.compensating_stabilizer(g, x)
    plain = group.lift(x, values, mask, n_samples=S, stabilizer=h)
    moved = group.lift(group.act(g, x), values, mask, n_samples=S, stabilizer=hg[:, :, None] @ h)
    return plain, moved, g, gen


@pytest.mark.parametrize("group", [SO3(), SE3()], ids=repr)
def test_lift_is_exactly_equivariant(group, dtype):
    """lift(g·x, h_g(x)·h) = g·lift(x, h), hence equal pair features (DESIGN §6)."""
    plain, moved, g, gen = _lift_both(group, dtype, seed=19)
    tol = dict(atol=1e-5, rtol=1e-5) if is_f32(dtype) else dict(atol=1e-10, rtol=1e-10)
    valid = plain.mask
    torch.testing.assert_close(moved.elements[valid], (g[:, None] @ plain.elements)[valid], **tol)
    torch.testing.assert_close(moved.orbits, plain.orbits, **tol)
    assert torch.equal(moved.values, plain.values) and torch.equal(moved.mask, plain.mask)
    B, L = plain.mask.shape
    idx = torch.randint(0, L, (B, L, 5), generator=gen)
    pf = group.pair_features(plain, idx)
    assert pf.shape == (B, L, 5, group.pair_dim)
    # pairs with a padding point (the identity in both lifts) carry no meaning: compare the rest
    pairs = plain.mask[:, :, None] & torch.gather(plain.mask, 1, idx.flatten(1)).view_as(idx)
    assert (~pairs).any() and pairs.float().mean() > 0.8
    torch.testing.assert_close(group.pair_features(moved, idx)[pairs], pf[pairs], **tol)
    # and the pair features are log(u_i⁻¹u_j) ⊕ q_i ⊕ q_j, computed here the slow way
    u = plain.elements
    for b, i, k in [(0, 0, 0), (1, 5, 3), (2, L - 1, 4)]:
        j = idx[b, i, k]
        slow = torch.cat([group.log(group.inv(u[b, i]) @ u[b, j]), plain.orbits[b, i], plain.orbits[b, j]])
        torch.testing.assert_close(pf[b, i, k], slow, **tol)


@pytest.mark.parametrize("group", [SO3(alpha=0.3), SE3(alpha=0.3)], ids=repr)
def test_distance_closed_form_and_invariance(group, dtype):
    gen = torch.Generator().manual_seed(20)
    B, M, N = 2, 6, 9
    ua = group.sample((B, M), generator=gen, dtype=F64)
    ub = group.sample((B, N), generator=gen, dtype=F64)
    ub[:, :M] = ua  # coincident elements: distance exactly α·0 + (1−α)|Δq|
    ub[:, M] = ua[:, 0] @ group.exp(torch.cat([torch.tensor([0.0, math.pi - 1e-4, 0]), torch.zeros(group.lie_dim - 3)]).to(F64))
    qa = torch.rand(B, M, group.q_dim, generator=gen, dtype=F64)
    qb = torch.rand(B, N, group.q_dim, generator=gen, dtype=F64)
    ua, ub, qa, qb = (t.to(dtype) for t in (ua, ub, qa, qb))
    d = group.distance(ua, qa, ub, qb)
    assert d.shape == (B, M, N)
    # slow way: α‖ω(log(u_a⁻¹u_b))‖ + (1−α)·(|Δq| for SO3, ‖t_a − t_b‖ for SE3)
    rel = group.log(group.inv(ua[:, :, None]) @ ub[:, None])
    if isinstance(group, SE3):
        other = (split(ua)[1][:, :, None] - split(ub)[1][:, None]).norm(dim=-1)
    else:
        other = (qa[:, :, None] - qb[:, None]).norm(dim=-1)
    slow = group.alpha * rel[..., :3].norm(dim=-1) + (1 - group.alpha) * other
    tol = dict(atol=2e-6, rtol=0) if is_f32(dtype) else dict(atol=1e-12, rtol=0)
    torch.testing.assert_close(d, slow, **tol)
    diagonal = torch.diagonal(d[:, :, :M], dim1=1, dim2=2)
    torch.testing.assert_close(diagonal, (1 - group.alpha) * (qa - qb[:, :M]).norm(dim=-1), atol=1e-7 if is_f32(dtype) else 1e-15, rtol=0)
    g = group.sample((B, 1), generator=gen, dtype=dtype)
    torch.testing.assert_close(group.distance(g @ ua, qa, g @ ub, qb), d, **(dict(atol=1e-5, rtol=1e-5) if is_f32(dtype) else dict(atol=1e-10, rtol=1e-10)))


@pytest.mark.parametrize("group", [SO3(), SE3()], ids=repr)
def test_lift_rejects_wrong_dimension(group):
    with pytest.raises(ValueError, match=r"3-dimensional.*d=2"):
        group.lift(torch.zeros(1, 4, 2), torch.zeros(1, 4, 1), torch.ones(1, 4, dtype=torch.bool))
