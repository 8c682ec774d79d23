"""Native (C++) kernels, JIT-compiled on first use with torch.utils.cpp_extension into torch's
extension cache and called through ctypes; every one has a pure-PyTorch fallback that the tests
compare it with.

LIEFORMER_NATIVE=0 forces the fallbacks. Without a compiler (or ninja), or when the build fails,
the fallbacks run after one warning. The sources include no torch header: a build takes seconds.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import warnings
from pathlib import Path
from typing import Callable

_libraries: dict[str, ctypes.CDLL | None] = {}


def hidden_from_compile(fn: Callable) -> Callable:
    """fn behind torch.compiler.disable (a ctypes call writes tensors that dynamo would take for
    untouched), applied only while torch.compile traces: decorating at import time would import
    torch._dynamo with lieformer — about a second and 70 MB of memory that eager use never needs."""
    import torch

    disabled: list[Callable] = []

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if torch.compiler.is_compiling():
            if not disabled:
                disabled.append(torch.compiler.disable(fn))
            return disabled[0](*args, **kwargs)
        return fn(*args, **kwargs)

    return wrapper


def native_enabled() -> bool:
    """False when LIEFORMER_NATIVE is 0 / false / no / off (the fallbacks then always run)."""
    return os.environ.get("LIEFORMER_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")


def _cpu_tag() -> str:
    """A short tag of this CPU's model and instruction-set flags: builds for -march=native are
    cached per CPU, so a home directory shared by different machines never runs another's code."""
    text = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            lines = [line for line in f if line.startswith(("model name", "flags"))]
        text += "".join(sorted(set(lines)))
    except OSError:
        text += platform.processor()
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def load_library(name: str, source: str, setup: Callable[[ctypes.CDLL], None], flags: tuple[str, ...] = ()) -> ctypes.CDLL | None:
    """The compiled `source` (a file beside this module) as a ctypes library, or None: disabled by
    LIEFORMER_NATIVE=0, or the build failed (one warning, then None for the rest of the process).
    `setup` declares the argument types and checks the ABI version; `name` names the build."""
    if not native_enabled():
        return None
    if name not in _libraries:
        try:
            from torch.utils import cpp_extension

            build = f"{name}_{_cpu_tag()}" if "-march=native" in flags else name
            path = cpp_extension.load(name=build, sources=[str(Path(__file__).with_name(source))],
                                      extra_cflags=["-O3", "-std=c++17", *flags], extra_ldflags=["-pthread"],
                                      is_python_module=False, verbose=False)
            lib = ctypes.CDLL(path)
            setup(lib)
            _libraries[name] = lib
        except Exception as err:  # no compiler, no ninja, a failed build: fall back, once, loudly
            _libraries[name] = None
            message = str(err).strip().splitlines()[-1] if str(err).strip() else ""
            warnings.warn(f"lieformer: the native kernel {source} could not be built ({type(err).__name__}: {message}); "
                          "using the PyTorch fallback (set LIEFORMER_NATIVE=0 to silence this)", RuntimeWarning, stacklevel=3)
    return _libraries[name]
