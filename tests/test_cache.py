"""The shared data cache (lieformer.data.cache): content-hash keys, atomic writes, corrupt entries
detected and rebuilt, its location (argument, LIEFORMER_CACHE, XDG_CACHE_HOME, ~/.cache), and
nothing written into the package or the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lieformer.data import cache
from lieformer.data.cache import cache_dir, cache_path, cached_arrays
from lieformer.data.constellation import ConstellationConfig, ConstellationData, generate

REPO = Path(__file__).resolve().parents[1]


class Builder:
    """build() for cached_arrays that counts its calls; arrays depend on the seed."""

    def __init__(self, seed: int = 0, n: int = 500):
        self.seed, self.n, self.calls = seed, n, 0

    def __call__(self):
        self.calls += 1
        rng = np.random.default_rng(self.seed)
        return {"x": rng.normal(size=(self.n, 3)).astype(np.float32), "label": rng.integers(0, 5, self.n),
                "mask": rng.random(self.n) < 0.5}


def assert_same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype
        np.testing.assert_array_equal(a[k], b[k])


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.npz"))


def test_keys_are_content_hashes_same_parameters_reuse_without_building(tmp_path):
    build = Builder()
    first = cached_arrays("toy", {"n": 500, "noise": 0.1, "names": ["a", "b"]}, build, tmp_path)
    assert build.calls == 1 and entries(tmp_path) == [cache_path("toy", {"n": 500, "noise": 0.1, "names": ["a", "b"]}, tmp_path)]
    # the same parameters, given in another order: the same entry, loaded, not built
    again = cached_arrays("toy", {"names": ["a", "b"], "noise": 0.1, "n": 500}, build, tmp_path)
    assert build.calls == 1
    assert_same(again, first)
    # any parameter changed, even slightly, or another kind: another entry, built
    for kind, params in [("toy", {"n": 500, "noise": 0.1000001, "names": ["a", "b"]}),
                         ("toy", {"n": 500, "noise": 0.1, "names": ["b", "a"]}),
                         ("toy", {"n": 500, "noise": 0.1}),
                         ("other", {"n": 500, "noise": 0.1, "names": ["a", "b"]})]:
        cached_arrays(kind, params, build, tmp_path)
    assert build.calls == 5 and len(entries(tmp_path)) == 5
    with pytest.raises(TypeError, match="must be JSON values"):
        cached_arrays("toy", {"n": np.int64(3)}, build, tmp_path)
    with pytest.raises(ValueError, match="plain name"):
        cached_arrays("../escape", {}, build, tmp_path)


def test_constellation_uses_the_cache_keyed_by_every_parameter(tmp_path, monkeypatch):
    cfg = ConstellationConfig(n=30, seed=2)
    dm = ConstellationData(n_train=30, n_val=10, n_test=10, cache_dir=str(tmp_path))
    dm.prepare_data()
    assert len(entries(tmp_path)) == 3 and all(p.name.startswith("constellation-") for p in entries(tmp_path))
    calls = []
    import lieformer.data.constellation as constellation
    monkeypatch.setattr(constellation, "generate", lambda c: calls.append(c) or generate(c))
    dm.setup()  # the three splits come from the cache
    assert calls == [] and len(dm.train_set) == 30
    constellation.load_or_generate(cfg, tmp_path)
    constellation.load_or_generate(ConstellationConfig(n=30, seed=2, generator="original"), tmp_path)
    assert len(calls) == 2 and len(entries(tmp_path)) == 5


def test_write_is_atomic_no_partial_file_under_the_entry_name(tmp_path, monkeypatch):
    """While an entry is written, nothing is at its name (the bytes go to a temporary file in the
    same folder, renamed when complete); afterwards no temporary file is left."""
    path = cache_path("toy", {"n": 500}, tmp_path)
    seen = []
    write = cache._write_npz

    def watching(f, arrays, compress):
        write(f, arrays, compress)
        f.flush()
        (tmp,) = path.parent.iterdir()  # the only file: the temporary one, beside the entry's name
        seen.append((path.exists(), tmp.name.startswith(f".{path.name}.") and tmp.name.endswith(".tmp"),
                     zipfile.is_zipfile(tmp)))

    monkeypatch.setattr(cache, "_write_npz", watching)
    cached_arrays("toy", {"n": 500}, Builder(), tmp_path)
    assert seen == [(False, True, True)]
    assert path.is_file() and [p.name for p in tmp_path.iterdir()] == [path.name]


def test_an_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    def interrupted(f, arrays, compress):
        f.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(cache, "_write_npz", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cached_arrays("toy", {"n": 500}, Builder(), tmp_path)
    assert list(tmp_path.iterdir()) == []


KILLED_WRITER = textwrap.dedent("""
    import importlib.util, os, sys
    import numpy as np
    spec = importlib.util.spec_from_file_location("cache", sys.argv[2])  # the module alone: no torch to import
    cache = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cache)

    def killed(f, arrays, compress):
        np.savez(f, **arrays)
        f.flush()
        f.truncate(f.tell() // 2)   # half the archive on disk, then the process dies: no cleanup runs
        os._exit(9)

    cache._write_npz = killed
    rng = np.random.default_rng(0)
    n = 500
    cache.cached_arrays("toy", {"n": n}, lambda: {"x": rng.normal(size=(n, 3)).astype(np.float32),
                        "label": rng.integers(0, 5, n), "mask": rng.random(n) < 0.5}, sys.argv[1])
""")


def test_a_killed_write_leaves_no_corrupt_cache(tmp_path):
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(tmp_path), cache.__file__], capture_output=True,
                          text=True)
    assert proc.returncode == 9, proc.stderr[-2000:]
    path = cache_path("toy", {"n": 500}, tmp_path)
    leftovers = list(tmp_path.iterdir())
    assert not path.exists() and len(leftovers) == 1 and leftovers[0].name.endswith(".tmp")  # hidden, never read
    build = Builder()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean miss, not a corrupt entry
        data = cached_arrays("toy", {"n": 500}, build, tmp_path)
    assert build.calls == 1
    assert_same(data, Builder()())
    assert_same(cached_arrays("toy", {"n": 500}, build, tmp_path), data) and build.calls == 1


def _truncate_half(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _empty(path):
    path.write_bytes(b"")


def _flip_bytes(path):
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 2
    raw[middle: middle + 8] = bytes(b ^ 0xFF for b in raw[middle: middle + 8])
    path.write_bytes(bytes(raw))


def _not_a_zip(path):
    path.write_text("not a cache file")


def _valid_zip_changed_values(path):
    """A well-formed archive (zip CRCs right) whose arrays were changed after the checksum was taken."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["x"] = arrays["x"].copy()
    arrays["x"][3, 1] += 1.0
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _array_missing(path):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files if k != "label"}
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _another_entrys_file(path):
    other = cache_path("toy", {"n": 400}, path.parent)
    cached_arrays("toy", {"n": 400}, Builder(n=400), path.parent)
    shutil.copyfile(other, path)


def _plain_npz_without_metadata(path):
    with open(path, "wb") as f:
        np.savez(f, **Builder()())


@pytest.mark.parametrize("damage", [_truncate_half, _empty, _flip_bytes, _not_a_zip, _valid_zip_changed_values,
                                    _array_missing, _another_entrys_file, _plain_npz_without_metadata])
def test_a_corrupt_or_truncated_entry_is_detected_and_rebuilt(tmp_path, damage):
    params = {"n": 500}
    expected = cached_arrays("toy", params, Builder(), tmp_path, compress=False)
    path = cache_path("toy", params, tmp_path)
    damage(path)
    build = Builder()
    with pytest.warns(UserWarning, match=f"data cache entry {path} is unusable"):
        data = cached_arrays("toy", params, build, tmp_path)
    assert build.calls == 1  # rebuilt, not used
    assert_same(data, expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_same(cached_arrays("toy", params, build, tmp_path), expected)  # the rebuilt entry is sound
    assert build.calls == 1


def test_an_unwritable_cache_folder_is_reported_and_skipped(tmp_path):
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    build = Builder()
    with pytest.warns(UserWarning, match="cannot write the data cache .* continuing without it"):
        data = cached_arrays("toy", {"n": 500}, build, blocked / "cache")
    assert_same(data, Builder()()) and build.calls == 1


def test_location_argument_then_environment_then_user_cache(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("LIEFORMER_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_dir() == home / ".cache" / "lieformer"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec: only absolute paths count
    assert cache_dir() == home / ".cache" / "lieformer"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "lieformer"
    monkeypatch.setenv("LIEFORMER_CACHE", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    assert cache_dir(tmp_path / "arg") == tmp_path / "arg" and cache_dir(str(tmp_path / "arg")) == tmp_path / "arg"

    # and where the data module's splits go
    monkeypatch.chdir(tmp_path)
    ConstellationData(n_train=20, n_val=10, n_test=10, cache_dir=str(tmp_path / "arg")).prepare_data()
    assert len(entries(tmp_path / "arg")) == 3 and not (tmp_path / "env").exists()
    ConstellationData(n_train=20, n_val=10, n_test=10).prepare_data()
    assert len(entries(tmp_path / "env")) == 3
    monkeypatch.delenv("LIEFORMER_CACHE")
    ConstellationData(n_train=20, n_val=10, n_test=10, seed=1).prepare_data()
    assert len(entries(tmp_path / "xdg" / "lieformer")) == 3
    monkeypatch.delenv("XDG_CACHE_HOME")
    ConstellationData(n_train=20, n_val=10, n_test=10, seed=2).prepare_data()
    assert len(entries(home / ".cache" / "lieformer")) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arg", "env", "home", "xdg"]  # nothing in the current directory


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_run_from_a_read_only_checkout_writes_nothing_into_it(tmp_path):
    """Copy the checkout's sources and configs, make them read-only, and train and test a (tiny)
    constellation model from the copy, run in another directory with the default cache location:
    the copy is byte for byte unchanged, the data went to $XDG_CACHE_HOME/lieformer, the run (with
    the plots its config declares) to the current directory. (Python's own bytecode cache is
    switched off: as root the permissions alone would not stop it.)"""
    checkout = tmp_path / "checkout"
    for name in ("src", "configs"):
        shutil.copytree(REPO / name, checkout / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for path in [checkout, *checkout.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    before = snapshot(checkout)
    work, xdg = tmp_path / "work", tmp_path / "xdg"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "LIEFORMER_CACHE"}
    env.update(PYTHONPATH=str(checkout / "src"), XDG_CACHE_HOME=str(xdg), HOME=str(tmp_path / "home"),
               PYTHONDONTWRITEBYTECODE="1", PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    config = checkout / "configs" / "constellation" / "lietransformer_se2_cpu.yaml"
    args = ["--config", str(config), "--trainer.max_epochs", "1", "--data.n_train", "32", "--data.n_val", "16",
            "--data.n_test", "16", "--data.batch_size", "16", "--trainer.enable_progress_bar", "false",
            "--model.network_args", "{dim: 16, num_layers: 1, heads: 2, nbhd: 8, kernel_dim: 8, lift_frame: centroid}"]
    where = subprocess.run([sys.executable, "-c", "import lieformer; print(lieformer.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(checkout)  # the copy's code runs, not an installed one
    try:
        for subcommand in (["fit"], ["test", "--ckpt_path", "last"]):
            proc = subprocess.run([sys.executable, "-m", "lieformer.cli", subcommand[0], *args, *subcommand[1:]],
                                  cwd=work, env=env, capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, proc.stderr[-3000:]
        assert snapshot(checkout) == before
        assert len(entries(xdg / "lieformer")) == 3
        assert not (tmp_path / "home" / ".cache" / "lieformer").exists()  # (matplotlib keeps its font cache there)
        run = work / "runs" / "constellation" / "lietransformer_se2_cpu"
        assert (run / "checkpoints" / "last.ckpt").is_file()
        assert sorted(p.name for p in run.glob("constellations_*.png")) == [
            "constellations_D.png", "constellations_SE2.png", "constellations_T2.png"]
    finally:
        for path in [checkout, *checkout.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
