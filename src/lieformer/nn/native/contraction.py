"""LieConv's neighbour contraction of contraction.cpp, through ctypes: (B, M, m·c) sums of the
valid pairs' kernel values (n_valid, m) ⊗ their neighbours' rows of f (B, L, c), and its backward."""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor

from . import hidden_from_compile, load_library

_ABI = 1
_NAME = "lieformer_contraction_v5"  # bump with any change of contraction.cpp (names the cached build)


def _setup(lib: ctypes.CDLL) -> None:
    p, i32 = ctypes.c_void_p, ctypes.c_int
    for suffix in ("float", "double"):
        fwd = getattr(lib, f"lieformer_contraction_forward_{suffix}")
        fwd.argtypes = [p] * 6 + [i32, i32, p]
        fwd.restype = None
        bwd = getattr(lib, f"lieformer_contraction_backward_{suffix}")
        bwd.argtypes = [p] * 6 + [i32, i32] + [p] * 3
        bwd.restype = None
    if lib.lieformer_contraction_abi_version() != _ABI:
        raise RuntimeError("stale build of contraction.cpp")


def contraction_library() -> ctypes.CDLL | None:
    return load_library(_NAME, "contraction.cpp", _setup, flags=("-march=native", "-fopenmp-simd"))


def supported(values: Tensor, w: Tensor) -> bool:
    """CPU tensors of one float dtype (float32 or float64), and the library builds."""
    return (values.device.type == "cpu" and w.device == values.device and values.dtype == w.dtype
            and values.dtype in (torch.float32, torch.float64) and contraction_library() is not None)


def _arguments(values, w, idx, mask, offsets):
    B, M, K = idx.shape
    dims = torch.tensor([B, M, K, values.shape[1], w.shape[1], values.shape[2]], dtype=torch.int64)
    tensors = [values.contiguous(), w.contiguous(), idx.contiguous(), mask.contiguous(), offsets.contiguous(), dims]
    return tensors, [t.data_ptr() for t in tensors]


def _function(kind: str, dtype: torch.dtype):
    return getattr(contraction_library(), f"lieformer_contraction_{kind}_{'float' if dtype == torch.float32 else 'double'}")


@hidden_from_compile  # a ctypes call writes `out`: dynamo must not trace it
def forward(values: Tensor, w: Tensor, idx: Tensor, mask: Tensor, offsets: Tensor, mean: bool) -> Tensor:
    """values (B, L, c), w (n_valid, m), idx / mask (B, M, K), offsets (B·M + 1) → (B, M, m·c)."""
    tensors, pointers = _arguments(values, w, idx, mask, offsets)
    B, M, _ = idx.shape
    out = values.new_empty(B, M, w.shape[1] * values.shape[2])
    _function("forward", values.dtype)(*pointers, int(mean), torch.get_num_threads(), out.data_ptr())
    return out


@hidden_from_compile
def backward(values: Tensor, w: Tensor, idx: Tensor, mask: Tensor, offsets: Tensor, mean: bool,
             grad: Tensor) -> tuple[Tensor, Tensor]:
    """(gradient of values (B, L, c), gradient of w (n_valid, m)) given grad (B, M, m·c)."""
    tensors, pointers = _arguments(values, w, idx, mask, offsets)
    grad = grad.contiguous()
    g_values, g_w = torch.zeros_like(tensors[0]), torch.empty_like(tensors[1])
    _function("backward", values.dtype)(*pointers, int(mean), torch.get_num_threads(), grad.data_ptr(),
                                         g_w.data_ptr(), g_values.data_ptr())
    return g_values, g_w
