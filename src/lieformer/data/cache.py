"""The data cache every data set shares: arrays built once (generated, or downloaded and
preprocessed) and kept as .npz files named by a hash of what built them.

    arrays = cached_arrays("constellation", {"n": 1000, "seed": 0}, lambda: generate(...))

- Where (`cache_dir`): the argument (a data module's `cache_dir`), else $LIEFORMER_CACHE, else
  $XDG_CACHE_HOME/lieformer, i.e. ~/.cache/lieformer: never the package nor the current
  directory, so an installed or read-only checkout is never written to.
- Key (`cache_key`): sha256 of the canonical JSON of (kind, params, FORMAT_VERSION). Different
  parameters give different files; the same parameters load the file without building.
- Atomic: each entry is written to a temporary file in its folder (`.<name>.<random>.tmp`),
  synced, then renamed over its name (os.replace), so a reader sees the whole file or none; a
  killed writer leaves only its hidden .tmp file (safe to delete).
- Checked: an entry stores its kind, parameters, array names and a sha256 of the arrays. One that
  cannot be read or does not match (truncated, corrupt, another entry's) is reported with a
  warning and rebuilt, never used.
- A folder that cannot be written is reported (warning) and skipped: the arrays are built and
  used, just not kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Callable, Mapping
from typing import BinaryIO
from pathlib import Path

import numpy as np

#: the environment variable naming the cache folder
ENV_VAR = "LIEFORMER_CACHE"
#: bump when the layout of a cache file changes: older files then miss, never mislead
FORMAT_VERSION = 1
_META = "__lieformer_cache__"


class CorruptCacheEntry(Exception):
    """A cache file that cannot be trusted: it is rebuilt."""


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The cache folder: `override` if given, else $LIEFORMER_CACHE, else $XDG_CACHE_HOME/lieformer
    (an absolute XDG_CACHE_HOME only, as the XDG spec says), else ~/.cache/lieformer."""
    if override is not None and str(override) != "":
        return Path(override).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "lieformer"


def _canonical(kind: str, params: Mapping) -> str:
    try:
        return json.dumps({"kind": kind, "params": params, "format": FORMAT_VERSION},
                          sort_keys=True, separators=(",", ":"))
    except TypeError as err:  # e.g. a NumPy scalar or a Path among the parameters
        raise TypeError(f"cache parameters of {kind!r} must be JSON values (str, int, float, bool, None, "
                        f"lists, dicts): {err}") from None


def cache_key(kind: str, params: Mapping) -> str:
    """16 hex digits of sha256(canonical JSON of kind, params and FORMAT_VERSION)."""
    return hashlib.sha256(_canonical(kind, params).encode()).hexdigest()[:16]


def cache_path(kind: str, params: Mapping, directory: str | os.PathLike | None = None) -> Path:
    """Where the entry of (kind, params) lives: <cache_dir(directory)>/<kind>-<cache_key>.npz."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", kind):
        raise ValueError(f"cache kind must be a plain name (letters, digits, _ . -), got {kind!r}")
    return cache_dir(directory) / f"{kind}-{cache_key(kind, params)}.npz"


def _checksum(arrays: Mapping[str, np.ndarray]) -> str:
    """sha256 over each array's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(json.dumps([name, a.dtype.str, list(a.shape)]).encode())
        digest.update(a.reshape(-1).view(np.uint8))
    return digest.hexdigest()


def cached_arrays(kind: str, params: Mapping, build: Callable[[], Mapping[str, np.ndarray]],
                  directory: str | os.PathLike | None = None, compress: bool = True) -> dict[str, np.ndarray]:
    """build()'s arrays for (kind, params): loaded from the cache when a sound entry is there,
    else built and stored (atomically; module docstring). `params` must be everything build()
    depends on, as JSON values; `directory` overrides the cache folder (cache_dir)."""
    path = cache_path(kind, params, directory)
    expected = _canonical(kind, params)
    if path.exists():
        try:
            return _load(path, expected)
        except CorruptCacheEntry as err:
            warnings.warn(f"lieformer: the data cache entry {path} is unusable ({err}): rebuilding it", stacklevel=2)
    arrays = {name: np.asarray(a) for name, a in build().items()}
    if _META in arrays or not arrays:
        raise ValueError(f"{kind}: build() must return a non-empty dict of arrays, none named {_META!r}")
    objects = [name for name, a in arrays.items() if a.dtype.hasobject]
    if objects:
        raise TypeError(f"{kind}: cannot cache arrays of Python objects ({', '.join(objects)}): use numeric arrays")
    try:
        _store(path, arrays, {"key": expected, "arrays": sorted(arrays), "sha256": _checksum(arrays)}, compress)
    except OSError as err:  # read-only or full disk: the data are still good, only not kept
        warnings.warn(f"lieformer: cannot write the data cache {path} ({err}); continuing without it. "
                      f"Set {ENV_VAR} or the data's cache_dir to a writable folder.", stacklevel=2)
    return arrays


def _load(path: Path, expected: str) -> dict[str, np.ndarray]:
    """The arrays of a cache file, checked against its stored key, names and checksum."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if _META not in f.files:
                raise CorruptCacheEntry("no cache metadata")
            meta = json.loads(str(f[_META]))
            if meta.get("key") != expected:
                raise CorruptCacheEntry("it holds another entry's parameters")
            names = list(meta.get("arrays", []))
            if sorted(set(f.files) - {_META}) != sorted(names):
                raise CorruptCacheEntry(f"arrays {sorted(set(f.files) - {_META})}, expected {sorted(names)}")
            arrays = {name: f[name] for name in names}
    except CorruptCacheEntry:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise CorruptCacheEntry(f"{type(err).__name__}: {err}") from err
    if _checksum(arrays) != meta.get("sha256"):
        raise CorruptCacheEntry("checksum mismatch")
    return arrays


def _store(path: Path, arrays: Mapping[str, np.ndarray], meta: dict, compress: bool) -> None:
    atomic_write(path, lambda f: _write_npz(f, {**arrays, _META: np.array(json.dumps(meta))}, compress))


def atomic_write(path: Path, write: Callable[[BinaryIO], object], mode: int | None = None) -> None:
    """write(f) into a temporary file in path's folder (created if needed), synced, then renamed
    over `path`: a reader sees the whole file or none, and a failed or killed writer leaves only a
    hidden .tmp file (removed on failure). mode: the new file's permissions (None: mkstemp's 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _write_npz(f, arrays: Mapping[str, np.ndarray], compress: bool) -> None:
    (np.savez_compressed if compress else np.savez)(f, **arrays)
