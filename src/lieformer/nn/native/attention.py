"""The fused dot-product + location-MLP attention of attention.cpp, through ctypes: forward and
backward over (R, H, ·) row tables, pairs (R, K, P), neighbour rows idx (R, K) and mask (R, K)."""

from __future__ import annotations

import ctypes
import math

import torch
from torch import Tensor

from . import hidden_from_compile, load_library

_ABI = 1
_BUILD = 9  # bump with any change of attention.cpp (names the cached build)
_NORMALISATIONS = {"none": 0, "softmax": 1, "dot-product": 2}


def _setup(lib: ctypes.CDLL) -> None:
    p, dbl, i32 = ctypes.c_void_p, ctypes.c_double, ctypes.c_int
    for suffix in ("float", "double"):
        fwd = getattr(lib, f"lieformer_attention_forward_{suffix}")
        fwd.argtypes = [p] * 13 + [dbl, i32, i32, p]
        fwd.restype = None
        bwd = getattr(lib, f"lieformer_attention_backward_{suffix}")
        bwd.argtypes = [p] * 13 + [dbl, i32, i32] + [p] * 10
        bwd.restype = None
    if lib.lieformer_attention_abi_version() != _ABI:
        raise RuntimeError("stale build of attention.cpp")


def attention_library() -> ctypes.CDLL | None:
    return load_library(f"lieformer_attention_v{_BUILD}", "attention.cpp", _setup, flags=("-march=native", "-fopenmp-simd"))


def supported(*tensors: Tensor) -> bool:
    """CPU tensors of one float dtype (float32 or float64), and the library builds."""
    t0 = tensors[0]
    return (t0.device.type == "cpu" and t0.dtype in (torch.float32, torch.float64)
            and all(t.device.type == "cpu" and t.dtype == t0.dtype for t in tensors) and attention_library() is not None)


def _arguments(att, own, nb, v, pairs, idx, mask, params, L):
    w_in, b_in, w2, b2, w3, b3 = params
    R, K = idx.shape
    H, E = own.shape[1], own.shape[2]
    kd = w2.shape[1]
    tensors = [own.contiguous(), nb.contiguous(), v.contiguous(), pairs.contiguous(), idx.contiguous(),
               mask.contiguous(), w_in.t().contiguous(), b_in.contiguous(), w2.contiguous(), b2.contiguous(),
               w3.contiguous(), b3.contiguous()]
    dims = torch.tensor([R, L, K, H, E, v.shape[2], kd, pairs.shape[2]], dtype=torch.int64)
    return tensors, dims, [t.data_ptr() for t in tensors] + [dims.data_ptr()], (
        1.0 / math.sqrt(att.head_dim), _NORMALISATIONS[att.normalisation], torch.get_num_threads())


@hidden_from_compile  # a ctypes call writes `out`: dynamo must not trace it
def forward(att, own, nb, v, pairs, idx, mask, params, L) -> Tensor:
    """Σ_j w_ij^h v_j^h (R, H, d); L rows a sample (a query's neighbours lie in its sample)."""
    tensors, dims, pointers, scalars = _arguments(att, own, nb, v, pairs, idx, mask, params, L)
    out = v.new_empty(v.shape)
    suffix = "float" if v.dtype == torch.float32 else "double"
    getattr(attention_library(), f"lieformer_attention_forward_{suffix}")(*pointers, *scalars, out.data_ptr())
    return out


@hidden_from_compile
def backward(att, own, nb, v, pairs, idx, mask, params, L, grad) -> tuple[Tensor, ...]:
    """Gradients of own, nb, v and the six location parameters, given grad (R, H, d)."""
    tensors, dims, pointers, scalars = _arguments(att, own, nb, v, pairs, idx, mask, params, L)
    grad = grad.contiguous()
    g_rows = [own.new_zeros(own.shape), nb.new_zeros(nb.shape), v.new_zeros(v.shape)]
    w_in = params[0]
    g_params = [w_in.new_zeros(w_in.shape[1], w_in.shape[0])] + [p.new_zeros(p.shape) for p in params[1:]]
    suffix = "float" if v.dtype == torch.float32 else "double"
    getattr(attention_library(), f"lieformer_attention_backward_{suffix}")(
        *pointers, *scalars, grad.data_ptr(), *[t.data_ptr() for t in g_rows + g_params])
    g_params[0] = g_params[0].t()
    return (*g_rows, *g_params)
