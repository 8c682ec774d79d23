"""Native (C++) kernels, JIT-compiled on first use with torch.utils.cpp_extension into torch's
extension cache and called through ctypes; every one has a pure-PyTorch fallback.

LIEFORMER_NATIVE=0 forces the fallbacks. Without a compiler (or ninja), or when the build fails,
the fallbacks run after one warning. The sources include no torch header: the first build takes
about a second.
"""

from __future__ import annotations

import ctypes
import os
import warnings
from pathlib import Path

_SOURCE = Path(__file__).with_name("fps.cpp")
_NAME = "lieformer_fps_v6"  # bump with any change of the C ABI below
_library: ctypes.CDLL | None = None
_failed = False


def native_enabled() -> bool:
    """False when LIEFORMER_NATIVE is 0 / false / no / off (the fallbacks then always run)."""
    return os.environ.get("LIEFORMER_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")


def _build() -> ctypes.CDLL:
    from torch.utils import cpp_extension

    path = cpp_extension.load(
        name=_NAME, sources=[str(_SOURCE)], extra_cflags=["-O3", "-std=c++17", "-ffp-contract=off"], is_python_module=False,
        verbose=False,
    )
    lib = ctypes.CDLL(path)
    for fn in (lib.lieformer_fps_float, lib.lieformer_fps_double):
        fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int] + [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 3 + [
            ctypes.c_double, ctypes.c_void_p]
        fn.restype = None
    for fn in (lib.lieformer_distance_row_float, lib.lieformer_distance_row_double):
        fn.argtypes = [ctypes.c_void_p] + [ctypes.c_int64] * 3 + [ctypes.c_int, ctypes.c_void_p]
        fn.restype = None
    if lib.lieformer_fps_abi_version() != 5:
        raise RuntimeError("stale build of the FPS kernel")
    return lib


def fps_library() -> ctypes.CDLL | None:
    """The compiled FPS kernel (fps.cpp), or None: disabled by LIEFORMER_NATIVE=0, or the build
    failed (one warning, then the PyTorch loop for the rest of the process)."""
    global _library, _failed
    if not native_enabled() or _failed:
        return None
    if _library is None:
        try:
            _library = _build()
        except Exception as err:  # no compiler, no ninja, a failed build: fall back, once, loudly
            _failed = True
            warnings.warn(f"lieformer: the native FPS kernel could not be built ({type(err).__name__}: "
                          f"{str(err).strip().splitlines()[-1] if str(err).strip() else ''}); using the PyTorch "
                          "loop (set LIEFORMER_NATIVE=0 to silence this)", RuntimeWarning, stacklevel=3)
            return None
    return _library
