"""The greedy farthest-point loop of fps.cpp, through ctypes (see subsampling._native_fps)."""

from __future__ import annotations

import ctypes

from . import load_library

_ABI = 6
_NAME = "lieformer_fps_v7"  # bump with any change of fps.cpp (names the cached build)


def _setup(lib: ctypes.CDLL) -> None:
    for fn in (lib.lieformer_fps_float, lib.lieformer_fps_double):
        fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_void_p, ctypes.c_double, ctypes.c_double] + [
            ctypes.c_void_p] * 3 + [ctypes.c_int64] * 3 + [ctypes.c_double, ctypes.c_void_p]
        fn.restype = None
    for fn in (lib.lieformer_distance_row_float, lib.lieformer_distance_row_double):
        fn.argtypes = [ctypes.c_void_p] + [ctypes.c_int64] * 3 + [ctypes.c_int, ctypes.c_void_p]
        fn.restype = None
    if lib.lieformer_fps_abi_version() != _ABI:
        raise RuntimeError("stale build of the FPS kernel")


def fps_library() -> ctypes.CDLL | None:
    """The compiled FPS kernel (fps.cpp), or None: disabled by LIEFORMER_NATIVE=0, or the build
    failed (one warning, then the PyTorch loop for the rest of the process)."""
    return load_library(_NAME, "fps.cpp", _setup, flags=("-ffp-contract=off",))
