"""The native (C++) farthest-point loop against the PyTorch loop it replaces: the same indices,
step for step, on random sets, padding, grids with exact ties, SE2 lifts (the planar angle
form of their distance), and the fallbacks."""

from __future__ import annotations

import math
import shutil
import warnings

import pytest
import torch

from lieformer import make_group
from lieformer.groups.base import euclidean_distance
from lieformer.nn import native, subsampling
from lieformer.nn.native.fps import fps_library
from lieformer.nn.subsampling import farthest_point_subsample

HAVE_TOOLCHAIN = shutil.which("c++") is not None and shutil.which("ninja") is not None


@pytest.fixture
def native_calls(monkeypatch):
    """Counts the calls in which the C++ kernel ran (not the calls that fell back to the loop)."""
    if not HAVE_TOOLCHAIN:
        pytest.skip("no C++ compiler / ninja: the native kernel cannot be built here")
    monkeypatch.setenv("LIEFORMER_NATIVE", "1")
    assert fps_library() is not None, "the native FPS kernel failed to build"
    ran = []
    original = subsampling._native_greedy
    monkeypatch.setattr(subsampling, "_native_greedy", lambda *a: (lambda r: ran.append(r is not None) or r)(original(*a)))
    return ran


def both_paths(monkeypatch, group, lifted, fraction, seed=0, **kwargs):
    native_out = farthest_point_subsample(group, lifted, fraction, torch.Generator().manual_seed(seed), **kwargs)
    monkeypatch.setenv("LIEFORMER_NATIVE", "0")
    loop_out = farthest_point_subsample(group, lifted, fraction, torch.Generator().manual_seed(seed), **kwargs)
    monkeypatch.setenv("LIEFORMER_NATIVE", "1")
    return native_out, loop_out


@pytest.mark.parametrize("spec,d", [("T(2)", 2), ("T(3)", 3), ("Trivial(2)", 2)])
def test_native_fps_equals_the_loop_with_padding(spec, d, dtype, native_calls, monkeypatch):
    """Random sets with padding of every kind: a full row with exact duplicates (chosen points
    must not be chosen again before their copies), a partly padded one (padding in the middle,
    far away: it must not set the rounding scale), an empty one, one with a single valid point;
    several fractions and seeds."""
    group = make_group(spec)
    gen = torch.Generator().manual_seed(11)
    B, N = 5, 90
    x = 3 * torch.randn(B, N, d, generator=gen, dtype=dtype)
    x[0, 60:] = x[0, :30]
    x[1, 30:55] *= 100
    mask = torch.ones(B, N, dtype=torch.bool)
    mask[1, 30:55] = False
    mask[2] = False
    mask[3, 1:] = False
    mask[4, ::3] = False
    # padding keeps its coordinates (as in a subsampled set), not the zeros lift() gives it
    lifted = group.lift(x, torch.zeros(B, N, 1, dtype=dtype), torch.ones(B, N, dtype=torch.bool), 1)._replace(mask=mask)
    for fraction, seed in [(0.5, 0), (0.9, 1), (1.0, 2), (0.1, 3)]:
        (idx_n, slot_n), (idx_l, slot_l) = both_paths(monkeypatch, group, lifted, fraction, seed)
        assert torch.equal(slot_n, slot_l)
        assert torch.equal(idx_n, idx_l), (fraction, seed)
    if not (spec == "T(3)" and dtype == torch.float64):  # there torch's cdist rounds differently: loop
        assert native_calls and all(native_calls)


@pytest.mark.parametrize("angle", [0.0, math.pi / 2, 0.7])
def test_native_fps_equals_the_loop_on_grids_with_exact_ties(angle, dtype, native_calls, monkeypatch):
    """The RotMNIST pixel grid (648 points in a disc): many exactly equal distances, broken by
    the rounding and the counter-based noise; rotated grids too. Also with no rounding at all."""
    t = torch.linspace(-14, 14, 28, dtype=dtype)
    grid = torch.stack(torch.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
    grid = grid[grid.norm(dim=-1) < 15]
    R = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], dtype=dtype)
    x = torch.stack([grid, grid @ R.T + 0.5]).contiguous()
    group = make_group("T(2)")
    lifted = group.lift(x, torch.zeros(*x.shape[:2], 1, dtype=dtype), torch.ones(x.shape[:2], dtype=torch.bool), 1)
    for tolerance in (1e-5, 1e-300):
        (idx_n, _), (idx_l, _) = both_paths(monkeypatch, group, lifted, 0.68, tie_tolerance=tolerance)
        assert torch.equal(idx_n, idx_l), tolerance
    assert all(native_calls)


@pytest.mark.parametrize("spec", ["T(2)", "T(3)", "Trivial(2)", "Trivial(3)", "SE2", "SE3", "SE2Canonical(4)", "SO2", "Tx"])
def test_distance_is_position_norm_is_declared_only_where_exact(spec, dtype):
    """The native path runs only for spaces declaring distance = ‖positions_a − positions_b‖:
    that must hold bit for bit where declared (and SE2's lifts, with their angle term, not)."""
    group = make_group(spec)
    space = group.space if hasattr(group, "space") else group
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(2, 40, space.space_dim, generator=gen, dtype=dtype) + 0.5
    lifted = space.lift(x, torch.zeros(2, 40, 1, dtype=dtype), torch.ones(2, 40, dtype=torch.bool), 2, generator=gen)
    d = space.distance(lifted.elements, lifted.orbits, lifted.elements, lifted.orbits)
    positions = space.positions(lifted.elements, lifted.orbits)
    if space.distance_is_position_norm:
        assert torch.equal(d, euclidean_distance(positions, positions))
    else:
        assert spec not in ("T(2)", "T(3)", "Trivial(2)", "Trivial(3)")
        if positions is not None and spec in ("SE2", "SE3"):
            assert not torch.allclose(d, euclidean_distance(positions, positions))


@pytest.mark.parametrize("spec", ["SE2", "SE2(alpha=0.7)", "SE3", "SE2Canonical(4)", "SO2", "T(2)", "Rx"])
def test_planar_angles_give_the_spaces_distance(spec, dtype):
    """planar_angles() is declared where the distance is α·|θ_b − θ_a|₂π + (1−α)‖p_a − p_b‖ (SE2
    at any α) and that form is then the space's distance (to rounding); elsewhere None."""
    group = make_group(spec)
    space = group.space if hasattr(group, "space") else group
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(2, 30, space.space_dim, generator=gen, dtype=dtype) + 0.5
    lifted = space.lift(x, torch.zeros(2, 30, 1, dtype=dtype), torch.ones(2, 30, dtype=torch.bool), 3, generator=gen)
    angles = space.planar_angles(lifted.elements)
    if not spec.startswith("SE2("):
        assert (angles is not None) == (spec == "SE2")
    if angles is None:
        return
    assert angles.dtype == torch.float64
    positions = space.positions(lifted.elements, lifted.orbits)
    rows = torch.arange(2)
    for a in (0, 7, 40):
        row = subsampling._planar_row(positions, angles, space.alpha, rows, torch.tensor([a, a]))
        d = space.distance(lifted.elements[:, a : a + 1], lifted.orbits[:, a : a + 1], lifted.elements, lifted.orbits)
        tol = dict(atol=1e-12, rtol=1e-12) if dtype == torch.float64 else dict(atol=2e-6, rtol=2e-6)
        torch.testing.assert_close(row, d[:, 0].double(), **tol)


@pytest.mark.parametrize("lift_samples,alpha", [(1, 0.2), (2, 0.2), (3, 0.9)])
def test_native_fps_equals_the_loop_on_se2_lifts(lift_samples, alpha, dtype, native_calls, monkeypatch):
    """SE2 lifts (distance with an angle term) run the kernel with the loop's choices: random sets
    with padding, and the RotMNIST grid (exact ties in the positions; several lifts of one pixel
    share it); float32 positions too (the angle term is float64 in both)."""
    group = make_group(f"SE2(alpha={alpha})")
    gen = torch.Generator().manual_seed(lift_samples)
    x = 3 * torch.randn(3, 70, 2, generator=gen, dtype=dtype)
    mask = torch.ones(3, 70, dtype=torch.bool)
    mask[1, 50:] = False
    t = torch.linspace(-14, 14, 28, dtype=dtype)
    grid = torch.stack(torch.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
    grid = grid[grid.norm(dim=-1) < 15][None]
    for points, valid in ((x, mask), (grid, torch.ones(grid.shape[:2], dtype=torch.bool))):
        lifted = group.lift(points, torch.zeros(*points.shape[:2], 1, dtype=dtype), valid, lift_samples,
                            torch.Generator().manual_seed(5))
        for fraction, seed in [(0.68, 0), (0.3, 1)]:
            (idx_n, slot_n), (idx_l, slot_l) = both_paths(monkeypatch, group, lifted, fraction, seed)
            assert torch.equal(slot_n, slot_l) and torch.equal(idx_n, idx_l), (fraction, seed)
    assert native_calls and all(native_calls)


def test_failed_build_warns_once_and_falls_back(monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("no compiler here")

    monkeypatch.setenv("LIEFORMER_NATIVE", "1")
    monkeypatch.setattr(native, "_libraries", {})
    monkeypatch.setattr("torch.utils.cpp_extension.load", broken)
    group = make_group("T(2)")
    x = torch.randn(2, 60, 2, generator=torch.Generator().manual_seed(0))
    lifted = group.lift(x, torch.zeros(2, 60, 1), torch.ones(2, 60, dtype=torch.bool), 1)
    with pytest.warns(RuntimeWarning, match="native kernel fps.cpp could not be built.*no compiler here"):
        first = farthest_point_subsample(group, lifted, 0.5, torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = farthest_point_subsample(group, lifted, 0.5, torch.Generator().manual_seed(0))
    monkeypatch.setenv("LIEFORMER_NATIVE", "0")
    loop = farthest_point_subsample(group, lifted, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(first[0], loop[0]) and torch.equal(again[0], loop[0])


def test_lieformer_native_0_never_builds(monkeypatch):
    monkeypatch.setenv("LIEFORMER_NATIVE", "0")
    monkeypatch.setattr(native, "_libraries", {})
    monkeypatch.setattr("torch.utils.cpp_extension.load", lambda *a, **k: pytest.fail("built although LIEFORMER_NATIVE=0"))
    assert fps_library() is None
