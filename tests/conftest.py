"""Shared fixtures: every numeric test runs in float32 and float64 (as e3nn does)."""

from __future__ import annotations

import pytest
import torch

from lieformer.groups import make_group

#: one spec per registered group (test_groups_common checks this list is complete)
GROUP_SPECS = [
    "Trivial(2)", "T(2)", "T(3)", "Tx", "Ty", "SO2", "Rx", "RxSO2", "SE2", "SE2Canonical(6)",
    "SO3", "SE3", "SQ", "RxSQ",
]
POSITIVE_QUADRANT = {"SQ", "RxSQ"}


@pytest.fixture(params=[torch.float32, torch.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


def tolerance(dtype) -> float:
    return 1e-5 if dtype == torch.float32 else 1e-10


def random_coords(group, shape, generator, dtype=torch.float64):
    """Points in the space the group acts on: R^d, or the open positive quadrant."""
    x = torch.randn(*shape, group.space_dim, generator=generator, dtype=dtype)
    if type(group).__name__ in POSITIVE_QUADRANT:
        x = x.exp()
    return x


def build(spec: str):
    return make_group(spec)


@pytest.fixture(autouse=True, scope="session")
def _data_cache_in_a_temporary_folder(tmp_path_factory):
    """The suite never writes to the user's data cache (~/.cache/lieformer): LIEFORMER_CACHE points
    to a temporary folder, inherited by the subprocesses tests start."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIEFORMER_CACHE", str(tmp_path_factory.mktemp("lieformer_cache")))
        yield
