"""torch.compile: compiled models match eager ones and stay exactly equivariant (DESIGN §6)."""

from __future__ import annotations

import pytest
import torch

from lieformer import LieResNet, LieTransformer, make_group
from lieformer.testing import assert_equivariant

from .conftest import random_coords


def check_compiled(model, group):
    gen = torch.Generator().manual_seed(0)
    x = random_coords(group, (2, 10), gen, torch.float32)
    v = torch.randn(2, 10, 3, generator=gen)
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, -2:] = False
    compiled = torch.compile(model)
    eager = model(x, v, mask, generator=torch.Generator().manual_seed(1))
    fast = compiled(x, v, mask, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(fast, eager, atol=1e-5, rtol=1e-5)
    assert_equivariant(compiled, group, (x, v, mask), rtol=2e-5)


def test_compiled_lietransformer_matches_eager_and_is_equivariant():
    group = make_group("SE2")
    torch.manual_seed(0)
    model = LieTransformer(3, 2, group, dim=16, heads=2, num_layers=1, nbhd=6, kernel_dim=8).eval()
    check_compiled(model, group)


@pytest.mark.slow
def test_compiled_lieresnet_matches_eager_and_is_equivariant():
    group = make_group("SE3")
    torch.manual_seed(0)
    model = LieResNet(3, 2, group, k=16, num_layers=1, nbhd=6, total_ds=0.5).eval()
    check_compiled(model, group)


def test_importing_lieformer_imports_no_dynamo():
    """The native kernels' wrappers hide them from torch.compile lazily: importing lieformer, or
    running a model eagerly, never imports torch._dynamo (about a second and 70 MB)."""
    import subprocess
    import sys

    code = """if True:
        import sys, torch, lieformer
        assert 'torch._dynamo' not in sys.modules, 'on import'
        model = lieformer.LieResNet(3, 2, 'SE2', k=16, num_layers=1, nbhd=4, total_ds=0.5, fill=0.5)
        model(torch.randn(2, 24, 2), torch.randn(2, 24, 3), torch.ones(2, 24, dtype=torch.bool)).sum().backward()
        assert 'torch._dynamo' not in sys.modules, 'in a training step'
    """
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]


@pytest.mark.slow
def test_native_kernels_run_behind_compile(monkeypatch):
    """A LieResNet whose sets are large enough for the native contraction (L > 4K) and whose SE2 lifts
    take the native FPS: compiled, the same as eager (the kernels run outside dynamo's graph), and
    exactly equivariant."""
    from lieformer.nn.native import contraction, fps

    if contraction.contraction_library() is None or fps.fps_library() is None:
        pytest.skip("the native kernels do not build here")
    group = make_group("SE2")
    torch.manual_seed(0)
    model = LieResNet(3, 2, group, k=16, num_layers=1, nbhd=4, total_ds=0.5, fill=0.5).eval()
    gen = torch.Generator().manual_seed(0)
    x = random_coords(group, (2, 24), gen, torch.float32)
    v = torch.randn(2, 24, 3, generator=gen)
    mask = torch.ones(2, 24, dtype=torch.bool)
    mask[1, -3:] = False
    calls = []
    original = contraction.forward
    monkeypatch.setattr(contraction, "forward", lambda *a: calls.append("contraction") or original(*a))
    compiled = torch.compile(model)
    eager = model(x, v, mask, generator=torch.Generator().manual_seed(1))
    fast = compiled(x, v, mask, generator=torch.Generator().manual_seed(1))
    assert "contraction" in calls
    torch.testing.assert_close(fast, eager, atol=1e-5, rtol=1e-5)
    assert_equivariant(compiled, group, (x, v, mask), rtol=2e-5)
