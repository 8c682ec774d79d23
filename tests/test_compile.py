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
