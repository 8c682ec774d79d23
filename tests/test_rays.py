"""Rays under SE(3) in Plücker coordinates (lieformer.spaces.RaySpace): Plücker consistency of the
action, the section against the representative, the compensation identity of DESIGN §6 (its SO(2)
part and its R part τ_g(x) = (R d)·t, as the docstring states), the bounded window of translation
draws, pair invariants (invariance and separation of orbits), domain errors naming the ray, models
on rays, and the ray-shape data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from lieformer import LieResNet, LieTransformer
from lieformer.groups import SE3, SO3
from lieformer.groups.affine import homogeneous, split
from lieformer.spaces import RaySpace, make_space
from lieformer.spaces.rays import line_invariants, rays_through
from lieformer.testing import assert_equivariant, check_group

from .conftest import tolerance

F64 = torch.float64


def space(**kw):
    return RaySpace(SE3(alpha=0.2), **kw)


def rays(n, seed=0, dtype=F64, batch=1):
    return space().sample_points((batch, n), generator=torch.Generator().manual_seed(seed), dtype=dtype)


def motions(n, seed=0, dtype=F64, scale=5.0):
    """Random rigid motions (n, 4, 4): Haar rotations, translations N(0, scale²)."""
    gen = torch.Generator().manual_seed(seed)
    R = SO3().sample((n,), generator=gen, dtype=dtype)
    return homogeneous(R, scale * torch.randn(n, 3, generator=gen, dtype=dtype))


def test_check_group():
    """In float64 only: the distance between nearly parallel lines is ill-conditioned (error
    ε‖m‖/sin θ), beyond check_group's fixed 1e-6 distance tolerance in float32 for some draws."""
    for extent in (1.0, 0.0, 3.0):
        check_group(space(extent=extent), dtype=F64)


def test_built_by_name_and_refuses_other_groups():
    assert make_space("RaySpace(SE3(alpha=0.2), extent=2.0)") == space(extent=2.0)
    assert repr(space()) == "RaySpace(SE3(alpha=0.2))"
    with pytest.raises(TypeError, match="SE3"):
        RaySpace(SO3())
    with pytest.raises(ValueError, match="extent"):
        space(extent=-1.0)


def test_action_keeps_plucker_coordinates_consistent_and_moves_the_line(dtype):
    """After any motion d is unit and d·m = 0, and (d', m') is the line through g·x and g·(x + d)
    (an independent reference: move two points of the ray, rebuild its coordinates)."""
    sp = space()
    x = rays(300, dtype=dtype)
    g = motions(300, seed=1, dtype=dtype).unsqueeze(0)  # one motion per ray
    y = sp.act(g, x)
    d, m = y[..., :3], y[..., 3:]
    tol = 20 * tolerance(dtype)
    torch.testing.assert_close(d.norm(dim=-1), torch.ones_like(d[..., 0]), atol=tol, rtol=0)
    assert ((d * m).sum(-1).abs() <= tol * (1 + m.norm(dim=-1))).all()
    R, t = split(g)
    p = torch.linalg.cross(x[..., :3], x[..., 3:], dim=-1)  # a point of each ray
    moved = lambda q: (R @ q.unsqueeze(-1)).squeeze(-1) + t  # noqa: E731
    a, b = moved(p), moved(p + x[..., :3])
    torch.testing.assert_close(y, rays_through(a, b - a), atol=tol * 10, rtol=0)


def test_action_is_a_left_action():
    sp = space()
    x = rays(50)
    g, h = motions(1, seed=2)[0], motions(1, seed=3)[0]
    torch.testing.assert_close(sp.act(g @ h, x), sp.act(g, sp.act(h, x)), atol=1e-12, rtol=0)


def test_section_takes_the_representative_to_the_ray(dtype):
    """s(x)·o = x, s(x) = (R, p) with R e_z = d and p = d × m the foot point (on the ray, ⟂ d);
    rays along −e_z (the section's antipode) included."""
    sp = space()
    x = rays(200, dtype=dtype)
    down = rays_through(torch.tensor([[[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]], dtype=dtype),
                        torch.tensor([[[0.0, 0.0, -1.0], [0.0, 0.0, -1.0]]], dtype=dtype))
    x = torch.cat([x, down], 1)
    s = sp.section(x)
    o = sp.origin(x.new_zeros(*x.shape[:-1], 0))
    tol = 10 * tolerance(dtype)
    torch.testing.assert_close(sp.act(s, o), x, atol=tol, rtol=0)
    R, p = split(s)
    torch.testing.assert_close(R.transpose(-1, -2) @ R, torch.eye(3, dtype=dtype).expand_as(R), atol=tol, rtol=0)
    torch.testing.assert_close(R[..., :, 2], x[..., :3], atol=tol, rtol=0)
    assert ((p * x[..., :3]).sum(-1).abs() < tol * (1 + p.norm(dim=-1))).all()
    torch.testing.assert_close(torch.linalg.cross(p, x[..., :3], dim=-1), x[..., 3:], atol=tol, rtol=0)


def test_compensating_element_is_a_rotation_about_and_a_shift_along_ez(dtype):
    """DESIGN §6 on rays: h_g(x) = s(g·x)⁻¹·g·s(x) = (R_z(φ), τ e_z): its SO(2) part fixes e_z, its
    R part is τ_g(x) = (R d)·t exactly (the docstring), and lift(g·x, h_g(x)·h) = g·lift(x, h)."""
    sp, G = space(), SE3()
    x = rays(100, seed=4, dtype=dtype)
    g = motions(1, seed=5, dtype=dtype)
    h = sp.compensating_stabilizer(g, x)
    Rh, th = split(h)
    ez = torch.tensor([0.0, 0.0, 1.0], dtype=dtype)
    tol = 50 * tolerance(dtype)
    torch.testing.assert_close(Rh[..., :, 2], ez.expand_as(Rh[..., :, 2]), atol=tol, rtol=0)
    torch.testing.assert_close(Rh[..., 2, :], ez.expand_as(Rh[..., 2, :]), atol=tol, rtol=0)
    R, t = split(g[0])
    tau = ((x[..., :3] @ R.T) * t).sum(-1)
    torch.testing.assert_close(th[..., :2], torch.zeros_like(th[..., :2]), atol=tol, rtol=0)
    torch.testing.assert_close(th[..., 2], tau, atol=tol, rtol=0)
    stab = sp.lift_stabilizer(1, 100, 2, torch.Generator().manual_seed(0), dtype, coords=x)
    values = torch.zeros(1, 100, 1, dtype=dtype)
    lifted = sp.lift(x, values, None, 2, stabilizer=stab)
    moved = sp.lift(sp.act(g, x), values, None, 2, stabilizer=G.mul(h.unsqueeze(2), stab))
    torch.testing.assert_close(moved.elements, G.mul(g.unsqueeze(1), lifted.elements), atol=tol, rtol=0)


@pytest.mark.parametrize("extent", [1.0, 2.5])
def test_translation_draws_are_uniform_in_the_stated_window(extent):
    """The docstring: τ ~ U[−extent, extent], θ ~ U(−π, π); draws fix the representative."""
    h = space(extent=extent).lift_stabilizer(1, 3000, 1, torch.Generator().manual_seed(1), F64)[0, :, 0]
    R, t = split(h)
    theta, tau = torch.atan2(R[:, 1, 0], R[:, 0, 0]), t[:, 2]
    assert t[:, :2].abs().max() == 0 and tau.abs().max() <= extent
    assert stats.kstest(tau.numpy(), stats.uniform(loc=-extent, scale=2 * extent).cdf).pvalue > 1e-3
    assert stats.kstest(theta.numpy(), stats.uniform(loc=-math.pi, scale=2 * math.pi).cdf).pvalue > 1e-3
    assert space(extent=0.0).lift_stabilizer(1, 50, 2, None, F64)[..., 2, 3].abs().max() == 0


def test_which_motions_keep_the_window():
    """The docstring's consequence: rotations about the origin and translations perpendicular to
    a ray give τ_g = 0 (compensated draws stay in [−extent, extent], so the random lift is
    equivariant in distribution); a translation by s along a ray shifts its window by s."""
    sp = space(extent=1.0)
    x = rays(60, seed=6)
    R = SO3().sample((), generator=torch.Generator().manual_seed(2), dtype=F64)
    rotation = homogeneous(R, torch.zeros(3, dtype=F64))
    assert split(sp.compensating_stabilizer(rotation, x))[1].abs().max() < 1e-12
    d0 = x[0, 0, :3]
    perp = torch.linalg.cross(d0, torch.tensor([0.3, -0.2, 0.9], dtype=F64), dim=-1)
    tau_perp = split(sp.compensating_stabilizer(homogeneous(torch.eye(3, dtype=F64), 4 * perp), x))[1][0, 0, 2]
    assert tau_perp.abs() < 1e-12
    along = homogeneous(torch.eye(3, dtype=F64), 3.0 * d0)
    tau = split(sp.compensating_stabilizer(along, x))[1][0, 0, 2]
    torch.testing.assert_close(tau, torch.tensor(3.0, dtype=F64), atol=1e-12, rtol=0)  # outside the window


def reference_line_distance(di, mi, dj, mj):
    """Distance between two lines from points on them (least squares over both parameters)."""
    pi, pj = np.cross(di, mi), np.cross(dj, mj)
    A = np.stack([di, -dj], 1)
    s, *_ = np.linalg.lstsq(A, pj - pi, rcond=None)
    return np.linalg.norm(pi + s[0] * di - pj - s[1] * dj)


def test_pair_invariants_match_closed_forms():
    x = rays(40, seed=7)[0].numpy()
    for i in range(0, 40, 2):
        a, b = x[i], x[i + 1]
        inv = line_invariants(*(torch.from_numpy(v) for v in (a[:3], a[3:], b[:3], b[3:]))).numpy()
        angle = math.acos(float(np.clip(a[:3] @ b[:3], -1, 1)))
        assert math.isclose(math.atan2(inv[1], inv[0]), angle, abs_tol=1e-10)
        assert math.isclose(inv[2], a[:3] @ b[3:] + b[:3] @ a[3:], abs_tol=1e-12)
        assert math.isclose(inv[3], reference_line_distance(a[:3], a[3:], b[:3], b[3:]), abs_tol=1e-9)


def special_pairs():
    """Pairs (2, 6) in different SE(3) orbits: parallel (two separations), antiparallel,
    intersecting (two angles), skew with either handedness, and a ray with itself."""
    e = torch.eye(3, dtype=F64)
    zero = torch.zeros(3, dtype=F64)
    c, s = math.cos(1.0), math.sin(1.0)
    tilt = torch.tensor([c, s, 0.0], dtype=F64)
    pairs = {
        "same": ((zero, e[0]), (zero, e[0])),
        "parallel 1": ((zero, e[0]), (e[1], e[0])),
        "parallel 2": ((zero, e[0]), (2 * e[1], e[0])),
        "antiparallel 1": ((zero, e[0]), (e[1], -e[0])),
        "intersecting 1 rad": ((zero, e[0]), (zero, tilt)),
        "intersecting 0.5 rad": ((zero, e[0]), (zero, torch.tensor([math.cos(0.5), math.sin(0.5), 0], dtype=F64))),
        "skew right": ((zero, e[0]), (e[2], tilt)),
        "skew left": ((zero, e[0]), (-e[2], tilt)),
        "skew far": ((zero, e[0]), (2 * e[2], tilt)),
    }
    return {k: torch.stack([rays_through(*a), rays_through(*b)]) for k, (a, b) in pairs.items()}


def test_pair_invariants_are_invariant_under_rigid_motions():
    """float64, 1e-10: random pairs and every special pair (parallel ones included) under 20
    random motions with translations of size 5."""
    sp = space()
    x = torch.cat([rays(200, seed=8)[0].view(100, 2, 6), torch.stack(list(special_pairs().values()))])
    inv = sp.pair_invariants(x[:, 0], x[:, 1])
    for g in motions(20, seed=9):
        y = sp.act(g, x)
        torch.testing.assert_close(sp.pair_invariants(y[:, 0], y[:, 1]), inv, atol=1e-10, rtol=0)


def test_pair_invariants_separate_orbits():
    sp = space()
    inv = {k: sp.pair_invariants(p[0], p[1]) for k, p in special_pairs().items()}
    names = list(inv)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert (inv[a] - inv[b]).abs().max() > 0.1, (a, b, inv[a], inv[b])
    assert inv["parallel 2"][3] == pytest.approx(2.0) and inv["skew far"][3] == pytest.approx(2.0)
    assert inv["skew right"][2] == -inv["skew left"][2] != 0


def test_invalid_rays_are_refused_by_name():
    sp = space()
    x = rays(6, batch=2)
    values = torch.zeros(2, 6, 1, dtype=F64)
    bad = x.clone()
    bad[1, 4, :3] *= 1.1
    with pytest.raises(ValueError, match=r"\(batch 1, point 4\).*direction d is not a unit vector \(‖d‖ = 1\.1\)"):
        sp.lift(bad, values, None)
    bad = x.clone()
    bad[0, 2, 3:] += 0.5 * bad[0, 2, :3]
    with pytest.raises(ValueError, match=r"\(batch 0, point 2\).*not orthogonal to d \(d·m = 0\.5\)"):
        sp.lift(bad, values, None)
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[0, 2] = False  # padding may hold anything
    sp.lift(bad, values, mask)
    ok = x.clone()
    ok[0, 0, :3] *= 1 + 5e-5  # within the tolerance 1e-4
    sp.lift(ok, values, None)


MODELS = [(LieResNet, dict(k=16, num_layers=1, nbhd=6)), (LieTransformer, dict(dim=16, num_layers=1, nbhd=6))]


@pytest.mark.parametrize("features", ["log", "continuous", "invariants"])
@pytest.mark.parametrize("Net,kw", MODELS, ids=["LieResNet", "LieTransformer"])
def test_models_are_equivariant_on_rays(Net, kw, features, dtype):
    torch.manual_seed(0)
    x = rays(12, seed=10, dtype=dtype, batch=2)
    values = torch.randn(2, 12, 3, dtype=dtype)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, -3:] = False
    net = Net(3, 2, space(), pair_features=features, lift_samples=2, **kw).to(dtype)
    assert_equivariant(net, space(), (x, values, mask), g=motions(2, seed=11, dtype=dtype))


def test_invariant_features_need_no_compensation():
    """The docstring: with pair_features="invariants" the model's own random lift of g·x (any
    rigid motion, translations of size 5) gives the output of x; with "log" it does not."""
    torch.manual_seed(0)
    x = rays(16, seed=12)
    values = torch.randn(1, 16, 3, dtype=F64)
    g = motions(1, seed=13)
    outs = {}
    for features in ("invariants", "log"):
        net = LieTransformer(3, 2, space(), pair_features=features, lift_samples=2, dim=16, num_layers=1, nbhd=6).double()
        run = lambda c: net(c, values, None, generator=torch.Generator().manual_seed(1))  # noqa: E731
        outs[features] = (run(x) - run(space().act(g, x))).abs().max().item()
    assert outs["invariants"] < 1e-10
    assert outs["log"] > 1e-4


def test_invariants_are_refused_where_a_space_has_none():
    with pytest.raises(ValueError, match="no complete set of pair invariants"):
        LieTransformer(1, 1, "RxSO2", pair_features="invariants")


# ------------------------------------------------------------------------- the ray-shape data
def test_ray_data_hits_match_an_analytic_sphere_and_moved_scenes_move_rigidly():
    from lieformer.data.rays import SHAPES, RayConfig, generate, transform_split

    data = generate(RayConfig(n=60, seed=3))
    d, m = data["rays"][..., :3].astype(np.float64), data["rays"][..., 3:].astype(np.float64)
    assert np.abs(np.linalg.norm(d, axis=-1) - 1).max() < 1e-6 and np.abs((d * m).sum(-1)).max() < 1e-5
    # the camera centre lies on each ray: c × d = m
    np.testing.assert_allclose(np.cross(data["origins"], d), m, atol=1e-5)
    sphere = data["labels"] == SHAPES.index("sphere")
    assert sphere.any()
    # reference: |c + s d|² = r² with r the scene's scale — recovered from a hit, checked on all rays
    for i in np.flatnonzero(sphere):
        c, dd = data["origins"][i].astype(np.float64), d[i]
        hit, depth = data["values"][i, :, 0] > 0, data["depth"][i]
        np.testing.assert_allclose(data["values"][i, :, 1], np.where(hit, depth - depth[hit].mean(), 0), atol=1e-5)
        r = np.linalg.norm(c[hit][0] + depth[hit][0] * dd[hit][0])
        b = (c * dd).sum(-1)
        disc = b**2 - ((c * c).sum(-1) - r**2)
        near = -b - np.sqrt(np.maximum(disc, 0))
        clear = np.abs(disc) > 1e-3  # not grazing: the tracer converges well within its steps
        assert np.array_equal(hit[clear], (disc > 0)[clear])
        np.testing.assert_allclose(depth[hit & clear], near[hit & clear], atol=1e-4)
    moved = transform_split(data, "moved", seed=1)
    np.testing.assert_array_equal(moved["values"], data["values"])
    md, mm = moved["rays"][..., :3].astype(np.float64), moved["rays"][..., 3:].astype(np.float64)
    np.testing.assert_allclose(np.cross(moved["origins"], md), mm, atol=1e-4)
    assert np.abs(moved["rays"] - data["rays"]).max() > 1.0
    # pair invariants of every scene survive the move (float32 data: 1e-3)
    sp = space()
    a, b = torch.from_numpy(data["rays"]).double(), torch.from_numpy(moved["rays"]).double()
    ia, ib = sp.pair_invariants(a[:, :1], a[:, 1:]), sp.pair_invariants(b[:, :1], b[:, 1:])
    assert (ia[..., :3] - ib[..., :3]).abs().max() < 1e-3


@pytest.mark.parametrize("spec", ["T(3)", "SE2", "SE3", "SO2", "SO3", "SE2Canonical(4)"])
def test_invariant_features_on_other_spaces(spec):
    """pair_features="invariants" is an option of any space that declares pair invariants:
    invariant under the group, and models on it pass assert_equivariant."""
    sp = make_space(spec)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 30, sp.space_dim, generator=gen, dtype=F64)
    g = sp.group.sample((1,), generator=gen, dtype=F64)
    y = sp.act(g, x)
    inv = sp.pair_invariants(x[:, :, None].expand(-1, -1, 30, -1), x[:, None].expand(-1, 30, -1, -1))
    moved = sp.pair_invariants(y[:, :, None].expand(-1, -1, 30, -1), y[:, None].expand(-1, 30, -1, -1))
    torch.testing.assert_close(moved, inv, atol=1e-10, rtol=0)
    assert inv.shape[-1] == sp.pair_dim_of("invariants")
    torch.manual_seed(0)
    net = LieTransformer(2, 2, sp, pair_features="invariants", dim=16, num_layers=1, nbhd=6).double()
    assert_equivariant(net, sp, (x[:, :12], torch.randn(1, 12, 2, dtype=F64), torch.ones(1, 12, dtype=torch.bool)))
