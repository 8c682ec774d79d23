"""S² under SO(3) (lieformer.spaces.SphereSpace): the section against the representative e_z (the
antipode included), its smoothness away from −e_z, the compensation identity of DESIGN §6 for the
SO(2) stabilizer, Haar draws, pair invariants, domain errors, and models on S²."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from lieformer import LieResNet, LieTransformer
from lieformer.groups import SO3
from lieformer.spaces import SphereSpace, make_space
from lieformer.testing import assert_equivariant, check_group

from .conftest import tolerance

EZ = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)


def space():
    return SphereSpace(SO3())


def points(n, seed=0, dtype=torch.float64):
    return space().sample_points((1, n), generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_check_group(dtype):
    check_group(space(), dtype=dtype, rtol=1e-8 if dtype == torch.float64 else 2e-5)


def test_built_by_name():
    assert make_space("SphereSpace(SO3(alpha=0.5))") == SphereSpace(SO3(alpha=0.5))
    with pytest.raises(TypeError, match="SO3"):
        SphereSpace(make_space("SE3").group)


def special_points(dtype):
    """The antipode −e_z exactly, points within 1e-7…1e-3 of it from several sides, e_z, the equator."""
    eps = torch.tensor([1e-7, 1e-5, 1e-3], dtype=torch.float64)
    near = []
    for phi in (0.0, 1.0, 2.5, -2.0):
        near.append(torch.stack([eps * math.cos(phi), eps * math.sin(phi), -torch.ones_like(eps)], -1))
    x = torch.cat([torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]],
                                dtype=torch.float64), *near])
    return (x / x.norm(dim=-1, keepdim=True)).to(dtype)


def test_section_takes_the_representative_to_the_point_and_is_a_rotation(dtype):
    x = torch.cat([points(200, dtype=dtype)[0], special_points(dtype)])
    R = space().section(x)
    tol = tolerance(dtype) * 10
    torch.testing.assert_close(R @ EZ.to(dtype), x, atol=tol, rtol=0)
    torch.testing.assert_close(R.transpose(-1, -2) @ R, torch.eye(3, dtype=dtype).expand_as(R), atol=tol, rtol=0)
    assert (torch.linalg.det(R.double()) > 0).all()


def test_section_at_the_antipode_is_exact():
    R = space().section(torch.tensor([0.0, 0.0, -1.0], dtype=torch.float64))
    assert torch.equal(R, torch.diag(torch.tensor([-1.0, 1.0, -1.0], dtype=torch.float64)))


def test_section_is_smooth_away_from_the_antipode():
    """Lipschitz along great circles crossing the equator and reaching within 0.1 rad of −e_z
    (rotation_between-style sections switch branches at the equator and fail this)."""
    t = torch.linspace(0.0, math.pi - 0.1, 4001, dtype=torch.float64)
    for phi in (0.3, 2.0, -1.2):
        x = torch.stack([torch.sin(t) * math.cos(phi), torch.sin(t) * math.sin(phi), torch.cos(t)], -1)
        R = space().section(x)
        step = (R[1:] - R[:-1]).flatten(-2).norm(dim=-1).max().item()
        assert step < 25 * (t[1] - t[0]).item(), step


def test_compensating_element_is_a_rotation_about_ez_and_compensates(dtype):
    """DESIGN §6: h_g(x) = s(g·x)⁻¹·g·s(x) ∈ SO(2) about e_z, and lift(g·x, h_g(x)·h) = g·lift(x, h)."""
    sp, G = space(), SO3()
    gen = torch.Generator().manual_seed(3)
    x = torch.cat([points(50, dtype=dtype), special_points(dtype)[None]], 1)
    g = G.sample((1,), generator=gen, dtype=dtype)
    h = sp.compensating_stabilizer(g, x)
    tol = 10 * tolerance(dtype)
    torch.testing.assert_close(h[..., :, 2], EZ.to(dtype).expand_as(h[..., :, 2]), atol=tol, rtol=0)
    torch.testing.assert_close(h[..., 2, :], EZ.to(dtype).expand_as(h[..., 2, :]), atol=tol, rtol=0)
    stab = sp.lift_stabilizer(1, x.shape[1], 3, gen, dtype, coords=x)
    values = torch.zeros(1, x.shape[1], 1, dtype=dtype)
    lifted = sp.lift(x, values, None, 3, stabilizer=stab)
    moved = sp.lift(sp.act(g, x), values, None, 3, stabilizer=G.mul(h.unsqueeze(2), stab))
    torch.testing.assert_close(moved.elements, G.mul(g.unsqueeze(1), lifted.elements), atol=tol, rtol=0)


def test_stabilizer_draws_are_uniform_about_ez():
    h = space().lift_stabilizer(1, 4000, 1, torch.Generator().manual_seed(0), torch.float64)
    theta = torch.atan2(h[..., 1, 0], h[..., 0, 0]).flatten()
    assert stats.kstest(theta.numpy(), stats.uniform(loc=-math.pi, scale=2 * math.pi).cdf).pvalue > 1e-3


def test_pair_invariants_are_invariant_and_the_angle():
    sp = space()
    gen = torch.Generator().manual_seed(5)
    x = torch.cat([points(100, seed=5)[0], special_points(torch.float64)])
    xi, xj = x[:, None].expand(-1, len(x), -1), x[None].expand(len(x), -1, -1)
    inv = sp.pair_invariants(xi, xj)
    R = SO3().sample((), generator=gen, dtype=torch.float64)
    moved = sp.pair_invariants(xi @ R.T, xj @ R.T)
    torch.testing.assert_close(moved, inv, atol=1e-10, rtol=0)
    angle = torch.acos((xi * xj).sum(-1).clamp(-1, 1))  # reference (well-conditioned away from 0, π)
    ok = (angle > 0.01) & (angle < math.pi - 0.01)
    torch.testing.assert_close(torch.atan2(inv[..., 1], inv[..., 0])[ok], angle[ok], atol=1e-10, rtol=0)


def test_pair_invariants_separate_orbits():
    """Coincident, antipodal and perpendicular pairs, and pairs at nearby angles, differ."""
    sp = space()
    e = torch.eye(3, dtype=torch.float64)
    pairs = {"same": (e[2], e[2]), "antipodal": (e[2], -e[2]), "perpendicular": (e[2], e[0]),
             "0.5 rad": (e[2], torch.tensor([math.sin(0.5), 0, math.cos(0.5)], dtype=torch.float64)),
             "0.5001 rad": (e[0], torch.tensor([math.cos(0.5001), math.sin(0.5001), 0], dtype=torch.float64)),
             "3.1 rad": (e[0], torch.tensor([math.cos(3.1), math.sin(3.1), 0], dtype=torch.float64))}
    inv = {k: sp.pair_invariants(a, b) for k, (a, b) in pairs.items()}
    names = list(inv)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert (inv[a] - inv[b]).abs().max() > 5e-5, (a, b)


def test_points_off_the_sphere_are_refused_by_name():
    sp = space()
    x = points(5)
    x[0, 3] *= 1.01
    with pytest.raises(ValueError, match=r"unit sphere.*\(batch 0, point 3\).*‖x‖ = 1\.01"):
        sp.lift(x, torch.zeros(1, 5, 1, dtype=torch.float64), None)
    mask = torch.ones(1, 5, dtype=torch.bool)
    mask[0, 3] = False  # padding may hold anything
    sp.lift(x, torch.zeros(1, 5, 1, dtype=torch.float64), mask)
    y = points(5)
    y[0, 1] *= 1 + 5e-5  # within the tolerance 1e-4
    sp.lift(y, torch.zeros(1, 5, 1, dtype=torch.float64), None)


MODELS = [(LieResNet, dict(k=16, num_layers=1, nbhd=6)), (LieTransformer, dict(dim=16, num_layers=1, nbhd=6))]


@pytest.mark.parametrize("features", ["log", "continuous", "invariants"])
@pytest.mark.parametrize("Net,kw", MODELS, ids=["LieResNet", "LieTransformer"])
def test_models_are_equivariant_on_the_sphere(Net, kw, features, dtype):
    torch.manual_seed(0)
    x = points(12, seed=1, dtype=dtype).expand(2, -1, -1).clone()
    x[1] = x[1].flip(0)
    values = torch.randn(2, 12, 3, dtype=dtype)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, -3:] = False
    net = Net(3, 2, space(), pair_features=features, lift_samples=2, **kw).to(dtype)
    assert_equivariant(net, space(), (x, values, mask))


def test_invariant_features_need_no_compensation():
    """With pair_features="invariants" a model's own random lift of R·x gives the output of x (the
    features and the distance ignore the draws); with "log" it does not (the control)."""
    torch.manual_seed(0)
    sp = space()
    x = points(16, seed=2)
    values = torch.randn(1, 16, 3, dtype=torch.float64)
    R = SO3().sample((), generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    outs = {}
    for features in ("invariants", "log"):
        net = LieTransformer(3, 2, sp, pair_features=features, lift_samples=2, dim=16, num_layers=1, nbhd=6).double()
        run = lambda c: net(c, values, None, generator=torch.Generator().manual_seed(1))  # noqa: E731
        outs[features] = (run(x) - run(x @ R.T)).abs().max().item()
    assert outs["invariants"] < 1e-10
    assert outs["log"] > 1e-4
