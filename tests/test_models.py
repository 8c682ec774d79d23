"""LieResNet and LieTransformer: exact equivariance for every group, every attention variant,
padding invariance, bad input (DESIGN §4, §6)."""

from __future__ import annotations

import itertools

import pytest
import torch

from lieformer import LieResNet, LieTransformer, make_group
from lieformer.nn import LieConv
from lieformer.nn.attention import COMBINATIONS, CONTENTS, LOCATIONS, NORMALISATIONS
from lieformer.testing import assert_equivariant, assert_padding_invariant

from .conftest import random_coords

MODEL_GROUPS = ["T(2)", "SO2", "SE2", "RxSO2", "SE2Canonical(4)", "T(3)", "SO3", "SE3"]


def small_resnet(group, in_channels=3, **kw):
    """Two blocks, FPS to ~half the points: exercises subsampling in every test."""
    kw = {"k": 16, "num_layers": 2, "nbhd": 6, "fill": 0.5, "total_ds": 0.5, **kw}
    return LieResNet(in_channels, 2, group, **kw)


def small_transformer(group, in_channels=3, **kw):
    kw = {"dim": 16, "num_layers": 2, "heads": 2, "nbhd": 6, "fill": 0.75, "kernel_dim": 8, **kw}
    return LieTransformer(in_channels, 2, group, **kw)


def batch(group, dtype, B=2, N=10, c=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = random_coords(group, (B, N), gen, dtype)
    v = torch.randn(B, N, c, generator=gen, dtype=dtype)
    mask = torch.ones(B, N, dtype=torch.bool)
    mask[1, -3:] = False
    return x, v, mask


def rtol_for(dtype):
    # a few layers of float32 arithmetic: the error is that of the inputs, amplified by the depth
    return 2e-5 if dtype == torch.float32 else 1e-10


@pytest.mark.parametrize("builder", [small_resnet, small_transformer], ids=["LieResNet", "LieTransformer"])
@pytest.mark.parametrize("spec", MODEL_GROUPS)
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_models_are_exactly_equivariant(builder, spec, train, dtype):
    torch.manual_seed(0)
    group = make_group(spec)
    model = builder(group, lift_samples=2).to(dtype).train(train)
    out, out_g = assert_equivariant(model, group, batch(group, dtype), rtol=rtol_for(dtype))
    assert out.shape == (2, 2)


@pytest.mark.parametrize("builder", [small_resnet, small_transformer], ids=["LieResNet", "LieTransformer"])
def test_equivariance_test_can_fail(builder):
    """A model fed raw coordinates as values is not invariant: assert_equivariant must say so."""
    group = make_group("SE2")

    class Leaky(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner, self.group, self.lift_samples = builder(group, in_channels=2), group, 1

        def forward(self, coords, values, mask, **kw):
            return self.inner(coords, coords, mask, **kw)

    with pytest.raises(AssertionError, match="exceeds"):
        assert_equivariant(Leaky().double(), group, batch(group, torch.float64))


ATTENTION_VARIANTS = list(itertools.product(CONTENTS, LOCATIONS, COMBINATIONS, NORMALISATIONS))


@pytest.mark.parametrize("content,location,combination,normalisation", ATTENTION_VARIANTS)
def test_every_attention_variant_runs_and_is_equivariant(content, location, combination, normalisation):
    torch.manual_seed(1)
    group = make_group("SE2")
    model = small_transformer(
        group, content=content, location=location, combination=combination, normalisation=normalisation
    ).double()
    x, v, mask = batch(group, torch.float64)
    out = model(x, v, mask, generator=torch.Generator().manual_seed(0))
    out.square().sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    assert_equivariant(model, group, (x, v, mask))


@pytest.mark.parametrize("norm,position", list(itertools.product(["layer", "batch", "none"], ["pre", "post"])))
def test_block_norm_options(norm, position):
    group = make_group("T(2)")
    model = small_transformer(group, norm=norm, norm_position=position).double()
    assert_equivariant(model, group, batch(group, torch.float64))
    assert_padding_invariant(model, batch(group, torch.float64))


@pytest.mark.parametrize("builder", [small_resnet, small_transformer], ids=["LieResNet", "LieTransformer"])
@pytest.mark.parametrize("spec", ["T(2)", "SE2", "SE3"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_padding_changes_no_output(builder, spec, train):
    torch.manual_seed(2)
    group = make_group(spec)
    model = builder(group, lift_samples=2).double().train(train)
    assert_padding_invariant(model, batch(group, torch.float64), n_pad=7)


@pytest.mark.parametrize("builder", [small_resnet, small_transformer], ids=["LieResNet", "LieTransformer"])
def test_padding_values_nan_do_not_leak(builder):
    group = make_group("SE2")
    model = builder(group)
    x, v, mask = batch(group, torch.float32)
    v[~mask] = float("nan")
    out = model(x, v, mask)
    out.sum().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("builder", [small_resnet, small_transformer], ids=["LieResNet", "LieTransformer"])
def test_coincident_points_give_finite_values_and_gradients(builder):
    group = make_group("SE3")
    model = builder(group, lift_samples=2)
    x = torch.zeros(2, 6, 3, requires_grad=True)  # all points at one place
    out = model(x, torch.randn(2, 6, 3), None)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("builder", [small_resnet, small_transformer], ids=["LieResNet", "LieTransformer"])
def test_bad_input_errors(builder):
    group = make_group("SE2")
    model = builder(group)
    x, v, mask = batch(group, torch.float32)
    empty = mask.clone()
    empty[1] = False
    with pytest.raises(ValueError, match=r"sample\(s\) \[1\] have no valid points"):
        model(x, v, empty)
    with pytest.raises(ValueError, match=r"values must be \(B, N, 3\)"):
        model(x, v[..., :2], mask)
    with pytest.raises(ValueError, match="2-dimensional"):
        model(torch.randn(2, 10, 3), v, mask)
    with pytest.raises(ValueError, match="mask must have shape"):
        model(x, v, mask[:, :5])
    with pytest.raises(ValueError, match=r"values must have shape|values must be"):
        model(x, v[:, :5], mask)


def test_bad_options():
    with pytest.raises(ValueError, match="unknown content"):
        small_transformer("SE2", content="cosine")
    with pytest.raises(ValueError, match="unknown normalisation"):
        small_transformer("SE2", normalisation="sparsemax")
    with pytest.raises(ValueError, match="divisible"):
        LieTransformer(3, 2, "SE2", dim=10, heads=3)
    with pytest.raises(ValueError, match="unknown group"):
        LieResNet(3, 2, "SE5")
    with pytest.raises(ValueError, match="total_ds"):
        LieResNet(3, 2, "SE2", total_ds=1.5)


def test_group_is_the_only_change():
    """The same constructor call works for every group; only the input dimension follows it."""
    for spec in MODEL_GROUPS + ["Trivial(2)", "Tx", "Ty", "Rx", "SQ", "RxSQ"]:
        group = make_group(spec)
        for builder in (small_resnet, small_transformer):
            model = builder(group)
            out = model(*batch(group, torch.float32))
            assert out.shape == (2, 2) and torch.isfinite(out).all(), spec


def test_eval_lift_averaging_reduces_variance():
    """Averaging over lift draws at evaluation shrinks the spread of SE2 predictions."""
    group = make_group("SE2")
    torch.manual_seed(3)
    x, v, mask = batch(group, torch.float64, B=4, N=12)

    def spread(draws):
        model = small_transformer(group, eval_lift_draws=draws).double().eval()
        torch.manual_seed(3)
        model.load_state_dict(reference.state_dict())
        outs = torch.stack([model(x, v, mask, generator=torch.Generator().manual_seed(s)) for s in range(12)])
        return outs.std(0).mean().item()

    torch.manual_seed(4)
    reference = small_transformer(group).double()
    assert spread(8) < 0.6 * spread(1)


@pytest.mark.parametrize("builder", [small_resnet, small_transformer], ids=["LieResNet", "LieTransformer"])
@pytest.mark.parametrize("spec", ["SE2", "SO3", "T(2)", "RxSO2"])
def test_centroid_frame_lift_is_invariant_without_compensation(builder, spec, dtype):
    """With lift_frame="centroid" the model itself is exactly invariant: model(g·x) = model(x)
    for a plain transformed input, no stabilizer passed."""
    torch.manual_seed(5)
    group = make_group(spec)
    model = builder(group, lift_samples=2, lift_frame="centroid").to(dtype).eval()
    x, v, mask = batch(group, dtype)
    g = group.sample((2,), generator=torch.Generator().manual_seed(1), dtype=dtype)
    gx = torch.where(mask.unsqueeze(-1), group.act(g, x), x)
    out = model(x, v, mask, generator=torch.Generator().manual_seed(0))
    out_g = model(gx, v, mask, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out_g, out, atol=rtol_for(dtype) * 10, rtol=rtol_for(dtype) * 10)
    # and a random-lift model is not (its lift draws are not tied to the input)
    if spec in ("SE2", "SO3"):
        rand = builder(group, lift_samples=2).to(dtype).eval()
        a = rand(x, v, mask, generator=torch.Generator().manual_seed(0))
        b = rand(gx, v, mask, generator=torch.Generator().manual_seed(0))
        assert (a - b).abs().max() > 1e-6


def test_centroid_frame_needs_a_frame():
    with pytest.raises(ValueError, match="no equivariant frame"):
        small_transformer("SE3", lift_frame="centroid")
    with pytest.raises(ValueError, match="lift_frame"):
        small_transformer("SE2", lift_frame="canonical")


@pytest.mark.parametrize("builder", [small_resnet, small_transformer], ids=["LieResNet", "LieTransformer"])
def test_checkpointed_model_matches_plain(builder):
    """Activation checkpointing recomputes the per-pair work: same gradients and BatchNorm
    statistics as the stored-activation path, over two training steps."""
    import copy

    torch.manual_seed(0)
    group = make_group("SE2")
    plain = builder(group, **({"norm": "batch"} if builder is small_transformer else {})).double().train()
    ckpt = copy.deepcopy(plain)
    switched = 0
    for module in ckpt.modules():
        if hasattr(module, "checkpoint"):
            module.checkpoint, switched = True, switched + 1
    assert switched >= 2
    x, v, mask = batch(group, torch.float64)
    for _ in range(2):
        for model in (plain, ckpt):
            model(x, v, mask, generator=torch.Generator().manual_seed(0)).square().sum().backward()
    for (name, a), b in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(b.grad, a.grad, atol=1e-12, rtol=1e-10, msg=name)
    for (name, a), b in zip(plain.named_buffers(), ckpt.buffers()):
        torch.testing.assert_close(b.double(), a.double(), atol=1e-12, rtol=1e-10, msg=name)
    # and the checkpointed model really stores less for the backward pass
    assert saved_bytes(ckpt, x, v, mask) < 0.8 * saved_bytes(plain, x, v, mask)


def test_lieresnet_checkpoint_option_reaches_every_conv():
    model = small_resnet("SE2", checkpoint=True)
    convs = [m for m in model.modules() if isinstance(m, LieConv)]
    assert len(convs) == 2 and all(c.checkpoint for c in convs)
    assert [c.fps_ordered for c in convs] == [False, True]  # only the first layer runs FPS
    assert not any(c.fps_ordered for c in small_resnet("SE2", total_ds=1.0).modules() if isinstance(c, LieConv))


def saved_bytes(model, x, v, mask) -> int:
    """Bytes autograd keeps for the backward pass of one training forward."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x, v, mask, generator=torch.Generator().manual_seed(0)).sum()
    return total
