"""Properties every group must have (DESIGN §3, §6), checked for all registered groups."""

from __future__ import annotations

import pytest
import torch

from lieformer.groups import GROUPS, group_names, make_group
from lieformer.testing import random_element, transformed_inputs

from .conftest import GROUP_SPECS, build, random_coords, tolerance

B, N, S, K = 3, 7, 2, 4


def test_every_registered_group_is_tested():
    assert sorted({make_group(s).__class__.__name__ for s in GROUP_SPECS}) == group_names()


@pytest.mark.parametrize("spec", GROUP_SPECS)
def test_registry_round_trip(spec):
    group = make_group(spec)
    assert make_group(repr(group)) == group
    assert make_group(group) is group


def test_registry_errors():
    with pytest.raises(ValueError, match="valid groups: .*SE3"):
        make_group("SE4(alpha=0.2)")
    with pytest.raises(ValueError, match="cannot parse"):
        make_group("SE3(alpha=")
    with pytest.raises(ValueError, match="literals"):
        make_group("SE3(alpha=foo)")
    with pytest.raises(ValueError, match="alpha"):
        make_group("SE3(alpha=2.0)")
    with pytest.raises(ValueError, match="SE3"):
        make_group("SE3(beta=1)")
    assert make_group("SE3(alpha=0.3)").alpha == 0.3
    assert set(GROUPS) >= {"T", "SE3", "SQ", "RxSQ"}


@pytest.mark.parametrize("spec", GROUP_SPECS)
def test_shapes_and_inverse(spec, dtype):
    group = build(spec)
    gen = torch.Generator().manual_seed(0)
    g = random_element(group, (5, 2), generator=gen, dtype=dtype)
    assert g.shape == (5, 2, group.rep_dim, group.rep_dim) and g.dtype == dtype
    eye = torch.eye(group.rep_dim, dtype=dtype)
    torch.testing.assert_close(group.mul(g, group.inv(g)), eye.expand_as(g), atol=20 * tolerance(dtype), rtol=0)
    assert group.log(g).shape == (5, 2, group.lie_dim)
    torch.testing.assert_close(group.exp(group.log(g)), g, atol=20 * tolerance(dtype), rtol=20 * tolerance(dtype))


@pytest.mark.parametrize("spec", GROUP_SPECS)
def test_section_and_stabilizer(spec, dtype):
    """s(x)·o_q(x) = x, and stabilizer samples fix o_q."""
    group = build(spec)
    gen = torch.Generator().manual_seed(1)
    x = random_coords(group, (B, N), gen, dtype)
    o = group.origin(group.orbit(x))
    torch.testing.assert_close(group.act(group.section(x), o), x, atol=20 * tolerance(dtype), rtol=20 * tolerance(dtype))
    h = group.sample_stabilizer((B, N), generator=gen, dtype=dtype)
    ho = (h @ _homogeneous(group, o).unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(ho, _homogeneous(group, o), atol=20 * tolerance(dtype), rtol=0)


def _homogeneous(group, x):
    """x in the coordinates the matrices act on: (x, 1) for affine groups, x for linear ones."""
    if group.rep_dim == group.space_dim + 1:
        return torch.cat([x, torch.ones_like(x[..., :1])], -1)
    if group.rep_dim == 1:  # Trivial
        return torch.ones_like(x[..., :1])
    return x


@pytest.mark.parametrize("spec", GROUP_SPECS)
def test_lift_layout(spec, dtype):
    group = build(spec)
    gen = torch.Generator().manual_seed(2)
    x = random_coords(group, (B, N), gen, dtype)
    v = torch.randn(B, N, 3, generator=gen, dtype=dtype)
    mask = torch.ones(B, N, dtype=torch.bool)
    mask[1, -2:] = False
    lifted = group.lift(x, v, mask, S, generator=gen)
    s = group.fixed_lift_samples or S
    assert lifted.elements.shape == (B, N * s, group.rep_dim, group.rep_dim)
    assert lifted.orbits.shape == (B, N * s, group.q_dim)
    valid = lifted.mask
    torch.testing.assert_close(lifted.values[valid], v.repeat_interleave(s, 1)[valid])
    assert (lifted.values[~valid] == 0).all()
    assert torch.equal(lifted.mask, mask.repeat_interleave(s, 1))
    # padding lifts to the identity with zero orbit ids
    pad = ~lifted.mask
    assert torch.equal(lifted.elements[pad], torch.eye(group.rep_dim, dtype=dtype).expand(int(pad.sum()), -1, -1))
    # every lifted element of point n maps the orbit representative onto x_n
    o = _homogeneous(group, group.origin(lifted.orbits))
    ux = (lifted.elements @ o.unsqueeze(-1)).squeeze(-1)
    expected = _homogeneous(group, x.repeat_interleave(s, 1))
    torch.testing.assert_close(ux[lifted.mask], expected[lifted.mask], atol=20 * tolerance(dtype), rtol=20 * tolerance(dtype))


@pytest.mark.parametrize("spec", GROUP_SPECS)
def test_lift_is_exactly_equivariant(spec, dtype):
    """lift(g·x, h_g(x)·h) = g·lift(x, h); pair features and distances unchanged (DESIGN §6)."""
    group = build(spec)
    gen = torch.Generator().manual_seed(3)
    x = random_coords(group, (B, N), gen, dtype)
    v = torch.randn(B, N, 2, generator=gen, dtype=dtype)
    mask = torch.ones(B, N, dtype=torch.bool)
    s = group.fixed_lift_samples or S
    h = group.lift_stabilizer(B, N, s, gen, dtype, None)
    g = random_element(group, (B,), generator=gen, dtype=dtype)
    gx, gh = transformed_inputs(group, g, x, mask, h)
    a = group.lift(x, v, mask, s, stabilizer=h)
    b = group.lift(gx, v, mask, s, stabilizer=gh)
    tol = 20 * tolerance(dtype)  # measured ≤ 0.2 × tolerance(dtype) over 20 seeds, every group
    torch.testing.assert_close(b.elements, group.mul(g.unsqueeze(1), a.elements), atol=tol, rtol=tol)
    torch.testing.assert_close(b.orbits, a.orbits, atol=tol, rtol=tol)
    idx = torch.randint(0, N * s, (B, N * s, K), generator=gen)
    torch.testing.assert_close(group.pair_features(b, idx), group.pair_features(a, idx), atol=tol, rtol=tol)
    da = group.distance(a.elements, a.orbits, a.elements, a.orbits)
    db = group.distance(b.elements, b.orbits, b.elements, b.orbits)
    torch.testing.assert_close(db, da, atol=tol, rtol=tol)
    assert da.shape == (B, N * s, N * s)


@pytest.mark.parametrize("spec", GROUP_SPECS)
def test_pair_features_shape_and_queries(spec):
    group = build(spec)
    gen = torch.Generator().manual_seed(4)
    x = random_coords(group, (B, N), gen)
    lifted = group.lift(x, torch.zeros(B, N, 1, dtype=x.dtype), torch.ones(B, N, dtype=torch.bool), 1, generator=gen)
    L = lifted.mask.shape[1]
    idx = torch.randint(0, L, (B, 3, K), generator=gen)
    query_idx = torch.randint(0, L, (B, 3), generator=gen)
    pf = group.pair_features(lifted, idx, query_idx)
    assert pf.shape == (B, 3, K, group.pair_dim)
    # a query paired with itself has zero relative log and equal orbit ids
    self_pf = group.pair_features(lifted, query_idx.unsqueeze(-1), query_idx)
    if spec.startswith("Trivial"):
        torch.testing.assert_close(self_pf[..., : group.space_dim], self_pf[..., group.space_dim :])
    else:
        lie = self_pf[..., : group.lie_dim] if group.pair_dim == group.lie_dim + 2 * group.q_dim else self_pf
        torch.testing.assert_close(lie, torch.zeros_like(lie), atol=1e-9, rtol=0)
    assert torch.isfinite(pf).all()


@pytest.mark.parametrize("spec", GROUP_SPECS)
def test_distance_is_symmetric_and_zero_on_diagonal(spec):
    group = build(spec)
    gen = torch.Generator().manual_seed(5)
    x = random_coords(group, (B, N), gen)
    lifted = group.lift(x, torch.zeros(B, N, 1, dtype=x.dtype), torch.ones(B, N, dtype=torch.bool), 2, generator=gen)
    d = group.distance(lifted.elements, lifted.orbits, lifted.elements, lifted.orbits)
    torch.testing.assert_close(d, d.transpose(1, 2), atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(torch.diagonal(d, dim1=1, dim2=2), torch.zeros(B, d.shape[1], dtype=d.dtype), atol=1e-6, rtol=0)
    assert (d >= 0).all()


@pytest.mark.parametrize("spec", GROUP_SPECS)
def test_bad_input_errors(spec):
    group = build(spec)
    gen = torch.Generator().manual_seed(6)
    x = random_coords(group, (2, 5), gen)
    v = torch.zeros(2, 5, 1, dtype=x.dtype)
    m = torch.ones(2, 5, dtype=torch.bool)
    wrong_d = torch.ones(2, 5, group.space_dim + 1, dtype=x.dtype)
    with pytest.raises(ValueError, match=rf"{group.space_dim}-dimensional"):
        group.lift(wrong_d, v, m, 1)
    bad = x.clone()
    bad[1, 3, 0] = float("nan")
    with pytest.raises(ValueError, match=r"NaN or inf .*batch 1, point 3"):
        group.lift(bad, v, m, 1)
    bad[1, 3, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN or inf"):
        group.lift(bad, v, m, 1)
    bad_values = v.clone()
    bad_values[0, 2, 0] = float("nan")
    with pytest.raises(ValueError, match=r"values contain NaN or inf .*batch 0, point 2"):
        group.lift(x, bad_values, m, 1)
    # NaN on a padding point is allowed and does not leak
    m_pad = m.clone()
    m_pad[1, 3] = False
    lifted = group.lift(bad, v, m_pad, 1)
    assert torch.isfinite(lifted.elements).all()
    with pytest.raises(ValueError, match="mask must have shape"):
        group.lift(x, v, m[:, :4], 1)
    with pytest.raises(ValueError, match="bool"):
        group.lift(x, v, m.float(), 1)
    with pytest.raises(ValueError, match="values must have shape"):
        group.lift(x, v[:, :4], m, 1)
    with pytest.raises(ValueError, match="coords must be a"):
        group.lift(x[0], v, m, 1)
    if group.fixed_lift_samples is None:
        with pytest.raises(ValueError, match="n_samples"):
            group.lift(x, v, m, 0)
        with pytest.raises(ValueError, match="stabilizer must have shape"):
            group.lift(x, v, m, 2, stabilizer=group.sample_stabilizer((2, 5, 1)))
