"""The kNN selection of knn.cpp, through ctypes: the same choice as neighbourhood._knn_select's
tensor code (which stays the fallback), row by row without (B, m, X) temporaries."""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor

from . import hidden_from_compile, load_library

_ABI = 1
_NAME = "lieformer_knn_v1"  # bump with any change of knn.cpp (names the cached build)


def _setup(lib: ctypes.CDLL) -> None:
    p, i64 = ctypes.c_void_p, ctypes.c_int64
    for suffix in ("float", "double"):
        fn = getattr(lib, f"lieformer_knn_select_{suffix}")
        fn.argtypes = [p] * 5 + [i64] * 7 + [ctypes.c_int] + [p] * 3
        fn.restype = None
    if lib.lieformer_knn_abi_version() != _ABI:
        raise RuntimeError("stale build of knn.cpp")


def knn_library() -> ctypes.CDLL | None:
    return load_library(_NAME, "knn.cpp", _setup)


@hidden_from_compile  # a ctypes call writes the outputs: dynamo must not trace it
def knn_select(d: Tensor, valid: Tensor, scale: Tensor, seed: int, query: Tensor, keys: Tensor, C: int, K: int):
    """(near (B, m, K), keep (B, m, K), last (B, m)) as _knn_select returns them, or None where the
    kernel does not apply (not CPU, not float32/64, fewer than K keys, or no library)."""
    B, m, X = d.shape
    if (d.device.type != "cpu" or d.dtype not in (torch.float32, torch.float64) or X < K or K < 1
            or keys.shape[:2] not in ((1, 1), (B, m)) or knn_library() is None):
        return None
    d, valid = d.contiguous(), valid.expand(B, m, X).contiguous()
    keys = keys.to(torch.int64).contiguous()
    stride = 0 if keys.shape[:2] == (1, 1) else X
    scale = scale.to(torch.float64).reshape(B).contiguous()
    query = query.to(torch.int64).expand(B, m, 1).contiguous()
    near = torch.empty(B, m, K, dtype=torch.int64)
    keep = torch.empty(B, m, K, dtype=torch.bool)
    last = torch.empty(B, m, dtype=torch.float64)
    fn = getattr(knn_library(), f"lieformer_knn_select_{'float' if d.dtype == torch.float32 else 'double'}")
    fn(d.data_ptr(), valid.data_ptr(), scale.data_ptr(), query.data_ptr(), keys.data_ptr(), stride, B, m, X, C, K,
       seed, torch.get_num_threads(), near.data_ptr(), keep.data_ptr(), last.data_ptr())
    return near, keep, last
