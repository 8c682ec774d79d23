"""Planar groups SO2, SE2, SE2Canonical, RxSO2, Rx, RxSQ, SQ: exp/log against scipy, gradients,
Haar sampling, sections, exact lift equivariance (DESIGN §6) and closed-form distances checked
against their per-pair definitions. Numeric tests run in float32 and float64."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.linalg import expm

from lieformer.groups.scalings import SQ, Rx, RxSO2, RxSQ
from lieformer.groups.se2_canonical import SE2Canonical
from lieformer.groups.so2 import SE2, SO2

B, N, S, K = 2, 7, 3, 5
ALPHA = 0.3  # not the default, so a swapped α/(1−α) would show


def tol(dtype) -> float:
    return 1e-5 if dtype == torch.float32 else 1e-10


def name(group) -> str:
    return type(group).__name__


CONTINUOUS = [SO2(ALPHA), SE2(ALPHA), RxSO2(ALPHA), Rx(ALPHA), SQ(ALPHA), RxSQ(ALPHA)]
ALL = CONTINUOUS + [SE2Canonical(6, ALPHA), SE2Canonical(5, ALPHA)]
ANGLE_INDEX = {"SO2": 0, "SE2": 0, "RxSO2": 1}  # which coefficient is an angle
POSITIVE = {"SQ", "RxSQ"}


def ids(group) -> str:
    return f"{name(group)}{group.L}" if isinstance(group, SE2Canonical) else name(group)


def coords(group, shape, gen, dtype):
    x = torch.randn(*shape, 2, generator=gen, dtype=torch.float64)
    return (x.exp() if name(group) in POSITIVE else x).to(dtype)


# ---------------------------------------------------------------------------------- attributes
@pytest.mark.parametrize(
    "group, dims",
    [
        (SO2(), (1, 2, 1, 2, 3)), (SE2(), (3, 3, 0, 2, 3)), (SE2Canonical(6), (3, 3, 0, 2, 3)),
        (RxSO2(), (2, 2, 0, 2, 2)), (Rx(), (1, 2, 2, 2, 5)), (RxSQ(), (2, 2, 0, 2, 2)), (SQ(), (1, 2, 1, 2, 3)),
    ],
    ids=lambda g: ids(g) if not isinstance(g, tuple) else "",
)
def test_dimensions_and_init_args(group, dims):
    assert (group.lie_dim, group.rep_dim, group.q_dim, group.space_dim, group.pair_dim) == dims
    assert type(group)(**group._init_args()) == group


def test_se2_canonical_init():
    g = SE2Canonical(L=8, alpha=0.1)
    assert g._init_args() == {"L": 8, "alpha": 0.1}
    assert g.fixed_lift_samples == 8 and g != SE2Canonical(6, 0.1)
    with pytest.raises(ValueError):
        SE2Canonical(0)


# ---------------------------------------------------------------------------------- exp / log
def algebra_matrix(group, a: np.ndarray) -> np.ndarray:
    """Coefficients (n, lie_dim) → algebra matrices (n, rep, rep), from the documented bases."""
    n = len(a)
    A = np.zeros((n, group.rep_dim, group.rep_dim))
    kind = name(group)
    if kind in ("SO2", "SE2"):
        A[:, 0, 1], A[:, 1, 0] = -a[:, 0], a[:, 0]
        if kind == "SE2":
            A[:, :2, 2] = a[:, 1:]
    elif kind == "RxSO2":
        A[:, 0, 0] = A[:, 1, 1] = a[:, 0]
        A[:, 0, 1], A[:, 1, 0] = -a[:, 1], a[:, 1]
    elif kind == "Rx":
        A[:, 0, 0] = A[:, 1, 1] = a[:, 0]
    elif kind == "RxSQ":
        A[:, 0, 0], A[:, 1, 1] = a[:, 0] + a[:, 1], a[:, 0] - a[:, 1]
    elif kind == "SQ":
        A[:, 0, 0], A[:, 1, 1] = a[:, 0], -a[:, 0]
    return A


def coefficients(group, n=500, seed=0):
    """Random coefficients: angles uniform on (−π, π) with some within 1e-6 of ±π, and 1e-8-sized
    (and exactly zero) vectors."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(n, group.lie_dim, generator=gen, dtype=torch.float64)
    i = ANGLE_INDEX.get(name(group))
    if i is not None:
        a[:, i] = (2 * torch.rand(n, generator=gen, dtype=torch.float64) - 1) * math.pi
        a[:30, i] = math.pi - 10 ** torch.empty(30, dtype=torch.float64).uniform_(-6, -3, generator=gen)
        a[30:60, i] = -a[:30, i]
    a[60:120] *= 1e-8
    a[120:130] *= 1e-3
    a[130] = 0
    return a


@pytest.mark.parametrize("group", CONTINUOUS, ids=ids)
def test_exp_matches_expm(group, dtype):
    a = coefficients(group)
    ref = expm(algebra_matrix(group, a.numpy()))  # scipy ≥ 1.9 exponentiates a stack
    ours = group.exp(a.to(dtype)).double().numpy()
    atol, rtol = (2e-6, 2e-6) if dtype == torch.float32 else (1e-12, 1e-12)
    np.testing.assert_allclose(ours, ref, atol=atol, rtol=rtol)


@pytest.mark.parametrize("group", CONTINUOUS, ids=ids)
def test_log_exp_round_trip(group, dtype):
    """log(exp(a)) = a for angles in (−π, π), tiny coefficients included."""
    a = coefficients(group, seed=1)
    back = group.log(group.exp(a.to(dtype))).double()
    t = 2 * tol(dtype)
    torch.testing.assert_close(back, a, atol=t, rtol=t)


@pytest.mark.parametrize("group", ALL, ids=ids)
def test_exp_log_round_trip_on_samples(group, dtype):
    g = group.sample((400,), generator=torch.Generator().manual_seed(2), dtype=dtype)
    t = 2 * tol(dtype)
    torch.testing.assert_close(group.exp(group.log(g)), g, atol=t, rtol=t)
    torch.testing.assert_close(group.mul(g, group.inv(g)), group.identity((400,), dtype), atol=t, rtol=t)
    torch.testing.assert_close(group.inv(g), torch.linalg.inv(g), atol=t, rtol=t)


@pytest.mark.parametrize("group", CONTINUOUS, ids=ids)
def test_gradients_finite_at_zero_and_tiny(group, dtype):
    a = torch.zeros(5, group.lie_dim, dtype=dtype)
    a[1] = 1e-8
    a[2] = -1e-6
    a[3] = 1e-3
    a[4, 0] = 1e-7
    a.requires_grad_()
    g = group.exp(a)
    (g.sum() + group.log(g).sum()).backward()
    assert torch.isfinite(a.grad).all()
    # d log(exp(a)) / da = I near 0
    jac = torch.autograd.functional.jacobian(lambda x: group.log(group.exp(x)), a.detach()[1])
    torch.testing.assert_close(jac, torch.eye(group.lie_dim, dtype=dtype), atol=1e-5, rtol=0)


@pytest.mark.parametrize("group", CONTINUOUS, ids=ids)
def test_gradcheck_generic_points(group):
    a = 0.8 * torch.randn(4, group.lie_dim, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert torch.autograd.gradcheck(group.exp, (a.clone().requires_grad_(),))
    assert torch.autograd.gradcheck(group.log, (group.exp(a).requires_grad_(),))


@pytest.mark.parametrize("group", ALL, ids=ids)
def test_section_and_orbit_gradients_finite_at_zero_and_padding(group, dtype):
    """A padding point (zeros), or a valid point at the origin where the group acts there, must
    not give NaN gradients (RxSO2 and Rx act on R² \\ {0}, SQ and RxSQ on the open quadrant)."""
    x = coords(group, (1, 3), torch.Generator().manual_seed(4), dtype)
    x[0, 0] = 0
    x.requires_grad_()
    values = torch.ones(1, 3, 1, dtype=dtype)
    mask = torch.tensor([[name(group) not in POSITIVE | {"RxSO2", "Rx"}, True, True]])
    lifted = group.lift(x, values, mask, 2, generator=torch.Generator().manual_seed(5))
    L = lifted.mask.shape[1]
    idx = torch.randint(0, L, (1, L, 3), generator=torch.Generator().manual_seed(6))
    loss = group.pair_features(lifted, idx).sum() + group.distance(*lifted[:2], *lifted[:2]).sum()
    loss = loss + group.section(x).sum() + group.orbit(x).sum()
    loss.backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("group", [SO2(), RxSO2(), Rx()], ids=ids)
def test_section_at_origin_is_identity(group, dtype):
    x = torch.zeros(1, 1, 2, dtype=dtype)
    torch.testing.assert_close(group.section(x), group.identity((1, 1), dtype))
    assert torch.isfinite(group.orbit(x)).all()


# ---------------------------------------------------------------------------------- sampling
def uniform_pvalue(angles) -> float:
    return stats.kstest(np.asarray(angles, dtype=np.float64), stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue


def test_se2_stabilizer_is_haar():
    h = SE2().sample_stabilizer((20000,), generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    assert h.shape == (20000, 3, 3)
    torch.testing.assert_close(h[:, :2, 2], torch.zeros(20000, 2, dtype=torch.float64))  # fixes the origin
    assert uniform_pvalue(torch.atan2(h[:, 1, 0], h[:, 0, 0])) > 0.01


def test_ks_detects_non_haar_angles():
    """The KS test above can fail: angles from a non-uniform law are rejected."""
    gen = torch.Generator().manual_seed(8)
    skewed = (torch.rand(20000, generator=gen, dtype=torch.float64) ** 1.1 * 2 - 1) * math.pi
    assert uniform_pvalue(skewed) < 0.01


def test_se2_lift_angles_uniform_marginally():
    group = SE2()
    x = torch.randn(4, 1000, 2, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    lifted = group.lift(x, torch.zeros(4, 1000, 1, dtype=torch.float64), torch.ones(4, 1000, dtype=torch.bool), 5,
                        generator=torch.Generator().manual_seed(10))
    theta = group.log(lifted.elements)[..., 0].view(4, 1000, 5)
    for s in range(5):  # each sample slot separately, and all together
        assert uniform_pvalue(theta[..., s].flatten()) > 0.01
    assert uniform_pvalue(theta.flatten()) > 0.01


@pytest.mark.parametrize("group", [SO2(), SE2(), RxSO2()], ids=ids)
def test_sample_angles_uniform(group):
    g = group.sample((20000,), generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    assert uniform_pvalue(group.log(g)[:, ANGLE_INDEX[name(group)]]) > 0.01


@pytest.mark.parametrize("group, index", [(RxSO2(), 0), (Rx(), 0), (RxSQ(), 0), (RxSQ(), 1), (SQ(), 0)],
                         ids=["RxSO2", "Rx", "RxSQ-r", "RxSQ-s", "SQ"])
def test_sample_log_scales_normal(group, index):
    a = group.log(group.sample((20000,), generator=torch.Generator().manual_seed(12), dtype=torch.float64))[:, index]
    assert stats.kstest(a.numpy(), stats.norm(0, 0.5).cdf).pvalue > 0.01


def test_se2_canonical_sampling_is_on_cyclic_group():
    group = SE2Canonical(6)
    gen = torch.Generator().manual_seed(13)
    for elements in (group.sample((6000,), generator=gen), group.sample_stabilizer((6000,), generator=gen)):
        theta = group.log(elements)[:, 0].double()
        k = theta * 6 / (2 * math.pi)
        torch.testing.assert_close(k, k.round(), atol=1e-5, rtol=0)
        counts = np.bincount(np.mod(k.round().long().numpy(), 6), minlength=6)
        assert stats.chisquare(counts).pvalue > 0.01
    h = group.sample_stabilizer((100,), generator=gen)
    torch.testing.assert_close(h[:, :2, 2], torch.zeros(100, 2))


# ---------------------------------------------------------------------------------- sections
@pytest.mark.parametrize("group", ALL, ids=ids)
def test_section_maps_origin_to_point(group, dtype):
    x = coords(group, (B, 50), torch.Generator().manual_seed(14), dtype)
    back = group.act(group.section(x), group.origin(group.orbit(x)))
    torch.testing.assert_close(back, x, atol=10 * tol(dtype), rtol=10 * tol(dtype))
    # the stabilizer fixes the orbit representatives
    o = group.origin(group.orbit(x))
    h = group.sample_stabilizer((B, 50), generator=torch.Generator().manual_seed(15), dtype=dtype)
    torch.testing.assert_close(group.act(h, o), o, atol=10 * tol(dtype), rtol=10 * tol(dtype))


@pytest.mark.parametrize("group", [Rx(), SQ()], ids=ids)
def test_orbit_ids_are_invariant(group, dtype):
    x = coords(group, (B, 50), torch.Generator().manual_seed(16), dtype)
    g = group.sample((B,), generator=torch.Generator().manual_seed(17), dtype=dtype)
    t = 10 * tol(dtype)
    torch.testing.assert_close(group.orbit(group.act(g, x)), group.orbit(x), atol=t, rtol=t)


def test_rx_orbit_is_continuous_across_negative_axis():
    """Rx identifies rays by the unit direction, not by θ (which jumps from π to −π)."""
    x = torch.tensor([[[-1.0, 1e-6], [-1.0, -1e-6]]], dtype=torch.float64)
    q = Rx().orbit(x)
    assert (q[0, 0] - q[0, 1]).norm() < 1e-5
    torch.testing.assert_close(q.norm(dim=-1), torch.ones(1, 2, dtype=torch.float64))


# ---------------------------------------------------------------------------------- equivariance
@pytest.mark.parametrize("group", ALL, ids=ids)
def test_lift_is_exactly_equivariant(group, dtype):
    """lift(g·x, h_g(x)·h) = g·lift(x, h); pair features and distances unchanged (DESIGN §6)."""
    gen = torch.Generator().manual_seed(18)
    x = coords(group, (B, N), gen, dtype)
    v = torch.randn(B, N, 3, generator=gen, dtype=dtype)
    mask = torch.ones(B, N, dtype=torch.bool)
    g = group.sample((B,), generator=gen, dtype=dtype)
    gx = group.act(g, x)
    hg = group.compensating_stabilizer(g, x)
    if isinstance(group, SE2Canonical):
        a = group.lift(x, v, mask, n_samples=1)  # the fixed grid
        h = group.lift_stabilizer(B, N, group.L, None, dtype, None)
        torch.testing.assert_close(a.elements, group.lift(x, v, mask, stabilizer=h).elements)
    else:
        h = group.sample_stabilizer((B, N, S), generator=gen, dtype=dtype)
        a = group.lift(x, v, mask, S, stabilizer=h)
    s = h.shape[2]
    b = group.lift(gx, v, mask, s, stabilizer=hg[:, :, None] @ h)
    t = 20 * tol(dtype)
    torch.testing.assert_close(b.elements, g[:, None] @ a.elements, atol=t, rtol=t)
    torch.testing.assert_close(b.orbits, a.orbits, atol=t, rtol=t)
    torch.testing.assert_close(b.values, a.values)
    L = N * s
    idx = torch.randint(0, L, (B, L, K), generator=gen)
    torch.testing.assert_close(group.pair_features(b, idx), group.pair_features(a, idx), atol=t, rtol=t)
    da = group.distance(a.elements, a.orbits, a.elements, a.orbits)
    db = group.distance(b.elements, b.orbits, b.elements, b.orbits)
    assert da.shape == (B, L, L)
    torch.testing.assert_close(db, da, atol=t, rtol=t)


def test_equivariance_check_can_fail():
    """Without the compensating stabilizer, SO2's lift is not simply transformed: the check bites."""
    group = SO2()
    gen = torch.Generator().manual_seed(19)
    x = torch.randn(B, N, 2, generator=gen, dtype=torch.float64)
    g = group.sample((B,), generator=gen, dtype=torch.float64)
    v, m = torch.zeros(B, N, 1, dtype=torch.float64), torch.ones(B, N, dtype=torch.bool)
    a = group.lift(x, v, m, 1)
    b = group.lift(group.act(g, x), v, m, 1)
    torch.testing.assert_close(b.elements, g[:, None] @ a.elements)  # trivial stabilizer: exact anyway
    h = SE2().sample_stabilizer((B, N, S), generator=gen, dtype=torch.float64)
    a = SE2().lift(x, v, m, S, stabilizer=h)
    b = SE2().lift(SE2().act(SE2().sample((B,), generator=gen, dtype=torch.float64), x), v, m, S, stabilizer=h)
    idx = torch.randint(0, N * S, (B, N * S, K), generator=gen)
    assert not torch.allclose(SE2().pair_features(a, idx), SE2().pair_features(b, idx), atol=1e-3)


# ---------------------------------------------------------------------------------- distances
def slow_distance(group, ua, qa, ub, qb):
    """The defining formula from the per-pair relative element u_a⁻¹u_b (M·N logs)."""
    rel = group.log(torch.linalg.inv(ua).unsqueeze(2) @ ub.unsqueeze(1))  # (B, M, N, lie)
    al = group.alpha
    kind = name(group)
    if kind == "SO2":
        ra, rb = qa[..., 0].unsqueeze(2), qb[..., 0].unsqueeze(1)
        return al * rel[..., 0].abs() + (1 - al) * (ra - rb).abs() / (ra + rb + 1e-3)
    if kind in ("SE2", "SE2Canonical"):
        dt = (ua[..., :2, 2].unsqueeze(2) - ub[..., :2, 2].unsqueeze(1)).norm(dim=-1)
        return al * rel[..., 0].abs() + (1 - al) * dt
    if kind == "RxSO2":  # (log r, θ)
        return al * rel[..., 1].abs() + (1 - al) * rel[..., 0].abs()
    if kind == "RxSQ":  # (r, s)
        return al * rel[..., 1].abs() + (1 - al) * rel[..., 0].abs()
    dq = (qa.unsqueeze(2) - qb.unsqueeze(1)).norm(dim=-1)  # Rx, SQ
    return al * rel[..., 0].abs() + (1 - al) * dq


@pytest.mark.parametrize("group", ALL, ids=ids)
def test_distance_matches_definition(group, dtype):
    gen = torch.Generator().manual_seed(20)
    v = torch.zeros(B, N, 1, dtype=dtype)
    mask = torch.ones(B, N, dtype=torch.bool)
    a = group.lift(coords(group, (B, N), gen, dtype), v, mask, S, generator=gen)
    b = group.lift(coords(group, (B, N - 2), gen, dtype), v[:, 2:], mask[:, 2:], S, generator=gen)
    fast = group.distance(a.elements, a.orbits, b.elements, b.orbits)
    slow = slow_distance(group, a.elements.double(), a.orbits.double(), b.elements.double(), b.orbits.double())
    assert fast.shape == (B, a.mask.shape[1], b.mask.shape[1])
    torch.testing.assert_close(fast.double(), slow, atol=20 * tol(dtype), rtol=20 * tol(dtype))


def test_se2_distance_differs_from_log_translation_norm_by_the_documented_factor():
    """SE2 uses ‖t_a − t_b‖; the original's ‖log translation part‖ is that times (θ/2)/sin(θ/2)."""
    group = SE2()
    gen = torch.Generator().manual_seed(21)
    ua = group.sample((1, 6), generator=gen, dtype=torch.float64)
    ub = group.sample((1, 5), generator=gen, dtype=torch.float64)
    rel = group.log(group.inv(ua).unsqueeze(2) @ ub.unsqueeze(1))
    half = rel[..., 0] / 2
    factor = torch.where(half.abs() > 1e-12, half / torch.sin(half), torch.ones_like(half))
    dt = (ua[..., :2, 2].unsqueeze(2) - ub[..., :2, 2].unsqueeze(1)).norm(dim=-1)
    torch.testing.assert_close(rel[..., 1:].norm(dim=-1), dt * factor)


def test_se2_canonical_distance_is_cyclic():
    group = SE2Canonical(6, alpha=1.0)
    k = torch.arange(6, dtype=torch.float64)
    u = group.grid_rotations(k.long(), torch.float64).unsqueeze(0)
    d = group.distance(u, u.new_zeros(1, 6, 0), u, u.new_zeros(1, 6, 0))[0]
    dk = (k[:, None] - k[None, :]).abs()
    torch.testing.assert_close(d, torch.minimum(dk, 6 - dk) * 2 * math.pi / 6)


# ---------------------------------------------------------------------------------- SE2Canonical
@pytest.mark.parametrize("n_samples", [1, 3, 6, 10])
def test_se2_canonical_lifts_exactly_L_samples(n_samples):
    group = SE2Canonical(4)
    x = torch.randn(2, 5, 2, generator=torch.Generator().manual_seed(22))
    lifted = group.lift(x, torch.zeros(2, 5, 1), torch.ones(2, 5, dtype=torch.bool), n_samples)
    assert lifted.elements.shape == (2, 20, 3, 3)
    k = group.rotation_index(lifted.elements).view(2, 5, 4)
    assert (k == torch.arange(4.0)).all()  # the grid 2πs/L, s = 0…L−1, for every point
    again = group.lift(x, torch.zeros(2, 5, 1), torch.ones(2, 5, dtype=torch.bool), n_samples)
    assert torch.equal(again.elements, lifted.elements)  # deterministic


@pytest.mark.parametrize("L", [4, 6, 7])
def test_se2_canonical_pair_features_invariant(L, dtype):
    """A C_L rotation by k₀ steps plus a translation maps lift sample (n, s) to (n, s + k₀):
    pair features of the transformed lift, read at the relabelled pairs, equal the original's."""
    group = SE2Canonical(L)
    gen = torch.Generator().manual_seed(23)
    x = torch.randn(B, N, 2, generator=gen, dtype=dtype)
    v, m = torch.zeros(B, N, 1, dtype=dtype), torch.ones(B, N, dtype=torch.bool)
    k0 = torch.randint(1, L, (B,), generator=gen)
    theta = k0.to(dtype) * 2 * math.pi / L
    g = SE2().exp(torch.cat([theta[:, None], 3 * torch.randn(B, 2, generator=gen, dtype=dtype)], -1))
    a = group.lift(x, v, m, 1)
    b = group.lift(group.act(g, x), v, m, 1)
    slot = torch.arange(N * L)
    perm = (slot // L) * L + (slot[None] % L + k0[:, None]) % L  # (B, N·L): where sample (n, s) went
    idx = torch.randint(0, N * L, (B, N * L, K), generator=gen)
    pa = group.pair_features(a, idx)
    pb = group.pair_features(b, torch.gather(perm, 1, idx.view(B, -1)).view_as(idx), perm)
    torch.testing.assert_close(pb, pa, atol=20 * tol(dtype), rtol=20 * tol(dtype))
    assert set(pa[..., 2].unique().tolist()) <= set(range(L))
    # the first two features are the neighbour's offset in the query's rotated frame
    ui, uj = a.elements[:, :, None], a.elements[torch.arange(B)[:, None, None], idx]
    local = (ui[..., :2, :2].transpose(-1, -2) @ (uj[..., :2, 2] - ui[..., :2, 2]).unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(pa[..., :2], local)


# ---------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("group,bad_point,space", [
    (SQ(), (0.3, -0.5), "positive quadrant"), (SQ(), (0.3, 0.0), "positive quadrant"),
    (RxSQ(), (-0.5, 0.3), "positive quadrant"), (RxSQ(), (0.3, 0.0), "positive quadrant"),
    (RxSO2(), (0.0, 0.0), "R² \\ {0}"), (Rx(), (0.0, 0.0), "R² \\ {0}"),
], ids=lambda p: name(p) if hasattr(p, "lie_dim") else None)
def test_points_outside_the_space_are_refused(group, bad_point, space):
    """Valid points outside the space a group acts on are refused, naming the point: the
    quadrant's boundary for SQ and RxSQ, the origin for RxSO2 and Rx (R² without 0)."""
    x = torch.rand(1, 4, 2) + 0.1
    v, m = torch.zeros(1, 4, 1), torch.ones(1, 4, dtype=torch.bool)
    x[0, 2] = torch.tensor(bad_point)
    with pytest.raises(ValueError, match=rf"{name(group)}\(.*acts on .*{re.escape(space)}.*\(batch 0, point 2\)"):
        group.lift(x, v, m, 1)
    m[0, 2] = False  # the same point as padding is fine
    lifted = group.lift(x, v, m, 1)
    assert torch.isfinite(lifted.elements).all()


@pytest.mark.parametrize("group", ALL, ids=ids)
def test_wrong_dimension_rejected(group):
    x = torch.ones(1, 4, 3)
    with pytest.raises(ValueError, match="2-dimensional"):
        group.lift(x, torch.zeros(1, 4, 1), torch.ones(1, 4, dtype=torch.bool), 1)
