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


# ---- the original code's generator (DESIGN §5, "What the original code actually does") ----

from lieformer.data.constellation import (  # noqa: E402
    ORIGINAL_INSTANCES, PATTERN_NAMES, ConstellationData, normalise_jointly, original_constellation,
)

TEMPLATE_SIZES = {"triangle": 3, "square": 4, "pentagon": 5, "L": 5}


def original_sets(n, seed, **overrides):
    """n raw sets from original_constellation: [(points (34, 2), present (34,), instance (34,))]."""
    cfg = ConstellationConfig(generator="original", **overrides)
    rng = np.random.RandomState(seed)
    return [original_constellation(rng, cfg) for _ in range(n)]


def expected_template(name):
    """The description's templates in plain (x, y), independent of the module's tables."""
    if name == "L":
        return np.array([[1, 1], [2, 1], [3, 1], [3, 2], [3, 3]], float)
    k = TEMPLATE_SIZES[name]
    angles = 2 * np.pi * np.arange(k) / k
    return np.stack([np.cos(angles), np.sin(angles)], -1) + 2.0


def sort_rows(x):
    return x[np.lexsort(np.round(x, 6).T[::-1])]


def test_original_builds_all_34_slots_in_the_original_order():
    assert ORIGINAL_INSTANCES == ("square", "triangle", "pentagon", "L") * 2
    for points, present, instance in original_sets(200, seed=0):
        assert points.shape == (MAX_POINTS, 2) and points.dtype == np.float32
        # every instance's points are all there, present or not, and share one presence flag
        assert [int((instance == i).sum()) for i in range(8)] == [TEMPLATE_SIZES[n] for n in ORIGINAL_INSTANCES]
        for i in range(8):
            assert len(set(present[instance == i])) == 1
        assert present.any()
        assert (np.diff(instance) != 0).sum() > 20  # shuffled: instances interleaved, not in 8 blocks


def test_original_templates_and_tripled_polygon_translations():
    """No rotation, no noise: each instance is its template plus w·t with w = 3 for the polygons
    (homogeneous coordinate 1 + 2) and w = 1 for the L, t ~ U[0, 24)²."""
    offsets = {name: [] for name in TEMPLATE_SIZES}
    for points, present, instance in original_sets(400, seed=1, max_rotation=0.0, noise=0.0):
        for i, name in enumerate(ORIGINAL_INSTANCES):
            pts, template = points[instance == i].astype(float), expected_template(name)
            offset = pts.mean(0) - template.mean(0)
            np.testing.assert_allclose(sort_rows(pts - offset), sort_rows(template), atol=1e-4)
            offsets[name].append(offset / (1 if name == "L" else 3))
    for name, t in offsets.items():  # t = offset / w is U[0, 24)² for every pattern type
        t = np.array(t)
        assert t.min() >= -1e-4 and t.max() < 24 + 1e-4, name
        assert abs(t.mean() - 12) < 1.0 and t.max() > 23 and t.min() < 1, name
        assert 0.9 < t.var() / (24**2 / 12) < 1.1, name


def test_original_rotations_are_uniform_about_the_origin():
    """The L's two ends are (1, 1) and (3, 3): the direction between them is 45° + θ (mod π),
    θ ~ U(−0.33π, 0.33π). And rotation is about the origin: with rotation the polygon centres
    (2, 2) turn too, so centre − 3t = R(θ)(2, 2) has norm 2√2."""
    from scipy.stats import kstest

    angles = []
    for points, present, instance in original_sets(300, seed=2, noise=0.0):
        for i, name in enumerate(ORIGINAL_INSTANCES):
            if name == "L":
                pts = points[instance == i].astype(float)
                d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
                a, b = np.unravel_index(d.argmax(), d.shape)  # the two ends, 2√2 apart
                v = pts[b] - pts[a]
                angle = np.arctan2(v[1], v[0]) - np.pi / 4
                angles.append((angle + np.pi / 2) % np.pi - np.pi / 2)  # into [−π/2, π/2): |θ| < 0.33π fits
    bound = 0.33 * np.pi
    assert np.abs(angles).max() <= bound + 1e-4
    assert kstest(np.array(angles), "uniform", args=(-bound, 2 * bound)).pvalue > 1e-3
    # about the origin: without translation a polygon's centre is R(θ)(2, 2), at angle 45° + θ, while
    # its first vertex lies at angle θ from the centre (so some vertex does, the others 2πk/n away)
    for points, present, instance in original_sets(50, seed=3, noise=0.0, max_translation=0.0):
        for i, name in enumerate(ORIGINAL_INSTANCES):
            if name != "L":
                pts = points[instance == i].astype(float)
                centre = pts.mean(0)
                np.testing.assert_allclose(np.linalg.norm(centre), 2 * np.sqrt(2), rtol=1e-5)
                theta = np.arctan2(centre[1], centre[0]) - np.pi / 4
                vertex_angles = np.arctan2(*(pts - centre).T[::-1])
                assert np.abs(np.angle(np.exp(1j * (vertex_angles - theta)))).min() < 1e-4


def test_original_presence_and_noise_on_all_points():
    sets = original_sets(600, seed=4)
    flags = np.array([[present[instance == i][0] for i in range(8)] for _, present, instance in sets])
    assert 0.45 < flags.mean() < 0.55  # keep probability ½
    # noise N(0, 0.1²) on every point, absent ones included: residuals from the rigidly placed template
    residuals = {True: [], False: []}
    clean = original_sets(600, seed=4, noise=0.0)
    for (points, present, instance), (ref, _, ref_instance) in zip(sets, clean):
        np.testing.assert_array_equal(instance, ref_instance)  # noise is drawn last: same shuffle
        for i in range(8):
            sel = instance == i
            residuals[bool(present[sel][0])].append(points[sel] - ref[sel])
    for flag, r in residuals.items():
        r = np.concatenate(r)
        assert abs(r.std() - 0.1) < 0.005 and abs(r.mean()) < 0.005, flag


def test_original_switches_one_random_instance_on_when_none_is_present():
    data = generate(ConstellationConfig(n=800, seed=5, keep_prob=0.0, generator="original"))
    sizes = np.array([TEMPLATE_SIZES[n] for n in PATTERN_NAMES])
    np.testing.assert_array_equal(data["counts"].sum(1), 1)
    np.testing.assert_array_equal(data["mask"].sum(1), data["counts"] @ sizes)
    freq = data["counts"].mean(0)  # which instance: uniform over the 8, so ¼ per pattern type
    assert np.all(np.abs(freq - 0.25) < 0.05), freq


def test_original_normalises_over_all_34_points_and_both_axes():
    data = generate(ConstellationConfig(n=400, seed=6, generator="original"))
    coords, mask = data["coords"], data["mask"]
    assert coords.shape == (400, MAX_POINTS, 2) and not mask.all(1).all()
    np.testing.assert_allclose(coords.reshape(400, -1).min(1), -1, atol=1e-6)  # one scalar min and max over
    np.testing.assert_allclose(coords.reshape(400, -1).max(1), 1, atol=1e-6)   # all 34 points, both axes
    # not per axis, nor by the longer side: when the min is on one axis and the max on the other,
    # neither axis spans the whole [−1, 1]
    spans = np.ptp(coords, axis=1)  # (400, 2)
    assert (spans.max(1) < 1.99).mean() > 0.1 and (spans.min(1) < 1.9).mean() > 0.5
    # absent points take part: in many sets the present points alone do not reach ±1
    reach = np.array([np.abs(c[m]).max() for c, m in zip(coords, mask)])
    assert (reach < 0.999).mean() > 0.1
    x = np.array([[3.0, -1.0], [0.0, 5.0]], np.float32)
    np.testing.assert_allclose(normalise_jointly(x), (x + 1) / (6 + 1e-8) * 2 - 1, rtol=1e-6)


def test_original_labels_count_present_instances_per_pattern_type():
    cfg = ConstellationConfig(n=300, seed=7, generator="original")
    data = generate(cfg)
    rng = np.random.RandomState(cfg.seed)
    for coords, mask, counts in zip(data["coords"], data["mask"], data["counts"]):
        points, present, instance = original_constellation(rng, cfg)
        np.testing.assert_array_equal(mask, present)
        np.testing.assert_allclose(coords, normalise_jointly(points))
        kinds = [ORIGINAL_INSTANCES[i] for i in np.unique(instance[present])]
        np.testing.assert_array_equal(counts, [kinds.count(name) for name in PATTERN_NAMES])


def test_generators_differ_in_cache_key_and_are_validated(tmp_path):
    ours, original = ConstellationConfig(n=20, seed=4), ConstellationConfig(n=20, seed=4, generator="original")
    assert ours.key() != original.key()
    a, b = load_or_generate(ours, tmp_path), load_or_generate(original, tmp_path)
    assert len(list(tmp_path.glob("constellation-*.npz"))) == 2
    assert not np.array_equal(a["mask"], b["mask"])
    np.testing.assert_array_equal(load_or_generate(original, tmp_path)["coords"], b["coords"])
    with pytest.raises(ValueError, match="generator: unknown constellation generator 'paper'"):
        ConstellationConfig(generator="paper")
    with pytest.raises(ValueError, match="data.generator: unknown"):
        ConstellationData(generator="orig")
    with pytest.raises(ValueError, match="data.variants: unknown test variant 'T3'"):
        ConstellationData(variants=("D", "T3"))


def test_original_splits_through_the_datamodule(tmp_path):
    dm = ConstellationData(n_train=60, n_val=20, n_test=30, generator="original", features="distances",
                           batch_size=10, cache_dir=str(tmp_path), variants=("D", "shift10", "rot10"))
    dm.setup()
    coords, values, mask, counts = next(iter(dm.train_dataloader()))
    assert coords.shape == (10, MAX_POINTS, 2) and values.shape == (10, MAX_POINTS, MAX_POINTS - 1)
    assert (values[~mask] == 0).all() and not mask.all()
    # the original's layout: absent points keep their coordinates, scattered among the present ones
    train_mask = dm.train_set.mask
    assert (dm.train_set.coords[~train_mask] != 0).all() and (train_mask[:, 1:] & ~train_mask[:, :-1]).any()
    train = dm.train_set.coords.reshape(60, -1)
    torch.testing.assert_close(train.min(1).values, torch.full((60,), -1.0), atol=1e-6, rtol=0)
    assert len(dm.test_sets) == 3 and len(dm.test_sets[0]) == 30


def test_original_protocol_variants():
    """shift10: +10 on both coordinates; rot10: a fixed 10° counter-clockwise rotation about the origin."""
    data = generate(ConstellationConfig(n=30, seed=9, generator="original"))
    m = data["mask"]
    shifted = transform_split(data, "shift10", seed=0)
    np.testing.assert_allclose(shifted["coords"][m], data["coords"][m] + 10, atol=1e-5)
    rotated = transform_split(data, "rot10", seed=0)
    a = np.deg2rad(10)
    x, y = data["coords"][m].T
    np.testing.assert_allclose(rotated["coords"][m], np.stack([np.cos(a) * x - np.sin(a) * y, np.sin(a) * x + np.cos(a) * y], -1), atol=1e-6)
    assert (shifted["coords"][~m] == 0).all() and (rotated["coords"][~m] == 0).all()
    for variant in ("T2", "SE2"):  # the paper-table variants apply to the original's sets as well
        moved = transform_split(data, variant, seed=1)
        for c0, c1, mm in zip(data["coords"], moved["coords"], m):
            np.testing.assert_allclose(pdist(c1[mm]), pdist(c0[mm]), atol=1e-4)


ORIGINAL_TASK_ARGS = ["--data.generator", "original", "--data.variants", "[D, T2, SE2, shift10, rot10]",
                      "--model.eval_names", "[D, T2, SE2, shift10, rot10]"]


@pytest.mark.parametrize("config", ["set_transformer_long_cpu", "lietransformer_se2_long_cpu"])
def test_longer_runs_on_the_original_task_build(config, tmp_path):
    """RESULTS.md's overrides for the longer CPU runs on the original's task: the data module
    gets the generator, and every test variant a metric name of its own."""
    from pathlib import Path

    from lieformer.cli import build_cli

    path = Path(__file__).resolve().parents[1] / "configs" / "constellation" / f"{config}.yaml"
    cli = build_cli(["--config", str(path), *ORIGINAL_TASK_ARGS, "--trainer.default_root_dir", str(tmp_path)], run=False)
    assert cli.datamodule.hparams.generator == "original"
    assert tuple(cli.model.eval_names) == tuple(cli.datamodule.hparams.variants) == ("D", "T2", "SE2", "shift10", "rot10")


def test_the_data_module_names_the_task_metrics(tmp_path):
    """The task takes its evaluation-set names from the data module's variants (no --model.eval_names):
    through the `lieformer` command (and so the monitored key), and under a plain Trainer."""
    from pathlib import Path

    import lightning as L

    from lieformer.cli import build_cli
    from lieformer.tasks import PointSetClassifier

    path = Path(__file__).resolve().parents[1] / "configs" / "constellation" / "lietransformer_se2_cpu.yaml"
    cli = build_cli(["--config", str(path), "--data.variants", "[rot10, D]", "--trainer.default_root_dir", str(tmp_path)],
                    run=False)
    assert cli.model.eval_names == ("rot10", "D") and cli.model.monitor == ("val/rot10/exact", "max")
    cli.release_run_directory()

    model = PointSetClassifier("SetTransformer", in_channels=2, network_args={"dim": 16, "encoder_blocks": 1, "decoder_blocks": 1})
    assert model.eval_names is None
    dm = ConstellationData(n_train=16, n_val=8, n_test=8, features="coords", batch_size=8, cache_dir=str(tmp_path),
                           variants=("D", "shift10"))
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    metrics = trainer.validate(model, dm, verbose=False)
    assert model.eval_names == ("D", "shift10")
    assert {k for m in metrics for k in m} == {f"val/{v}/{m}" for v in ("D", "shift10") for m in ("loss", "exact", "mean")}


def test_constellation_plots_need_constellation_data():
    from types import SimpleNamespace

    from lieformer.data.constellation_plots import ConstellationPlots

    with pytest.raises(ValueError, match="trainer.callbacks: ConstellationPlots draws ConstellationData test sets, "
                                         "and this run's data is object"):
        ConstellationPlots().setup(SimpleNamespace(datamodule=object()), None, "fit")
