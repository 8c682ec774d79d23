"""What the layers compute, not only their symmetry: LieConv, BottleBlock and every
LieSelfAttention variant against the plain-loop references of reference_layers.py (float64, to
round-off), the sparse LieTransformer against a dense all-pairs one, and the behaviours a bug
could break while keeping every layer invariant (the weights of each normalisation, each
combination's formula, masked pooling after subsampling, later LieResNet layers on the FPS prefix).
"""

from __future__ import annotations

import itertools

import pytest
import torch

from lieformer import LieResNet, LieTransformer, make_group
from lieformer.nn import BottleBlock, LieConv, LieSelfAttention, MaskedBatchNorm, Neighbourhood, masked_pool
from lieformer.nn.attention import COMBINATIONS, CONTENTS, LOCATIONS, NORMALISATIONS

from .conftest import random_coords
from .reference_layers import (
    affine, dense_lietransformer, reference_attention, reference_lieconv, swish,
)
from .test_neighbourhood import greedy_fps

F64 = torch.float64
#: float64 round-off over a few layers of O(1) numbers
EXACT = dict(atol=1e-12, rtol=1e-10)


def randomise(module: torch.nn.Module, seed: int, scale: float = 0.5) -> None:
    """Every parameter and BatchNorm buffer drawn at random (zero biases, unit BatchNorm weights
    and zero running means would hide terms); running variances positive."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in itertools.chain(module.named_parameters(), module.named_buffers()):
            if not p.is_floating_point():
                continue
            if name.endswith("running_var"):
                p.copy_(0.5 + torch.rand(p.shape, generator=gen, dtype=p.dtype))
            elif name.endswith("radius"):
                continue
            else:
                p.copy_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))


def lifted_batch(spec: str, B=2, N=5, S=2, c=3, seed=0):
    """A float64 lifted set with padding in row 1 (its last two points)."""
    group = make_group(spec)
    gen = torch.Generator().manual_seed(seed)
    x = random_coords(group, (B, N), gen, F64)
    v = torch.randn(B, N, c, generator=gen, dtype=F64)
    mask = torch.ones(B, N, dtype=torch.bool)
    mask[1, -2:] = False
    h = group.sample_stabilizer((B, N, S), generator=gen, dtype=F64)
    return group, group.lift(x, v, mask, S, stabilizer=h)


def explicit_neighbours(lifted, M: int, K: int, seed: int, query_mask):
    """Random neighbourhoods (B, M, K) over each row's valid points; about a quarter of the pairs
    masked, one valid query left with none; padding queries get no valid pair."""
    gen = torch.Generator().manual_seed(seed)
    B = lifted.mask.shape[0]
    idx = torch.empty(B, M, K, dtype=torch.long)
    for b in range(B):
        valid = lifted.mask[b].nonzero().flatten()
        idx[b] = valid[torch.randint(0, len(valid), (M, K), generator=gen)]
    mask = (torch.rand(B, M, K, generator=gen) < 0.75) & query_mask.unsqueeze(-1)
    mask[0, 1] = False
    return idx, mask


# ------------------------------------------------------------------------------------------ LieConv
def use_contraction(monkeypatch, method: str) -> None:
    """Make LieConv contract over the neighbours by `method` (nn.contraction), failing the test
    if a path it should not take gathers rows."""
    import functools

    from lieformer.nn import contraction, lieconv

    if method == "native" and contraction.native.contraction_library() is None:
        pytest.skip("the native contraction kernel does not build here")
    monkeypatch.setattr(lieconv, "contract_neighbours", functools.partial(contraction.contract_neighbours, method=method))
    gather = contraction.gather_points if method == "gather" else (lambda *a: pytest.fail(f"gathered on the {method} path"))
    monkeypatch.setattr(contraction, "gather_points", gather)


@pytest.mark.parametrize("spec", ["T(2)", "SE2", "SE3"])
@pytest.mark.parametrize("mode", ["eval", "train", "train-checkpoint"])
@pytest.mark.parametrize("queries", ["all", "subset"])
@pytest.mark.parametrize("contraction", ["gather", "dense", "native"])
def test_lieconv_matches_plain_reference(spec, mode, queries, contraction, monkeypatch):
    """LieConv.forward with a given neighbourhood = kernel MLP on the pair features (BatchNorm with
    the running statistics in eval, masked batch statistics over the valid pairs in training),
    mean over the neighbourhood, PointConv contraction and Linear; running statistics updated as
    BatchNorm does (also under activation checkpointing). Every contraction over the neighbours:
    gathered rows, the dense per-set matmul of small sets (repeated neighbours add up), and the
    native kernel — with the native kernel MLP too, however few the rows."""
    use_contraction(monkeypatch, contraction)
    if contraction == "native":
        from lieformer.nn import lieconv

        monkeypatch.setattr(lieconv, "NATIVE_WEIGHTNET_MIN_ROWS", 2)
    group, lifted = lifted_batch(spec)
    B, L = lifted.mask.shape
    K = 4
    conv = LieConv(3, 5, group, nbhd=K, kernel_dim=4, kernel_hidden=6, checkpoint=mode == "train-checkpoint").double()
    randomise(conv, seed=1)
    conv.train(mode != "eval")
    if queries == "all":
        query_idx, query_set = None, lifted
    else:  # any query subset with its own slot mask, as subsample() would hand over
        query_idx = torch.tensor([[7, 2, 0, 5], [1, 4, 6, 3]])
        query_set = lifted.select(query_idx)
        query_set = query_set._replace(mask=query_set.mask & torch.tensor([[True] * 4, [True, True, True, False]]))
    M = query_set.mask.shape[1]
    idx, pair_mask = explicit_neighbours(lifted, M, K, seed=2, query_mask=query_set.mask)
    conv.neighbourhood = lambda lifted_, query_idx_, generator=None: Neighbourhood(idx, pair_mask, 0.5)

    pairs = group.pair_features(lifted, idx, query_idx)
    expected, stats = reference_lieconv(conv, lifted.values, pairs, idx, pair_mask, query_set.mask, training=conv.training)
    values = lifted.values.clone().requires_grad_()
    out = conv(lifted.with_values(values), None, query_idx, query_set.with_values(None))
    torch.testing.assert_close(out.values, expected, **EXACT)
    assert torch.equal(out.mask, query_set.mask)
    if stats is not None:
        for bn, (mean, var) in zip(conv.weightnet.norms, stats):
            torch.testing.assert_close(bn.running_mean, mean, **EXACT)
            torch.testing.assert_close(bn.running_var, var, **EXACT)
    out.values.square().sum().backward()  # the checkpointed path recomputes: same gradient as the plain one
    assert torch.isfinite(values.grad).all()


def test_lieconv_contractions_have_the_same_gradients(monkeypatch):
    """The dense contraction of small sets, the gathered one and the native kernel give the same
    gradients for the input values and every parameter (padding, repeated neighbours)."""
    group, lifted = lifted_batch("SE2")
    conv = LieConv(3, 5, group, nbhd=4, kernel_dim=4, kernel_hidden=6).double()
    randomise(conv, seed=3)
    idx, pair_mask = explicit_neighbours(lifted, lifted.mask.shape[1], 4, seed=4, query_mask=lifted.mask)
    conv.neighbourhood = lambda lifted_, query_idx_, generator=None: Neighbourhood(idx, pair_mask, 0.5)
    grads = []
    for method in ("gather", "dense", "native"):
        use_contraction(monkeypatch, method)
        values = lifted.values.clone().requires_grad_()
        out = conv(lifted.with_values(values)).values
        grads.append(torch.autograd.grad(out.square().sum(), [values, *conv.parameters()]))
    assert (idx[..., :, None] == idx[..., None, :]).sum() > idx.numel()  # some neighbour repeats
    for other in grads[1:]:
        for a, b in zip(grads[0], other):
            torch.testing.assert_close(a, b, **EXACT)


def test_lieconv_without_mean_sums_over_the_neighbourhood():
    """mean=False: the plain sum over the neighbourhood (the reference follows the flag); on these
    inputs it differs from the mean by far more than round-off, so the test above sees a lost mean."""
    group, lifted = lifted_batch("SE2")
    conv = LieConv(3, 5, group, nbhd=4, kernel_dim=4, kernel_hidden=6, mean=False).double().eval()
    randomise(conv, seed=1)
    idx, pair_mask = explicit_neighbours(lifted, lifted.mask.shape[1], 4, seed=2, query_mask=lifted.mask)
    conv.neighbourhood = lambda *a, **k: Neighbourhood(idx, pair_mask, 0.5)
    out = conv(lifted)
    expected, _ = reference_lieconv(conv, lifted.values, group.pair_features(lifted, idx), idx, pair_mask, lifted.mask)
    torch.testing.assert_close(out.values, expected, **EXACT)  # the reference follows `mean`
    conv.mean = True
    mean_expected, _ = reference_lieconv(conv, lifted.values, group.pair_features(lifted, idx), idx, pair_mask, lifted.mask)
    assert (mean_expected - expected).abs().max() > 1e-2


def test_bottleblock_matches_its_formula():
    """BottleBlock (eval, running statistics): BN → Swish → Linear(c → c/4) → BN → Swish →
    LieConv at the FPS queries → BN → Swish → Linear, plus the input *at the same queries* on the
    first c_in channels; padding slots zero."""
    group, lifted = lifted_batch("SE2", N=8, c=8)
    block = BottleBlock(8, 12, group, nbhd=5, ds_frac=0.5, kernel_dim=4, kernel_hidden=6).double().eval()
    randomise(block, seed=3)
    seen = {}
    original = block.conv.neighbourhood

    def record(lifted_, query_idx, generator=None):
        seen["nb"], seen["query_idx"] = original(lifted_, query_idx, generator), query_idx
        return seen["nb"]

    block.conv.neighbourhood = record
    out = block(lifted, torch.Generator().manual_seed(0))

    def bn(x, norm):
        return (x - norm.running_mean) / torch.sqrt(norm.running_var + norm.eps) * norm.weight + norm.bias

    def lin(x, layer):
        return x @ layer.weight.T + layer.bias

    valid = lifted.mask[..., None]
    h = torch.where(valid, swish(bn(lin(swish(bn(lifted.values, block.norm1)), block.down), block.norm2)), 0.0)
    query_idx = seen["query_idx"]
    queries = lifted.select(query_idx)
    query_mask = out.mask
    assert query_mask.sum(-1).tolist() == [8, 6]  # round(0.5 · valid points) per row: 16 and 12 lifted points
    pair_mask = seen["nb"].mask & query_mask.unsqueeze(-1)
    pairs = group.pair_features(lifted, seen["nb"].idx, query_idx)
    conv, _ = reference_lieconv(block.conv, h, pairs, seen["nb"].idx, pair_mask, query_mask)
    y = lin(swish(bn(conv, block.norm3)), block.up)
    y = torch.cat([y[..., :8] + queries.values, y[..., 8:]], -1)
    expected = torch.where(query_mask[..., None], y, 0.0)
    torch.testing.assert_close(out.values, expected, **EXACT)
    torch.testing.assert_close(out.elements, queries.elements, atol=0, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("padding", [False, True], ids=["full", "padded"])
@pytest.mark.parametrize("with_linear", [False, True], ids=["alone", "then-linear"])
def test_batchnorm_swish_is_swish_of_batchnorm(dtype, training, padding, with_linear):
    """MaskedBatchNorm.swish (which keeps only its input for the backward) = silu(MaskedBatchNorm),
    then the Linear if given (on every row): outputs, gradients of the input, the norm's and the
    Linear's parameters, running statistics and their count; a second derivative through it
    (create_graph) as the separate layers'."""
    gen = torch.Generator().manual_seed(4)
    x = 3 * torch.randn(3, 7, 5, generator=gen, dtype=dtype) + 1
    mask = torch.ones(3, 7, dtype=torch.bool)
    if padding:
        mask[1, 4:] = False
    results = []
    for lean in (True, False):
        norm = MaskedBatchNorm(5).to(dtype)
        linear = torch.nn.Linear(5, 4).to(dtype) if with_linear else None
        randomise(norm, seed=5)
        if linear is not None:
            randomise(linear, seed=6)
        norm.train(training)
        xi = x.clone().requires_grad_()
        if lean:
            out = norm.swish(xi, mask, linear)
        else:
            out = torch.nn.functional.silu(norm(xi, mask))
            out = out if linear is None else linear(out)
        params = [xi, norm.weight, norm.bias, *([] if linear is None else list(linear.parameters()))]
        first = torch.autograd.grad(out.sin().sum(), params, retain_graph=True)
        (gx,) = torch.autograd.grad(out.sin().sum(), xi, create_graph=True)
        second = torch.autograd.grad(gx.square().sum(), params)
        results.append((out, *first, *second, norm.running_mean, norm.running_var, norm.num_batches_tracked))
    tol = EXACT if dtype == torch.float64 else dict(atol=1e-5, rtol=1e-5)
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, **tol)
    if padding and not with_linear:
        assert torch.equal(results[0][0][1, 4:], torch.zeros(3, 5, dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("mode", ["train", "eval", "deferred"])
@pytest.mark.parametrize("widths", [(3, 32, 16, 3), (2, 6, 4, 2), (4, 5, 7, 4)], ids=["3-32-32-16", "2-6-4", "4-5-5-5-7"])
def test_native_weightnet_matches_the_pytorch_layers(dtype, mode, widths, monkeypatch):
    """WeightNet.mlp through native/weightnet.cpp = torch_mlp (Linear → BatchNorm → Swish per
    layer): outputs, every parameter's gradient, the returned or written batch statistics, the
    running statistics; 1 and 2 threads; a second-order gradient falls back to the layers."""
    from lieformer.nn import lieconv
    from lieformer.nn.lieconv import WeightNet
    from lieformer.nn.native import weightnet as native

    monkeypatch.setattr(lieconv, "NATIVE_WEIGHTNET_MIN_ROWS", 2)  # these 300 rows too

    if native.weightnet_library() is None:
        pytest.skip("the native kernel does not build here")
    P, hidden, m, layers = widths
    gen = torch.Generator().manual_seed(hidden)
    x = torch.randn(300, P, generator=gen, dtype=dtype) * 2
    grad = torch.randn(300, m, generator=gen, dtype=dtype)
    reference = WeightNet(P, m, hidden, layers).to(dtype)
    randomise(reference, seed=6)
    results = {}
    for path in ("native", "torch", "native-2-threads"):
        net = WeightNet(P, m, hidden, layers).to(dtype)
        net.load_state_dict(reference.state_dict())
        net.train(mode != "eval")
        before = torch.get_num_threads()
        torch.set_num_threads(2 if path.endswith("threads") else 1)
        try:
            calls = []
            original = native.forward
            native.forward = lambda *a: calls.append(1) or original(*a)
            h, stats = (net.torch_mlp if path == "torch" else net.mlp)(x, mode)
            grads = torch.autograd.grad(h, list(net.parameters()), grad)
        finally:
            native.forward = original
            torch.set_num_threads(before)
        assert bool(calls) == (path != "torch")
        running = [b for bn in net.norms for b in (bn.running_mean, bn.running_var, bn.num_batches_tracked)]
        results[path] = (h, *grads, *stats, *running)
    # float32: BatchNorm's backward sums over the rows in another order (the kernel's in float64)
    tol = EXACT if dtype == torch.float64 else dict(atol=3e-4, rtol=3e-4)
    for path in ("native", "native-2-threads"):
        assert len(results[path]) == len(results["torch"])
        for i, (a, b) in enumerate(zip(results[path], results["torch"])):
            torch.testing.assert_close(a, b, **tol, msg=lambda text: f"{path}, item {i}: {text}")
    if dtype != torch.float64:  # second derivatives: float64 (float32's cancel to noise in places)
        return
    net = WeightNet(P, m, hidden, layers).to(dtype)
    net.load_state_dict(reference.state_dict())
    second = []
    for f in (net.mlp, net.torch_mlp):
        h, _ = f(x, "deferred")
        g = torch.autograd.grad(h.sin().sum(), list(net.parameters()), create_graph=True)
        second.append(torch.autograd.grad(sum(t.square().sum() for t in g), list(net.parameters())))
    scale = max(float(b.abs().max()) for b in second[1])  # entries that cancel to ~0 (a bias before a
    for a, b in zip(*second):                               # BatchNorm): an absolute tolerance at that scale
        torch.testing.assert_close(a, b, atol=1e-9 * scale, rtol=1e-7)


# --------------------------------------------------------------------------------- LieSelfAttention
ATTENTION_VARIANTS = list(itertools.product(CONTENTS, LOCATIONS, COMBINATIONS, NORMALISATIONS))


def attention_inputs(B=2, L=5, K=3, C=8, P=4, seed=0):
    """Random values, pair features (any numbers: the layer only sees them as features),
    neighbour indices and a pair mask with invalid pairs, a query with no valid pair and a
    padding query."""
    gen = torch.Generator().manual_seed(seed)
    values = torch.randn(B, L, C, generator=gen, dtype=F64)
    pairs = torch.randn(B, L, K, P, generator=gen, dtype=F64)
    idx = torch.randint(0, L - 1, (B, L, K), generator=gen)
    mask = torch.rand(B, L, K, generator=gen) < 0.7
    mask[0, 0] = True
    mask[0, 2] = False  # a query none of whose pairs is valid
    mask[1, -1] = False  # a padding query
    return values, pairs, idx, mask


def make_attention(content="dot-product", location="mlp", combination="sum", normalisation="softmax", seed=0):
    att = LieSelfAttention(8, 4, heads=2, content=content, location=location, combination=combination,
                           normalisation=normalisation, kernel_dim=4).double()
    randomise(att, seed)
    return att


@pytest.mark.parametrize("content,location,combination,normalisation", ATTENTION_VARIANTS)
def test_attention_matches_plain_reference(content, location, combination, normalisation):
    """Every content × location × combination × normalisation variant equals the plain-loop
    reference (REFERENCE.md's formulas, one query, head and neighbour at a time)."""
    att = make_attention(content, location, combination, normalisation, seed=ATTENTION_VARIANTS.index(
        (content, location, combination, normalisation)))
    values, pairs, idx, mask = attention_inputs()
    torch.testing.assert_close(att(values, pairs, idx, mask), reference_attention(att, values, pairs, idx, mask), **EXACT)


@pytest.mark.parametrize("content,location,combination,normalisation", ATTENTION_VARIANTS)
def test_blocked_attention_equals_the_plain_path(content, location, combination, normalisation):
    """Blocks of queries (recomputed in the backward pass; the dot-product + location-MLP
    variants through the hand-written backward, and through the native kernel where it builds)
    give the plain computation's output and the same gradients for the values and every parameter, with blocks that split the queries
    unevenly, a query with no valid pair and a padding query."""
    att = make_attention(content, location, combination, normalisation, seed=ATTENTION_VARIANTS.index(
        (content, location, combination, normalisation)))
    values, pairs, idx, mask = attention_inputs(L=7, K=3)
    values.requires_grad_(True)
    grad = torch.randn(values.shape, generator=torch.Generator().manual_seed(9), dtype=F64)
    results = []
    # all at once; one query a block; two queries a block (14 = 7·2 queries); the native kernel
    for block_pairs, native in ((0, False), (3, False), (7, False), (7, True)):
        att.block_pairs, att.native = block_pairs, native
        out = att(values, pairs, idx, mask)
        results.append((out, torch.autograd.grad(out, [values, *att.parameters()], grad)))
        with torch.no_grad():
            torch.testing.assert_close(att(values, pairs, idx, mask), out, **EXACT)
    (plain, plain_grads), *blocked = results
    for out, grads in blocked:
        torch.testing.assert_close(out, plain, **EXACT)
        for (name, _), g, expected in zip(att.named_parameters(), grads[1:], plain_grads[1:]):
            torch.testing.assert_close(g, expected, **EXACT, msg=lambda m: f"{name}: {m}")
        torch.testing.assert_close(grads[0], plain_grads[0], **EXACT)


def test_blocked_attention_differentiates_twice_through_the_pair_features():
    """Pair features that need a gradient (a Hamiltonian network differentiates the energy in
    the coordinates, then trains on that gradient) take the plain path: a second derivative
    through the pair features is the plain path's."""
    att = make_attention()
    values, pairs, idx, mask = attention_inputs(L=7, K=3)
    pairs.requires_grad_(True)
    second = []
    for block_pairs in (0, 3):
        att.block_pairs = block_pairs
        (g,) = torch.autograd.grad(att(values, pairs, idx, mask).square().sum(), pairs, create_graph=True)
        second.append(torch.autograd.grad(g.square().sum(), att.location_in.weight)[0])
    torch.testing.assert_close(second[1], second[0], **EXACT)


def test_attention_refuses_negative_blocks():
    with pytest.raises(ValueError, match="block_pairs"):
        LieSelfAttention(8, 4, heads=2, block_pairs=-1)


@pytest.mark.parametrize("normalisation", NORMALISATIONS)
def test_normalisation_weights_are_as_documented(normalisation):
    """softmax: positive, summing to 1 over each query's valid neighbours (per head), ratios
    exp(e_j − e_k); "dot-product": e_j / (number of valid neighbours), so they sum to the mean
    logit; "none": e_j. Invalid pairs weigh 0 in all three."""
    att = make_attention(normalisation=normalisation)
    values, pairs, idx, mask = attention_inputs(L=6, K=5, seed=1)
    logits = att.logits(values, pairs, idx)
    w = att.weights(logits, mask)
    m = mask.unsqueeze(-1).expand_as(w)
    assert (w[~m] == 0).all()
    count = mask.sum(-1, keepdim=True).unsqueeze(-1).to(F64)  # (B, L, 1, 1)
    has = (count > 0).squeeze(-1).squeeze(-1)  # queries with a valid pair
    total = w.sum(2)  # (B, L, H)
    if normalisation == "softmax":
        assert (w[m] > 0).all()
        torch.testing.assert_close(total[has], torch.ones_like(total[has]), atol=1e-14, rtol=0)
        b, i, k = mask.nonzero()[0].tolist()  # ratios against one valid neighbour of that query
        same = mask[b, i]
        ratio = w[b, i][same] / w[b, i, k]
        torch.testing.assert_close(ratio, (logits[b, i][same] - logits[b, i, k]).exp(), **EXACT)
    elif normalisation == "dot-product":
        mean_logit = (logits * m).sum(2) / count.squeeze(-1).clamp_min(1)
        torch.testing.assert_close(total[has], mean_logit[has], **EXACT)
        torch.testing.assert_close(w[m], (logits / count.clamp_min(1)).expand_as(w)[m], **EXACT)
    else:
        torch.testing.assert_close(w[m], logits[m], atol=0, rtol=0)
    assert (total[~has] == 0).all()


def test_softmax_attention_averages_equal_values():
    """With softmax weights summing to 1 over the neighbourhood, a query whose neighbours all
    carry the same features v gets W_O·W_V·v + b_O whatever the pair features."""
    att = make_attention()
    values, pairs, idx, mask = attention_inputs(seed=2)
    B, L, C = values.shape
    same = torch.randn(C, generator=torch.Generator().manual_seed(3), dtype=F64)
    values[:] = same  # every point carries v (so every neighbourhood is constant)
    out = att(values, pairs, idx, mask)
    expected = affine(affine(same, att.to_v.weight, None), att.to_out.weight, att.to_out.bias)
    has = mask.any(-1)
    torch.testing.assert_close(out[has], expected.expand(int(has.sum()), C), **EXACT)
    torch.testing.assert_close(out[~has], att.to_out.bias.expand(int((~has).sum()), C), **EXACT)


@pytest.mark.parametrize("combination", COMBINATIONS)
def test_combination_formula(combination):
    """e(f, ℓ) = content(f) + location(ℓ) ("sum") or content(f)·location(ℓ) ("multiply"): for two
    feature sets f, f' and two pair-feature sets ℓ, ℓ', e(f,ℓ) + e(f',ℓ') = e(f,ℓ') + e(f',ℓ),
    respectively e(f,ℓ)·e(f',ℓ') = e(f,ℓ')·e(f',ℓ). The MLP combination satisfies neither (the
    check can fail)."""
    for content, location in itertools.product(CONTENTS, LOCATIONS):
        att = make_attention(content, location, combination)
        f, ell, idx, _ = attention_inputs(seed=4)
        f2, ell2, _, _ = attention_inputs(seed=5)
        e = {(a, b): att.logits(x, y, idx) for (a, x), (b, y) in itertools.product([(0, f), (1, f2)], [(0, ell), (1, ell2)])}
        additive = e[0, 0] + e[1, 1] - e[0, 1] - e[1, 0]
        multiplicative = e[0, 0] * e[1, 1] - e[0, 1] * e[1, 0]
        if combination == "sum":
            torch.testing.assert_close(additive, torch.zeros_like(additive), atol=1e-12, rtol=0)
            assert multiplicative.abs().max() > 1e-2
        elif combination == "multiply":
            torch.testing.assert_close(multiplicative, torch.zeros_like(multiplicative), atol=1e-12, rtol=0)
            assert additive.abs().max() > 1e-2
        else:
            assert additive.abs().max() > 1e-3 and multiplicative.abs().max() > 1e-3


# ---------------------------------------------------------------------------- dense LieTransformer
@pytest.mark.parametrize("combination,normalisation,pool", [
    ("sum", "softmax", "mean"), ("multiply", "dot-product", "sum"), ("sum", "none", "mean"),
])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_lietransformer_with_every_pair_equals_dense_attention(combination, normalisation, pool, train):
    """nbhd = all lifted points: the sparse model equals a dense all-pairs forward written with
    (B, H, L, L) matrices (what the original LieTransformer computes), padding included."""
    torch.manual_seed(0)
    group = make_group("SE2")
    B, N, S = 2, 7, 2
    model = LieTransformer(3, 4, group, dim=8, num_layers=2, heads=2, nbhd=N * S, kernel_dim=4, lift_samples=S,
                           combination=combination, normalisation=normalisation, pool=pool).double().train(train)
    randomise(model, seed=6, scale=0.4)
    gen = torch.Generator().manual_seed(7)
    x = random_coords(group, (B, N), gen, F64)
    v = torch.randn(B, N, 3, generator=gen, dtype=F64)
    mask = torch.ones(B, N, dtype=torch.bool)
    mask[1, -3:] = False
    h = group.sample_stabilizer((B, N, S), generator=gen, dtype=F64)
    sparse = model(x, v, mask, stabilizer=h, generator=torch.Generator().manual_seed(0))
    dense = dense_lietransformer(model, x, v, mask, h)
    torch.testing.assert_close(sparse, dense, **EXACT)


# ------------------------------------------------------------------------------------------ pooling
@pytest.mark.parametrize("kind", ["mean", "sum", "max"])
def test_masked_pool_matches_a_loop(kind):
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(3, 6, 4, generator=gen, dtype=F64)
    mask = torch.rand(3, 6, generator=gen) < 0.6
    mask[:, 0] = True
    out = masked_pool(x, mask, kind)
    for b in range(3):
        rows = [x[b, n] for n in range(6) if mask[b, n]]
        expected = {"mean": sum(rows) / len(rows), "sum": sum(rows), "max": torch.stack(rows).amax(0)}[kind]
        torch.testing.assert_close(out[b], expected, **EXACT)


def resnet_batch(N_small=9, N_big=16, seed=9):
    group = make_group("SE2")
    gen = torch.Generator().manual_seed(seed)
    x = random_coords(group, (2, N_big), gen, F64)
    v = torch.randn(2, N_big, 3, generator=gen, dtype=F64)
    mask = torch.ones(2, N_big, dtype=torch.bool)
    mask[0, N_small:] = False
    h = group.sample_stabilizer((2, N_big, 1), generator=gen, dtype=F64)
    return group, x, v, mask, h


@pytest.mark.parametrize("pool", ["mean", "sum", "max"])
def test_lieresnet_pools_only_the_valid_subsampled_points(pool):
    """A set's prediction (eval mode) does not depend on the other sets of its batch. After FPS a
    row with fewer points than its batch partner has padding *slots* (the padding-invariance test
    never creates them: extra input padding leaves every row's slot count unchanged); pooling
    must skip them."""
    torch.manual_seed(0)
    group, x, v, mask, h = resnet_batch()
    model = LieResNet(3, 2, group, k=16, num_layers=3, nbhd=5, fill=0.5, total_ds=0.3, pool=pool).double().eval()
    randomise(model, seed=10, scale=0.3)
    both = model(x, v, mask, stabilizer=h, generator=torch.Generator().manual_seed(0))
    n = int(mask[0].sum())
    alone = model(x[:1, :n], v[:1, :n], mask[:1, :n], stabilizer=h[:1, :n], generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(both[:1], alone, **EXACT)


def test_lieresnet_layers_subsample_by_greedy_fps_prefixes():
    """Through the model: the first layer's queries are a greedy FPS of the lifted input (in the
    group distance, brute force), each later layer's are the first round(ds·n) points of its input
    — which is that input's own greedy FPS from its first point — in every row, padding included;
    the queries carry their input's elements and orbit ids."""
    torch.manual_seed(0)
    group, x, v, mask, h = resnet_batch()
    model = LieResNet(3, 2, group, k=16, num_layers=3, nbhd=5, fill=0.5, total_ds=0.3, lift_samples=1).double().train()
    ds = 0.3 ** (1 / 3)
    records = []
    for conv in (m for m in model.modules() if isinstance(m, LieConv)):
        conv.register_forward_hook(lambda mod, args, out: records.append((args[0], out)))
    model(x, v, mask, stabilizer=h, generator=torch.Generator().manual_seed(0))
    assert len(records) == 3
    for layer, (inp, out) in enumerate(records):
        for b in range(2):
            n = int(inp.mask[b].sum())
            valid = inp.mask[b].nonzero().flatten()
            m = int(out.mask[b].sum())
            assert m == max(1, round(ds * n)) and out.mask[b, :m].all()
            ua, qa = inp.elements[b, valid][None], inp.orbits[b, valid][None]
            d = group.distance(ua, qa, ua, qa)[0].numpy()
            # which input point each query is (elements are distinct)
            chosen = [int((inp.elements[b, valid] - out.elements[b, s]).abs().flatten(1).sum(-1).argmin()) for s in range(m)]
            torch.testing.assert_close(out.elements[b, :m], inp.elements[b, valid[chosen]], atol=0, rtol=0)
            torch.testing.assert_close(out.orbits[b, :m], inp.orbits[b, valid[chosen]], atol=0, rtol=0)
            assert chosen == greedy_fps(d, chosen[0], m), (layer, b)
            if layer > 0:
                assert chosen == list(range(m)), (layer, b)  # the prefix of an FPS-ordered input
