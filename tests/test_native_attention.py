"""The native attention kernel (nn/native/attention.cpp) against the plain PyTorch computation:
forward and every gradient, each normalisation, float32 and float64, the specialised and the
run-time kernel widths, threads splitting the samples, padding; and the fallback when the
kernel is disabled or cannot be built."""

from __future__ import annotations

import warnings

import pytest
import torch

from lieformer import LieTransformer
from lieformer.nn import LieSelfAttention
from lieformer.nn.native import attention as native

from .test_layers import EXACT, randomise


needs_native = pytest.mark.skipif(native.attention_library() is None, reason="the native kernel does not build here")

#: float32: the kernel's exp and its summation order differ from torch's by a few ulps
FLOAT32 = dict(atol=2e-5, rtol=2e-5)


def inputs(B, L, K, C, P, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    values = torch.randn(B, L, C, generator=gen, dtype=dtype)
    pairs = torch.randn(B, L, K, P, generator=gen, dtype=dtype)
    idx = torch.randint(0, L, (B, L, K), generator=gen)
    mask = torch.rand(B, L, K, generator=gen) < 0.7
    mask[0, 1] = False  # a query with no valid pair
    mask[-1, -1] = False  # a padding query
    return values, pairs, idx, mask


def outputs_and_grads(att, values, pairs, idx, mask, grad):
    values = values.detach().requires_grad_(True)
    out = att(values, pairs, idx, mask)
    return out, torch.autograd.grad(out, [values, *att.parameters()], grad)


@pytest.mark.parametrize("normalisation", ["softmax", "dot-product", "none"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kernel_dim,heads,threads,B", [(16, 2, 1, 3), (4, 4, 2, 3), (5, 2, 2, 1), (6, 1, 4, 2)])
@needs_native
def test_native_attention_matches_the_plain_path(normalisation, dtype, kernel_dim, heads, threads, B):
    """Widths 16, 4 and 6 run specialised code, 5 the run-time loop; 2 and 4 threads split the
    samples (4 threads for 2 samples: two idle), 1 sample runs on one thread."""
    tol = EXACT if dtype == torch.float64 else FLOAT32
    att = LieSelfAttention(8, 3, heads=heads, kernel_dim=kernel_dim, normalisation=normalisation).to(dtype)
    randomise(att, seed=kernel_dim)
    values, pairs, idx, mask = inputs(B, 9, 5, 8, 3, dtype, seed=heads)
    grad = torch.randn(values.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        att.native, att.block_pairs = True, 7
        fast = outputs_and_grads(att, values, pairs, idx, mask, grad)
        with torch.no_grad():
            fast_eval = att(values, pairs, idx, mask)
    finally:
        torch.set_num_threads(before)
    att.native, att.block_pairs = False, 0
    plain = outputs_and_grads(att, values, pairs, idx, mask, grad)
    torch.testing.assert_close(fast[0], plain[0], **tol)
    torch.testing.assert_close(fast_eval, plain[0], **tol)
    names = ["values"] + [name for name, _ in att.named_parameters()]
    for name, g, expected in zip(names, fast[1], plain[1]):
        torch.testing.assert_close(g, expected, **tol, msg=lambda m: f"{name}: {m}")


@needs_native
def test_lietransformer_is_the_same_model_with_and_without_the_kernel():
    """A whole float64 LieTransformer (SE2, padding) gives the same output and parameter
    gradients through the native kernel and through the PyTorch blocks."""
    torch.manual_seed(0)
    model = LieTransformer(2, 3, "SE2", dim=16, num_layers=2, heads=4, nbhd=6, kernel_dim=8).double()
    randomise(model, seed=3, scale=0.4)
    gen = torch.Generator().manual_seed(4)
    x, v = torch.randn(3, 10, 2, generator=gen, dtype=torch.float64), torch.randn(3, 10, 2, generator=gen, dtype=torch.float64)
    mask = torch.ones(3, 10, dtype=torch.bool)
    mask[1, 6:] = False
    results = []
    for use_native in (True, False):
        for block in model.blocks:
            block.attention.native = use_native
        out = model(x, v, mask, generator=torch.Generator().manual_seed(5))
        results.append((out, torch.autograd.grad(out.sum(), list(model.parameters()))))
    torch.testing.assert_close(results[0][0], results[1][0], **EXACT)
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, **EXACT)


def test_disabled_or_failed_builds_fall_back(monkeypatch):
    """LIEFORMER_NATIVE=0 and a build that fails both leave the PyTorch path (the failure with
    one warning), and the layer still computes the same thing."""
    from lieformer.nn import native as loader

    monkeypatch.setenv("LIEFORMER_NATIVE", "0")
    assert native.attention_library() is None
    monkeypatch.setenv("LIEFORMER_NATIVE", "1")
    monkeypatch.setattr(loader, "_libraries", {})

    def broken(*args, **kwargs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr("torch.utils.cpp_extension.load", broken)
    with pytest.warns(RuntimeWarning, match="could not be built.*no compiler here"):
        assert native.attention_library() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # only once
        assert native.attention_library() is None
    att = LieSelfAttention(8, 3, heads=2, kernel_dim=4).double()
    values, pairs, idx, mask = inputs(2, 9, 5, 8, 3, torch.float64, seed=0)
    fallback = att(values, pairs, idx, mask)
    att.block_pairs = 0
    torch.testing.assert_close(fallback, att(values, pairs, idx, mask), **EXACT)


@pytest.mark.parametrize("native_on", [True, False], ids=["native", "pytorch"])
def test_bad_inputs_are_refused_before_any_kernel(native_on):
    """A neighbour index outside its sample, wrong shapes or dtypes: a ValueError that says
    which, on every path (the kernel would otherwise read another sample's rows)."""
    att = LieSelfAttention(8, 3, heads=2, kernel_dim=4).double()
    att.native = native_on
    values, pairs, idx, mask = inputs(2, 9, 5, 8, 3, torch.float64, seed=0)
    bad = idx.clone()
    bad[1, 4, 2] = 9
    mask[1, 4, 2] = True
    with pytest.raises(ValueError, match="neighbour index 9 of point 4 in sample 1 is outside its 9 points"):
        att(values, pairs, bad, mask)
    bad[1, 4, 2] = -1
    with pytest.raises(ValueError, match="outside"):
        att(values, pairs, bad, mask)
    mask[1, 4, 2] = False  # an invalid pair may carry any index
    att(values, pairs, bad, mask)
    with pytest.raises(ValueError, match="pairs must be"):
        att(values, pairs[..., :2], idx, mask)
    with pytest.raises(ValueError, match="values must be"):
        att(values[..., :6], pairs, idx, mask)
    with pytest.raises(ValueError, match="idx and mask"):
        att(values, pairs, idx[:, :5], mask[:, :5])
    with pytest.raises(ValueError, match="mask bool"):
        att(values, pairs, idx, mask.double())
