"""Constellation data (DESIGN §5): counts, scaling, independent splits, caching, test variants."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist

from lieformer.data.constellation import (
    MAX_POINTS, ConstellationConfig, PointSetDataset, assert_disjoint, generate, load_or_generate, make_splits,
    pattern_templates, transform_split,
)


def test_counts_match_points_and_scaling():
    data = generate(ConstellationConfig(n=300, seed=1))
    sizes = np.array([len(t) for t in pattern_templates()])
    assert list(sizes) == [3, 4, 5, 5] and MAX_POINTS == 34
    np.testing.assert_array_equal(data["mask"].sum(1), data["counts"] @ sizes)
    assert data["counts"].min() >= 0 and data["counts"].max() <= 2 and (data["counts"].sum(1) >= 1).all()
    valid = data["coords"][data["mask"]]
    assert np.abs(valid).max() <= 1 + 1e-6
    # each set touches the boundary of [−1, 1]² along its longer side
    spans = [np.ptp(c[m], 0).max() for c, m in zip(data["coords"], data["mask"])]
    np.testing.assert_allclose(spans, 2.0, atol=1e-5)
    # slot keep-probability ½: every count value occurs, with binomial-ish frequencies
    freq = np.bincount(data["counts"].ravel(), minlength=3) / data["counts"].size
    assert 0.15 < freq[2] < 0.35 and 0.15 < freq[0] < 0.4


def test_regular_polygons_have_unit_circumradius():
    for template, n in zip(pattern_templates()[:3], (3, 4, 5)):
        np.testing.assert_allclose(np.linalg.norm(template - 2.0, axis=1), 1.0)
        np.testing.assert_allclose(pdist(template).min(), 2 * np.sin(np.pi / n))


def test_splits_are_independent_and_disjoint(tmp_path):
    splits = make_splits(200, 50, 100, seed=3, cache_dir=tmp_path)
    assert len(splits["train"]["coords"]) == 200 and len(splits["test"]["coords"]) == 100
    # the original's bug: the test set regenerated with the training seed
    leaky = generate(ConstellationConfig(n=100, seed=ConstellationConfig(n=200, seed=0).seed))
    with pytest.raises(AssertionError, match="also appear"):
        assert_disjoint(generate(ConstellationConfig(n=200, seed=0)), leaky)


def test_cache_is_content_addressed(tmp_path):
    cfg = ConstellationConfig(n=20, seed=4)
    first = load_or_generate(cfg, tmp_path)
    files = list(tmp_path.glob("constellation-*.npz"))
    assert len(files) == 1 and cfg.key() in files[0].name
    again = load_or_generate(cfg, tmp_path)
    np.testing.assert_array_equal(first["coords"], again["coords"])
    other = ConstellationConfig(n=20, seed=4, noise=0.2)
    assert other.key() != cfg.key()
    load_or_generate(other, tmp_path)
    assert len(list(tmp_path.glob("constellation-*.npz"))) == 2


def test_test_variants_move_sets_rigidly():
    data = generate(ConstellationConfig(n=50, seed=5))
    for variant in ("T2", "SE2"):
        moved = transform_split(data, variant, seed=0)
        for c0, c1, m in zip(data["coords"], moved["coords"], data["mask"]):
            np.testing.assert_allclose(pdist(c1[m]), pdist(c0[m]), atol=1e-4)
            shift = (c1[m] - c0[m]).mean(0) if variant == "T2" else None
            if variant == "T2":
                np.testing.assert_allclose(np.linalg.norm(shift), 10, atol=1e-4)
                np.testing.assert_allclose(c1[m] - c0[m], np.broadcast_to(shift, c0[m].shape), atol=1e-4)
    with pytest.raises(ValueError, match="unknown test variant"):
        transform_split(data, "SE3", 0)


@pytest.mark.parametrize("features,width", [("ones", 1), ("coords", 2), ("distances", MAX_POINTS - 1)])
def test_features(features, width):
    data = generate(ConstellationConfig(n=10, seed=6))
    ds = PointSetDataset(data, features)
    coords, values, mask, counts = ds[3]
    assert values.shape == (MAX_POINTS, width) and (values[~mask] == 0).all()
    if features == "distances":  # invariant: unchanged by a rigid motion
        moved = PointSetDataset(transform_split(data, "SE2", 1), features)
        torch.testing.assert_close(moved.values, ds.values, atol=1e-4, rtol=0)


@pytest.mark.parametrize("features", ["coords", "distances"])
def test_augmentation_moves_training_sets_rigidly(tmp_path, features):
    """augment=True: each training batch is a rotated and shifted copy of the plain one (pairwise
    distances kept, features recomputed from the moved coordinates), reproducibly under a seed;
    evaluation sets are never augmented."""
    from lieformer.data.constellation import ConstellationData, point_features

    def first_batch(augment, seed=0):
        dm = ConstellationData(n_train=64, n_val=16, n_test=16, features=features, batch_size=16,
                               cache_dir=str(tmp_path), augment=augment)
        dm.setup()
        torch.manual_seed(seed)
        return next(iter(dm.train_dataloader())), next(iter(dm.val_dataloader()[0]))

    (plain, val_plain), (moved, val_moved) = first_batch(False), first_batch(True)
    coords, values, mask, counts = plain
    mcoords, mvalues, mmask, mcounts = moved
    assert torch.equal(mask, mmask) and torch.equal(counts, mcounts)  # same sets, same order
    assert (mcoords - coords).abs().max() > 0.1
    d = lambda x: torch.cdist(x.double(), x.double())
    pair = mask.unsqueeze(1) & mask.unsqueeze(2)
    torch.testing.assert_close(d(mcoords)[pair], d(coords)[pair], atol=1e-4, rtol=0)
    torch.testing.assert_close(mvalues, point_features(mcoords, mmask, features))
    assert all(torch.equal(a, b) for a, b in zip(val_plain, val_moved))
    again = first_batch(True)[0]
    assert all(torch.equal(a, b) for a, b in zip(moved, again))
