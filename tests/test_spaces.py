"""Homogeneous spaces as their own objects (DESIGN §2): every registered group and space passes
lieformer.testing.check_group, deliberately broken ones fail it, spaces are built from groups,
names and configs, and a lift from one space is refused by a layer built for another."""

from __future__ import annotations

import pytest
import torch

from lieformer import LieResNet, LieTransformer, make_group
from lieformer.groups import SE2, SE3, SO2, SO3, T, group_names
from lieformer.nn import LieConv
from lieformer.spaces import (
    SPACES, EuclideanSpace, HomogeneousSpace, RaySpace, SO2Space, SO3Space, SphereSpace, make_space,
)
from lieformer.testing import check_group


@pytest.mark.parametrize("name", group_names())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_every_registered_group_and_its_space_pass_check_group(name, dtype):
    check_group(make_group(name), dtype=dtype, rtol=1e-8 if dtype == torch.float64 else 2e-5)


def test_every_registered_space_is_some_group_default_and_checked():
    """The previous test covers every space class: each is the default space of a registered
    group, or no group's default and checked in its own test file (listed here)."""
    covered = {type(make_group(name).space) for name in group_names()}
    checked_elsewhere = {SphereSpace: "test_sphere.py", RaySpace: "test_rays.py"}
    assert covered | set(checked_elsewhere) == set(SPACES.values())


@pytest.mark.parametrize("spec", ["SE2(alpha=0.7)", "SO3Space(SO3(alpha=0.5))", "SE2Canonical(4, alpha=0.1)"])
def test_check_group_on_named_spaces(spec):
    check_group(make_space(spec))


# ------------------------------------------------------------------------- broken groups and spaces
class WrongInverseSO3(SO3):
    def inv(self, g):
        return g  # not the inverse (except of the identity and half-turns)


class WrongSectionSpace(SO2Space):
    def section(self, coords):  # turns by twice the point's angle: s(x)·o_q ≠ x
        return super().section(coords) @ super().section(coords)


class OverclaimedBoundSpace(EuclideanSpace):
    """Declares distance ≥ 2·‖Δt‖, while its distance is α·angle + (1−α)‖Δt‖."""

    def __init__(self, group):
        super().__init__(group)
        self.position_weight = 2.0


class TranslatingStabilizerSpace(EuclideanSpace):
    def stabilizer_from_uniform(self, u, coords):  # draws that move the representative 0
        h = super().stabilizer_from_uniform(u, coords).clone()
        h[..., 0, -1] = 0.1
        return h


class CoordinateDistanceSpace(SO2Space):
    def distance(self, ua, qa, ub, qb):  # depends on where the pair is, not only on u_a⁻¹u_b
        return torch.cdist(ua[..., :1, 0], ub[..., :1, 0]) + torch.cdist(qa, qb)  # |cos θ_a − cos θ_b| + …


@pytest.mark.parametrize("broken,message", [
    (WrongInverseSO3(), "g·g⁻¹ = e"),
    (WrongSectionSpace(SO2()), r"s\(x\)·o_q\(x\) = x"),
    (OverclaimedBoundSpace(SE2()), "position_weight"),
    (TranslatingStabilizerSpace(SE2()), "fixes the orbit representative"),
    (CoordinateDistanceSpace(SO2()), "distance invariance"),
], ids=["wrong-inverse", "wrong-section", "overclaimed-distance-bound", "stabilizer-moves-origin", "distance-not-invariant"])
def test_check_group_fails_for_broken_groups_and_spaces(broken, message):
    with pytest.raises(AssertionError, match=message):
        check_group(broken)


# ------------------------------------------------------------------------- building spaces
def test_a_group_acts_on_its_default_space():
    """Group strings and objects stay valid: a group stands for its default space, whose methods
    it forwards; SE(2) and SE(3) share one R^n ⋊ K implementation."""
    assert isinstance(SE2().space, EuclideanSpace) and type(SE3().space) is type(SE2().space) is type(T(3).space)
    assert SE2().space.space_dim == 2 and SE3().space.space_dim == 3
    assert SE2(alpha=0.3).space == make_space("SE2(alpha=0.3)") != make_space("SE2(alpha=0.4)")
    assert repr(make_space("SE3(alpha=0.2)")) == "SE3(alpha=0.2)"
    x = torch.randn(1, 4, 2)
    assert torch.equal(SE2().section(x), SE2().space.section(x))
    with pytest.raises(AttributeError, match="no attribute 'sectoin'"):
        SE2().sectoin(x)


def test_spaces_by_name_and_in_models():
    space = make_space("SO3Space(SO3(alpha=0.5))")
    assert isinstance(space, SO3Space) and space.alpha == 0.5 and repr(space) == "SO3Space(SO3(alpha=0.5))"
    model = LieTransformer(3, 2, "SO3Space(SO3(alpha=0.5))", dim=16, heads=2)
    assert model.space == space and model.group == SO3(alpha=0.5)
    assert model(torch.randn(2, 5, 3), torch.randn(2, 5, 3)).shape == (2, 2)
    for bad, message in (("SE5", "unknown group 'SE5'"), ("SO3Space(alpha=2)", "space 'SO3Space"),
                         ("SO3Space(SO3(alpha=2.0))", "alpha must lie in")):
        with pytest.raises(ValueError, match=message):
            make_space(bad)


# ------------------------------------------------------------------------- lifts know their space
@pytest.mark.parametrize("builder", [
    lambda g: LieTransformer(3, 2, g, dim=16, heads=2), lambda g: LieResNet(3, 2, g, k=16, nbhd=4),
], ids=["LieTransformer", "LieResNet"])
def test_a_lift_from_another_space_is_refused(builder):
    """An SE2 lift and a T(2) lift are both 3×3 matrices: given to a model built for T(2), the
    SE2 lift would run and give a wrong answer; it is refused, naming both spaces."""
    x, v = torch.randn(2, 6, 2), torch.randn(2, 6, 3)
    lifted = SE2().space.lift(x, v, None, 1)
    model = builder("T(2)")
    with pytest.raises(ValueError, match=r"built for T\(2\), but these points were lifted by SE2\(alpha=0.2\)"):
        model.forward_lifted(lifted)
    own = make_space("T(2)").lift(x, v, None, 1)
    assert model.forward_lifted(own).shape == (2, 2)


def test_lieconv_refuses_a_lift_from_another_space():
    conv = LieConv(3, 4, "SO2", nbhd=4)
    lifted = SO3().space.lift(torch.randn(1, 5, 3), torch.randn(1, 5, 3), None, 1)
    with pytest.raises(ValueError, match=r"LieConv is built for SO2\(alpha=0.2\), but these points were lifted by SO3"):
        conv(lifted)


def test_hand_made_lifts_are_accepted():
    """A Lifted built by hand (space None) is taken as it is, as before."""
    lifted = SE2().space.lift(torch.randn(1, 5, 2), torch.randn(1, 5, 3), None, 1)._replace(space=None)
    assert isinstance(SE2().space, HomogeneousSpace)
    assert LieConv(3, 4, "SE2", nbhd=4)(lifted).values.shape == (1, 5, 4)
