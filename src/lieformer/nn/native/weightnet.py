"""LieConv's kernel MLP (WeightNet: Linear → BatchNorm → Swish, layer after layer) of weightnet.cpp,
through ctypes: forward keeping only each layer's pre-activations, and the backward from them."""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor, nn

from . import hidden_from_compile, load_library

_ABI = 1
_NAME = "lieformer_weightnet_v8"  # bump with any change of weightnet.cpp (names the cached build)


def _setup(lib: ctypes.CDLL) -> None:
    p, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    for suffix in ("float", "double"):
        fwd = getattr(lib, f"lieformer_weightnet_forward_{suffix}")
        fwd.argtypes = [i64, i64] + [p] * 9 + [i32, ctypes.c_double, i32, p]
        fwd.restype = None
        bwd = getattr(lib, f"lieformer_weightnet_backward_{suffix}")
        bwd.argtypes = [i64, i64] + [p] * 10 + [i32, i32] + [p] * 4
        bwd.restype = None
    if lib.lieformer_weightnet_abi_version() != _ABI:
        raise RuntimeError("stale build of weightnet.cpp")


def weightnet_library() -> ctypes.CDLL | None:
    return load_library(_NAME, "weightnet.cpp", _setup, flags=("-march=native", "-fopenmp-simd"))


def supported(x: Tensor, linears: nn.ModuleList, norms: nn.ModuleList | None) -> bool:
    """CPU float32 / float64 rows that need no gradient, BatchNorm after every Linear, the library."""
    return (norms is not None and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
            and not x.requires_grad and all(p.dtype == x.dtype and p.device == x.device
                                            for m in (*linears, *norms) for p in m.parameters())
            and len({bn.eps for bn in norms}) == 1 and weightnet_library() is not None)


def _pointers(tensors: list[Tensor]):
    return (ctypes.c_void_p * len(tensors))(*[t.data_ptr() for t in tensors])


class Saved:
    """What the backward pass needs: the pre-activations z_l (n, width_l) of every layer but the last
    (the backward recomputes that one) and every layer's statistics."""

    def __init__(self, zs: list[Tensor], means: list[Tensor], invstds: list[Tensor]):
        self.zs, self.means, self.invstds = zs, means, invstds


def _parameters(linears, norms) -> dict[str, list[Tensor]]:
    return {"wt": [lin.weight.detach().t().contiguous() for lin in linears],
            "bias": [lin.bias.detach().contiguous() for lin in linears],
            "gamma": [bn.weight.detach().contiguous() for bn in norms],
            "beta": [bn.bias.detach().contiguous() for bn in norms]}


class _Network:
    """The arguments both kernels start with — n, layers, widths, rows, the parameters' pointer
    arrays — and the tensors behind those pointers, held while a kernel runs."""

    def __init__(self, x: Tensor, linears: nn.ModuleList, norms: nn.ModuleList, kind: str):
        self.x = x.contiguous()
        self.n = self.x.shape[0]
        self.widths = [self.x.shape[1]] + [lin.out_features for lin in linears]
        self.params = _parameters(linears, norms)
        self.width = torch.tensor(self.widths, dtype=torch.int64)
        suffix = "float" if x.dtype == torch.float32 else "double"
        self.kernel = getattr(weightnet_library(), f"lieformer_weightnet_{kind}_{suffix}")
        self.arguments = [self.n, len(linears), self.width.data_ptr(), self.x.data_ptr(),
                          *[_pointers(self.params[k]) for k in ("wt", "bias", "gamma", "beta")]]


@hidden_from_compile
def forward(x: Tensor, linears: nn.ModuleList, norms: nn.ModuleList, train: bool) -> tuple[Tensor, Saved]:
    """(h_L (n, m), Saved). train: batch statistics (Saved's means / invstds, float64), else the
    running ones."""
    net = _Network(x, linears, norms, "forward")
    eps = norms[0].eps
    zs = [x.new_empty(net.n, o) for o in net.widths[1:]]
    if train:
        means = [torch.empty(o, dtype=torch.float64) for o in net.widths[1:]]
        invstds = [torch.empty(o, dtype=torch.float64) for o in net.widths[1:]]
    else:
        means = [bn.running_mean.to(torch.float64).contiguous() for bn in norms]
        invstds = [(bn.running_var.to(torch.float64) + eps).rsqrt().contiguous() for bn in norms]
    h = x.new_empty(net.n, net.widths[-1])
    net.kernel(*net.arguments, _pointers(zs), _pointers(means), _pointers(invstds), int(train), float(eps),
               torch.get_num_threads(), h.data_ptr())
    return h, Saved(zs[:-1], means, invstds)


@hidden_from_compile
def backward(x: Tensor, linears: nn.ModuleList, norms: nn.ModuleList, saved: Saved, grad: Tensor,
             train: bool) -> list[Tensor]:
    """Gradients [dW_1, db_1, dγ_1, dβ_1, dW_2, …] of every layer's Linear and BatchNorm, given
    the output's gradient grad (n, m); train: the statistics were the batch's (they carry gradient)."""
    net = _Network(x, linears, norms, "backward")
    grad = grad.contiguous()
    params = net.params
    d = {"wt": [torch.zeros_like(t) for t in params["wt"]], "bias": [torch.zeros_like(t) for t in params["bias"]],
         "gamma": [torch.empty_like(t) for t in params["gamma"]], "beta": [torch.empty_like(t) for t in params["beta"]]}
    zs = [*saved.zs, x.new_empty(net.n, net.widths[-1])]  # the last layer's: recomputed there (held here while it runs)
    net.kernel(*net.arguments, _pointers(zs), _pointers(saved.means), _pointers(saved.invstds), grad.data_ptr(),
               int(train), torch.get_num_threads(), *[_pointers(d[k]) for k in ("wt", "bias", "gamma", "beta")])
    out = []
    for layer in range(len(linears)):
        out += [d["wt"][layer].t(), d["bias"][layer], d["gamma"][layer], d["beta"][layer]]
    return out
