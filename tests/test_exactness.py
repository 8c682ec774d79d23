"""Exactness at the edges (DESIGN §6): symmetric, collinear and degenerate inputs, points at the
origin or the centroid, padding under random lifts, inputs far from the origin or of another
dtype. Each case reproduces a failure that a plain random input never shows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from lieformer import LieResNet, LieTransformer, make_group
from lieformer.groups import SE2, SO2, SE2Canonical
from lieformer.spaces.frames import FRAME_TOLERANCE
from lieformer.groups.so3 import so3_log
from lieformer.spaces import EuclideanSpace, SO2Space
from lieformer.testing import RTOL, assert_equivariant

from .conftest import random_coords


def resnet(group, **kw):
    return LieResNet(3, 4, group, **{"k": 16, "num_layers": 2, "nbhd": 6, "fill": 0.5, "total_ds": 0.7, **kw})


def transformer(group, **kw):
    return LieTransformer(3, 4, group, **{"dim": 16, "num_layers": 2, "heads": 2, "nbhd": 8, "kernel_dim": 8, **kw})


BUILDERS = pytest.mark.parametrize("builder", [resnet, transformer], ids=["LieResNet", "LieTransformer"])


def regular_polygon(n: int, radius: float = 0.7) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    return radius * torch.stack([torch.cos(k), torch.sin(k)], -1)


def with_point_at_centroid(x: torch.Tensor) -> torch.Tensor:
    """x with its first point moved to the centroid of the set (so it is the set's centroid)."""
    x = x.clone()
    x[0] = x[1:].mean(0)
    return x


GEN = torch.Generator().manual_seed(11)
LINE_3D = torch.tensor([0.4, -0.2, 0.9], dtype=torch.float64) + torch.tensor([1.0, 0.5, -0.3], dtype=torch.float64) * \
    torch.tensor([-1.3, -0.7, 0.1, 0.45, 1.6], dtype=torch.float64).unsqueeze(-1)
DEGENERATE_SETS = {
    # SE2: the sets the issue found broken (the log's jump at π, frames at the centroid)
    "SE2-square": ("SE2", regular_polygon(4) + torch.tensor([0.3, -0.4], dtype=torch.float64)),
    "SE2-hexagon": ("SE2", regular_polygon(6)),
    "SE2-collinear": ("SE2", torch.tensor([[-1.5, 0.2], [-0.4, 0.2], [0.1, 0.2], [1.7, 0.2], [2.2, 0.2]], dtype=torch.float64)),
    "SE2-collinear-symmetric": ("SE2", torch.tensor([[-1.5, 0.2], [-0.5, 0.2], [0.5, 0.2], [1.5, 0.2]], dtype=torch.float64)),
    "SE2-point-at-centroid": ("SE2", with_point_at_centroid(torch.randn(7, 2, generator=GEN, dtype=torch.float64))),
    # SO3 (rotations about the origin): a line off the origin, symmetric points, a centred set
    "SO3-collinear": ("SO3", LINE_3D),
    "SO3-collinear-symmetric": ("SO3", torch.tensor([0.2, 0.5, 0.8], dtype=torch.float64)
                                + torch.tensor([[-1.5], [-0.5], [0.5], [1.5]], dtype=torch.float64) * torch.tensor([0.6, -0.8, 0.0], dtype=torch.float64)),
    # symmetric about its middle point, which is the centroid but not the line's closest point to
    # the origin: only the second moment seen from the origin (S₂x) gives that point a frame
    "SO3-collinear-symmetric-odd": ("SO3", torch.tensor([0.2, 0.5, 0.8], dtype=torch.float64)
                                    + torch.tensor([[-1.5], [-0.7], [0.0], [0.7], [1.5]], dtype=torch.float64) * torch.tensor([0.6, -0.8, 0.0], dtype=torch.float64)),
    "SO3-point-at-centroid": ("SO3", with_point_at_centroid(torch.randn(7, 3, generator=GEN, dtype=torch.float64) + 0.5)),
    "SO3-centred": ("SO3", (lambda x: x - x.mean(0))(torch.randn(7, 3, generator=GEN, dtype=torch.float64))),
    # SO2: a point at the origin (its frame comes from the set)
    "SO2-point-at-origin": ("SO2", torch.cat([torch.zeros(1, 2, dtype=torch.float64),
                                              torch.randn(5, 2, generator=GEN, dtype=torch.float64)])),
}


def outputs_under_motions(model, group, x, v, dtype, n_motions=8):
    """(model(x), [model(g·x) for n random g]) with the same generator seed and module state
    (training mode moves adaptive radii and BatchNorm statistics), no stabilizer."""
    x, v = x.to(dtype)[None], v.to(dtype)
    state = {k: t.clone() for k, t in model.state_dict().items()}

    def run(coords):
        model.load_state_dict(state)
        return model(coords, v, None, generator=torch.Generator().manual_seed(0))
    gs = group.sample((n_motions, 1), generator=torch.Generator().manual_seed(5), dtype=dtype)
    return run(x), [run(group.act(g, x)) for g in gs]


def assert_invariant_outputs(out, moved, dtype, what):
    scale = max(out.abs().max().item(), 1.0)
    worst = max((o - out).abs().max().item() for o in moved)
    assert worst <= RTOL[dtype] * scale, f"{what}: max |Δ| = {worst:.2e} over {len(moved)} motions"


@BUILDERS
@pytest.mark.parametrize("case", list(DEGENERATE_SETS))
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_centroid_frames_are_exactly_invariant_on_degenerate_sets(builder, case, train, dtype):
    """lift_frame="centroid": model(g·x) = model(x) with no compensation, at 1e-5 (float32) /
    1e-10 (float64) relative, on sets where opposite points have frames exactly π apart (the log
    jumps there: continuous pair features), with a point at the centroid (a secondary frame
    vector), on collinear sets, on a centred set for SO3 (x̄ = 0 gives no centroid direction)."""
    spec, x = DEGENERATE_SETS[case]
    group = make_group(spec)
    torch.manual_seed(3)
    model = builder(group, lift_samples=2, lift_frame="centroid").to(dtype).train(train)
    v = torch.randn(1, len(x), 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out, moved = outputs_under_motions(model, group, x, v, dtype)
    assert_invariant_outputs(out, moved, dtype, case)


@pytest.mark.parametrize("case", ["SE2-square", "SE2-collinear-symmetric", "SO3-collinear"])
def test_log_pair_features_do_jump_on_symmetric_sets(case):
    """The reason for continuous pair features: with the papers' log features the same frames
    give outputs that change under motions (rounding picks θ = +π or −π)."""
    spec, x = DEGENERATE_SETS[case]
    group = make_group(spec)
    torch.manual_seed(3)
    model = transformer(group, lift_frame="centroid", pair_features="log").double().eval()
    v = torch.randn(1, len(x), 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out, moved = outputs_under_motions(model, group, x, v, torch.float64, n_motions=16)
    assert max((o - out).abs().max().item() for o in moved) > 1e-4


@pytest.mark.parametrize("spec,x,point", [
    ("SE2", torch.cat([regular_polygon(4), torch.zeros(1, 2, dtype=torch.float64)]) + 0.3, 4),
    ("SE2", torch.tensor([[-1.0, 0.0], [0.0, 0.0], [1.0, 0.0]], dtype=torch.float64), 1),
    ("SO3", torch.cat([regular_polygon(4), torch.zeros(4, 1, dtype=torch.float64)], -1), 0),
], ids=["SE2-square-and-centre", "SE2-collinear-middle", "SO3-square-about-the-origin"])
def test_centroid_frames_refuse_points_a_symmetry_fixes(spec, x, point):
    """A point fixed by a rotation symmetry of its set (the centre of a square; the middle of a
    symmetric line; under SO3, the corners of a square centred on the origin, each fixed by the
    half-turn about its own axis) has no equivariant frame: refused with the point named."""
    model = transformer(spec, lift_frame="centroid").double()
    with pytest.raises(ValueError, match=rf"point {point} of set 0 has no stable equivariant frame"):
        model(x[None], torch.randn(1, len(x), 3, dtype=torch.float64), None)
    model_random = transformer(spec).double()  # the random lift takes them
    assert torch.isfinite(model_random(x[None], torch.randn(1, len(x), 3, dtype=torch.float64), None)).all()


def test_centroid_frames_refuse_only_below_the_tolerance():
    """The centre point of a square, moved off the centre: its frame vector is ≈ 3 × the offset,
    accepted (and exact) above FRAME_TOLERANCE × the RMS radius, refused below it."""
    base = torch.cat([regular_polygon(4), torch.zeros(1, 2, dtype=torch.float64)])
    rms = base.sub(base.mean(0)).square().sum(-1).mean().sqrt().item()
    model = transformer("SE2", lift_frame="centroid").eval()
    v = torch.randn(1, 5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for factor, accepted in ((0.2, False), (0.5, True)):
        x = base.clone()
        x[4] = torch.tensor([0.6, 0.8], dtype=torch.float64) * factor * FRAME_TOLERANCE * rms
        if accepted:
            out, moved = outputs_under_motions(model, make_group("SE2"), x, v, torch.float32)
            assert_invariant_outputs(out, moved, torch.float32, f"offset {factor}")
        else:
            with pytest.raises(ValueError, match="no stable equivariant frame"):
                model(x[None].float(), v.float(), None)


@pytest.mark.parametrize("spec", ["SE2", "SO3"])
def test_centroid_frames_accept_sets_whose_points_coincide(spec):
    """All points at one place: no frame exists, and none is needed (every relative element is
    the same for any common frame)."""
    group = make_group(spec)
    model = transformer(group, lift_samples=2, lift_frame="centroid").double().eval()
    x = torch.full((4, group.space_dim), 0.7, dtype=torch.float64)
    v = torch.randn(1, 4, 3, dtype=torch.float64)
    out, moved = outputs_under_motions(model, group, x, v, torch.float64)
    assert_invariant_outputs(out, moved, torch.float64, "coincident points")


@BUILDERS
@pytest.mark.parametrize("spec", ["SE2", "SO3"])
def test_centroid_frame_gradients_are_bounded_and_continuous_at_the_centroid(builder, spec):
    """A point at (or within 1e-9 of) the centroid: finite gradients of the size a generic set
    has (the plain direction to the centroid gave ~1e5), and outputs that move continuously."""
    group = make_group(spec)
    torch.manual_seed(0)
    model = builder(group, lift_frame="centroid").double().eval()
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(1, 9, group.space_dim, generator=gen, dtype=torch.float64) + 0.5
    v = torch.randn(1, 9, 3, generator=gen, dtype=torch.float64)

    def run(coords):
        coords = coords.clone().requires_grad_()
        out = model(coords, v, None, generator=torch.Generator().manual_seed(0))
        out.sum().backward()
        return out.detach(), coords.grad.abs().max().item()

    _, generic = run(x)
    at = x.clone()
    at[0, 0] = at[0, 1:].mean(0)
    out_at, grad_at = run(at)
    near = at.clone()
    near[0, 0] += 1e-9
    out_near, grad_near = run(near)
    assert math.isfinite(grad_at) and grad_at < 10 * generic and grad_near < 10 * generic
    assert (out_near - out_at).abs().max() < 1e-7


# ------------------------------------------------------------------------- continuous pair features
ROTATION_GROUPS = ["SO2", "RxSO2", "SE2", "SO3", "SE3"]


def rotation_by(group, angle: float, dtype=torch.float64) -> torch.Tensor:
    """exp of a rotation by `angle` about a fixed axis (plus a translation / scaling part)."""
    a = torch.zeros(group.lie_dim, dtype=dtype)
    name = type(group).__name__
    if name in ("SO2", "SE2"):
        a[0] = angle
    elif name == "RxSO2":
        a[:] = torch.tensor([0.3, angle])
    else:  # SO3, SE3: about (1, 2, 2)/3
        a[:3] = angle * torch.tensor([1.0, 2.0, 2.0], dtype=dtype) / 3
    g = group.exp(a)
    if name in ("SE2", "SE3"):  # the same translation on both sides of the cut
        g[..., :-1, -1] = torch.tensor([0.4, -0.7, 0.2][: g.shape[-1] - 1], dtype=dtype)
    return g


@pytest.mark.parametrize("spec", ROTATION_GROUPS)
def test_embed_is_continuous_where_the_log_jumps(spec):
    """At a rotation by π the log jumps (θ = +π or −π, ω or −ω); embed does not."""
    group = make_group(spec)
    just_below, just_above = rotation_by(group, math.pi - 1e-7), rotation_by(group, -math.pi + 1e-7)
    assert (group.log(just_below) - group.log(just_above)).abs().max() > 1.0
    assert (group.embed(just_below) - group.embed(just_above)).abs().max() < 1e-6


@pytest.mark.parametrize("spec", ROTATION_GROUPS)
def test_embed_is_the_log_to_first_order_and_injective(spec):
    """embed(exp(εa))[:lie_dim] = εa + O(ε²) and the rest is O(ε²); distinct random elements get
    distinct embeddings (embed is a linear image of the matrix, checked by least squares)."""
    group = make_group(spec)
    gen = torch.Generator().manual_seed(2)
    a = torch.randn(20, group.lie_dim, generator=gen, dtype=torch.float64)
    for eps in (1e-3, 1e-4):
        e = group.embed(group.exp(eps * a))
        assert (e[:, : group.lie_dim] - eps * a).abs().max() < 10 * eps**2
        assert e[:, group.lie_dim:].abs().max() < 10 * eps**2
    g = group.sample((200,), generator=gen, dtype=torch.float64)
    matrices = g.flatten(1)
    embedded = torch.cat([group.embed(g), torch.ones(200, 1, dtype=torch.float64)], -1)
    if spec == "RxSO2":  # r·R(θ): the matrix is exp(log r)·(cos θ, sin θ): recover the unit part
        matrices = (g / g[:, :1, :1].hypot(g[:, 1:2, :1])).flatten(1)
    solution = torch.linalg.lstsq(embedded, matrices).solution
    torch.testing.assert_close(embedded @ solution, matrices, atol=1e-10, rtol=0)


@pytest.mark.parametrize("spec", ["SO2", "SE2", "SO3", "SE3", "T(2)", "SE2Canonical(4)"])
def test_pair_feature_widths(spec):
    group = make_group(spec)
    lifted = group.lift(random_coords(group, (1, 5), torch.Generator().manual_seed(0)), torch.zeros(1, 5, 1),
                        torch.ones(1, 5, dtype=torch.bool), 1)
    idx = torch.zeros(1, 5, 2, dtype=torch.long)
    for kind in ("log", "continuous"):
        assert group.pair_features(lifted, idx, features=kind).shape[-1] == group.pair_dim_of(kind)
    with pytest.raises(ValueError, match="unknown pair features"):
        group.pair_features(lifted, idx, features="quaternion")


# ------------------------------------------------------------------------- stabilizers and the origin
@BUILDERS
@pytest.mark.parametrize("spec", ["SO2", "SO3"])
def test_random_lift_is_equivariant_with_a_point_at_the_origin(builder, spec, dtype):
    """At the origin the stabilizer is the whole group: the lift draws from it, so the
    compensating element h_g(0) = g is a legal draw and the model is exactly equivariant."""
    group = make_group(spec)
    torch.manual_seed(4)
    x = random_coords(group, (2, 8), torch.Generator().manual_seed(2), dtype)
    x[:, 3] = 0
    v = torch.randn(2, 8, 3, dtype=dtype)
    model = builder(group, lift_samples=2).to(dtype).eval()
    assert_equivariant(model, group, (x, v, torch.ones(2, 8, dtype=torch.bool)), rtol=RTOL[dtype])


@pytest.mark.parametrize("spec", ["SO2", "SO3"])
def test_origin_draws_are_haar_on_the_whole_group(spec):
    """SO2 at 0: uniform angles (KS); SO3 at 0: Haar rotation angles, P(θ ≤ t) = (t − sin t)/π
    (KS); elsewhere the usual stabilizer (the identity, rotations about e₃)."""
    group = make_group(spec)
    coords = torch.zeros(1, 4000, group.space_dim, dtype=torch.float64)
    coords[0, 1::2, -1] = 1.0  # every other point off the origin
    h = group.lift_stabilizer(1, 4000, 1, torch.Generator().manual_seed(0), torch.float64, None, coords=coords)[0, :, 0]
    at_origin, elsewhere = h[0::2], h[1::2]
    if spec == "SO2":
        angles = torch.atan2(at_origin[:, 1, 0], at_origin[:, 0, 0]).numpy()
        assert stats.kstest(angles, stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue > 1e-3
        torch.testing.assert_close(elsewhere, torch.eye(2, dtype=torch.float64).expand_as(elsewhere))
    else:
        theta = so3_log(at_origin).norm(dim=-1).numpy()
        assert stats.kstest(theta, lambda t: (t - np.sin(t)) / np.pi).pvalue > 1e-3
        torch.testing.assert_close(elsewhere[:, :, 2], torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(2000, 3))


@pytest.mark.parametrize("spec", ["SE2", "SO3", "SE3", "SO2"])
def test_lift_draws_are_keyed_to_the_point(spec):
    """Stabilizer draws depend on (seed, set, point, sample) only: more points (padding) leave the
    draws of the first ones unchanged; another seed changes them; SE2/SE3 draws are Haar."""
    group = make_group(spec)
    coords = torch.zeros(2, 300, group.space_dim, dtype=torch.float64)  # SO2: every point at the origin
    def draws(N, seed):
        return group.lift_stabilizer(2, N, 2, torch.Generator().manual_seed(seed), torch.float64, None, coords=coords[:, :N])

    few, many = draws(40, 0), draws(300, 0)
    torch.testing.assert_close(many[:, :40], few, atol=0, rtol=0)
    assert (draws(40, 1) - few).abs().max() > 0.1
    if spec == "SE2":
        angles = torch.atan2(many[..., 1, 0], many[..., 0, 0]).flatten().numpy()
        assert stats.kstest(angles, stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue > 1e-3
    if spec == "SE3":
        theta = so3_log(many[..., :3, :3]).norm(dim=-1).flatten().numpy()
        assert stats.kstest(theta, lambda t: (t - np.sin(t)) / np.pi).pvalue > 1e-3


@BUILDERS
@pytest.mark.parametrize("spec", ["SE2", "SO3", "SE3"])
def test_padding_changes_nothing_under_random_lifts(builder, spec):
    """The same generator seed, random lifts, no stabilizer passed: appending padding points
    changes no output (the draws used to shift with the number of points)."""
    group = make_group(spec)
    torch.manual_seed(6)
    model = builder(group, lift_samples=2).double().eval()
    gen = torch.Generator().manual_seed(1)
    x = random_coords(group, (2, 9), gen)
    v = torch.randn(2, 9, 3, generator=gen, dtype=torch.float64)
    out = model(x, v, None, generator=torch.Generator().manual_seed(0))
    xp = torch.cat([x, 5 * torch.randn(2, 6, group.space_dim, generator=gen, dtype=torch.float64)], 1)
    vp = torch.cat([v, torch.randn(2, 6, 3, generator=gen, dtype=torch.float64)], 1)
    mask = torch.cat([torch.ones(2, 9, dtype=torch.bool), torch.zeros(2, 6, dtype=torch.bool)], 1)
    out_padded = model(xp, vp, mask, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out_padded, out, atol=1e-12, rtol=1e-10)


# ------------------------------------------------------------------------- assert_equivariant's own check
def test_assert_equivariant_refuses_a_compensation_outside_the_lift_stabilizer():
    """SE2Canonical(4) lifts onto the grid C_4: a 30° rotation is in SE(2) but its compensating
    element is off the grid, so the check would prove nothing — it says so."""
    group = SE2Canonical(4)
    model = transformer(group).double()
    x, v = torch.randn(1, 6, 2, dtype=torch.float64), torch.randn(1, 6, 3, dtype=torch.float64)
    g = SE2().exp(torch.tensor([math.pi / 6, 0.2, 0.1], dtype=torch.float64))
    with pytest.raises(AssertionError, match="not in the stabilizer the lift draws from"):
        assert_equivariant(model, group, (x, v, torch.ones(1, 6, dtype=torch.bool)), g=g)
    quarter = SE2().exp(torch.tensor([math.pi / 2, 0.2, 0.1], dtype=torch.float64))
    assert_equivariant(model, group, (x, v, torch.ones(1, 6, dtype=torch.bool)), g=quarter)


class SkewedSO2Space(SO2Space):
    """A broken space: its section turns by twice the point's angle, so s(x)·o_q ≠ x."""

    def section(self, coords):
        return super().section(coords) @ super().section(coords)


def test_assert_equivariant_refuses_a_broken_section():
    group = SkewedSO2Space(SO2())
    model = transformer(group).double()
    x, v = torch.randn(1, 6, 2, dtype=torch.float64), torch.randn(1, 6, 3, dtype=torch.float64)
    with pytest.raises(AssertionError, match="section and action disagree"):
        assert_equivariant(model, group, (x, v, torch.ones(1, 6, dtype=torch.bool)))


def test_assert_equivariant_exercises_the_frames_of_a_frame_model():
    """With lift_frame="centroid" assert_equivariant passes no stabilizer (the frames must do the
    work): a frame that ignores the set's rotation is caught."""
    class FixedFrameSE2(EuclideanSpace):
        def frame_stabilizer(self, coords, mask, n_samples):
            return self.group.identity((*coords.shape[:2], n_samples), coords.dtype)

    group = FixedFrameSE2(SE2())
    model = transformer(group, lift_frame="centroid").double()
    x, v = torch.randn(1, 6, 2, dtype=torch.float64), torch.randn(1, 6, 3, dtype=torch.float64)
    with pytest.raises(AssertionError, match="exceeds"):
        assert_equivariant(model, group, (x, v, torch.ones(1, 6, dtype=torch.bool)))
    assert_equivariant(transformer(SE2(), lift_frame="centroid").double(), SE2(), (x, v, torch.ones(1, 6, dtype=torch.bool)))


# ------------------------------------------------------------------------- dtypes and far-away sets
@BUILDERS
def test_inputs_are_cast_to_the_model_dtype(builder):
    """float64 or integer inputs to a float32 model give the float32 model's result; complex
    inputs are refused with a library message."""
    torch.manual_seed(0)
    model = builder("SE2").eval()
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(-3, 4, (2, 8, 2), generator=gen)
    v = torch.randint(0, 5, (2, 8, 3), generator=gen)
    expected = model(x.float(), v.float(), None, generator=torch.Generator().manual_seed(0))
    for xi, vi in ((x, v), (x.double(), v.double()), (x.double(), v)):
        torch.testing.assert_close(model(xi, vi, None, generator=torch.Generator().manual_seed(0)), expected)
    with pytest.raises(ValueError, match="coords must be real"):
        model(x.to(torch.complex64), v, None)


@BUILDERS
@pytest.mark.parametrize("spec,offset", [("T(2)", (2.0**19, -(2.0**18))), ("SE2", (2.0**19, 2.0**19)),
                                         ("SE3", (2.0**19, 3.0, -(2.0**18))), ("Tx", (2.0**19, 0.0))])
def test_groups_with_translations_stay_exact_in_float32_far_from_the_origin(builder, spec, offset):
    """A set moved by ~1e6 (coordinates exactly representable in float32): the same outputs to
    float32 tolerance, because the input is centred before the lift (uncentred, u_i⁻¹u_j of
    translations near 1e6 rounds to ~0.06)."""
    group = make_group(spec)
    torch.manual_seed(1)
    model = builder(group, lift_samples=2).eval()
    gen = torch.Generator().manual_seed(2)
    x = torch.randint(-48, 48, (2, 10, group.space_dim), generator=gen).float() / 16
    v = torch.randn(2, 10, 3, generator=gen)
    out = model(x, v, None, generator=torch.Generator().manual_seed(0))
    far = x + torch.tensor(offset)
    assert (far - torch.tensor(offset) == x).all()  # exactly representable
    out_far = model(far, v, None, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out_far, out, atol=RTOL[torch.float32] * max(1.0, out.abs().max().item()), rtol=0)


def test_centre_moves_only_translation_axes():
    x = torch.randn(2, 5, 2, dtype=torch.float64) + 3
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    x = torch.where(mask.unsqueeze(-1), x, 0.0)
    for spec, axes in (("SE2", [0, 1]), ("Tx", [0]), ("Ty", [1]), ("SO2", []), ("RxSO2", [])):
        centred = make_group(spec).centre(x, mask)
        mean = (centred * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        for axis in range(2):
            if axis in axes:
                torch.testing.assert_close(mean[:, axis], torch.zeros(2, dtype=torch.float64), atol=1e-14, rtol=0)
            else:
                torch.testing.assert_close(centred[..., axis], x[..., axis], atol=0, rtol=0)
        assert (centred[~mask] == 0).all()


def test_models_refuse_the_origin_for_rxso2():
    model = transformer("RxSO2")
    x = torch.randn(1, 5, 2)
    x[0, 2] = 0
    with pytest.raises(ValueError, match=r"R² \\ \{0\}.*\(batch 0, point 2\)"):
        model(x, torch.randn(1, 5, 3), None)
