"""Runs never lose what they logged: a used run directory is refused to a new run (or, resumed,
appended to), a running one is locked, evaluations need a checkpoint, and the demo runs from any
directory and says what it replaces. (Resuming a killed run: test_training.)"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import lieformer
from lieformer import demo
from lieformer.cli import main
from lieformer.run_directory import RunDirectory, trim_history

from .test_training import read_rows, run_cli, write_config


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("lieformer")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_new_run_into_a_used_directory_is_refused_and_a_resumed_one_appends(tmp_path, capsys):
    config = write_config(tmp_path, "run", **{"trainer.max_epochs": 1})
    main(["fit", "--config", str(config)])
    root = tmp_path / "run"
    first = snapshot(root)
    for extra in ([], ["--model.group", "T(2)"]):  # the same run again, or another one: both refused
        code, err = run_cli(["fit", "--config", str(config), *extra], capsys)
        line = one_line(err)
        assert code == 2 and f"{root} already holds a run" in line and "--ckpt_path last" in line
        assert snapshot(root) == first  # nothing of the first run touched
    history = read_rows(root / "logs" / "metrics.csv")
    assert len(history) == 5
    main(["fit", "--config", str(config), "--ckpt_path", "last", "--trainer.max_epochs", "2"])  # train on
    extended = read_rows(root / "logs" / "metrics.csv")
    assert extended[:5] == history and [r["epoch"] for r in extended[5:]] == ["1"] * 5
    assert [r["step"] for r in extended if r["train/loss_step"]] == ["0", "1", "2", "3", "4", "5"]
    assert not (root / "logs" / "metrics.superseded-1.csv").exists()  # nothing was logged after last.ckpt


HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from lightning.pytorch.callbacks import Callback
    import lieformer.cli as cli

    started, go = Path(sys.argv[1]), Path(sys.argv[2])

    class Hold(Callback):
        def on_train_epoch_start(self, trainer, module):
            if trainer.current_epoch == 1:  # epoch 0 logged and checkpointed: wait, mid-run
                started.touch()
                while not go.exists():
                    time.sleep(0.05)

    original = cli.LieformerCLI.instantiate_trainer
    def with_hold(self, **kwargs):
        trainer = original(self, **kwargs)
        trainer.callbacks.insert(0, Hold())
        return trainer
    cli.LieformerCLI.instantiate_trainer = with_hold
    cli.main(sys.argv[3:])
""")


def test_a_running_run_locks_its_directory(tmp_path, capsys):
    """While a run trains, a second one into its directory (new, resuming or testing) is refused
    with one line naming the first's pid, and the first run ends with its history intact."""
    config = write_config(tmp_path, "busy")
    root = tmp_path / "busy"
    started, go = tmp_path / "started", tmp_path / "go"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(started), str(go), "fit", "--config", str(config)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONWARNINGS": "ignore"})
    try:
        deadline = time.time() + 300
        while not started.exists():
            assert holder.poll() is None and time.time() < deadline, holder.stderr.read()[-2000:]
            time.sleep(0.1)
        for args in (["fit"], ["fit", "--ckpt_path", "last"], ["test", "--ckpt_path", "last"]):
            code, err = run_cli([args[0], "--config", str(config), *args[1:]], capsys)
            line = one_line(err)
            assert code == 2 and f"{root} is in use by another lieformer run (pid {holder.pid})" in line, line
    finally:
        go.touch()
        _, err = holder.communicate(timeout=300)
    assert holder.returncode == 0, err[-2000:]
    history = read_rows(root / "logs" / "metrics.csv")
    assert [r["step"] for r in history if r["train/loss_step"]] == [str(i) for i in range(9)]
    assert [r["epoch"] for r in history if r["val/D/exact"]] == ["0", "1", "2"] and len(history) == 15
    assert (root / "logs" / "config.yaml").exists() and not (root / "logs" / "config-1.yaml").exists()
    assert torch.load(root / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["epoch"] == 2
    free = RunDirectory(root)
    free.lock()  # released when the run ended
    free.release()


@pytest.mark.parametrize("subcommand,args,expected", [
    ("test", ["--ckpt_path", "last"], "no checkpoint at {root}/checkpoints/last.ckpt to test"),
    ("validate", ["--ckpt_path", "last"], "no checkpoint at {root}/checkpoints/last.ckpt to validate"),
    ("test", ["--ckpt_path", "best"], "no best checkpoints (best-*.ckpt) in {root}/checkpoints to test"),
    ("test", [], "test needs a checkpoint"),
    ("test", ["--ckpt_path", "{root}/model.ckpt"], "no checkpoint file {root}/model.ckpt"),
])
def test_evaluation_without_a_checkpoint_is_an_error(tmp_path, capsys, subcommand, args, expected):
    """Not an evaluation of untrained weights that exits 0."""
    config = write_config(tmp_path, "untrained")
    root = tmp_path / "untrained"
    code, err = run_cli([subcommand, "--config", str(config), *(a.format(root=root) for a in args)], capsys)
    assert code == 2 and expected.format(root=root) in one_line(err)
    assert not root.exists()


def test_trim_history_sets_aside_the_rows_at_and_after_the_step(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,loss,step\n0,1.0,0\n0,0.9,1\n0,,1\n1,0.8,2\n1,0.7,3\n1,,3\n")
    assert trim_history(path, 5) == (0, None)
    assert trim_history(path, 2) == (3, tmp_path / "metrics.superseded-1.csv")
    assert path.read_text().splitlines() == ["epoch,loss,step", "0,1.0,0", "0,0.9,1", "0,,1"]
    assert (tmp_path / "metrics.superseded-1.csv").read_text().splitlines() == [
        "epoch,loss,step", "1,0.8,2", "1,0.7,3", "1,,3"]
    assert trim_history(path, 1) == (2, tmp_path / "metrics.superseded-2.csv")
    assert [r["step"] for r in read_rows(path)] == ["0"]


def test_demo_runs_from_any_directory_and_says_what_it_replaces(tmp_path):
    old = tmp_path / "runs" / "constellation" / "lietransformer_se2_cpu"
    (old / "checkpoints").mkdir(parents=True)
    (old / "checkpoints" / "last.ckpt").write_bytes(b"a previous run")
    (tmp_path / "runs" / "constellation" / "notes.txt").write_text("mine")
    src = Path(lieformer.__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "lieformer.demo", "--epochs", "1", "--n-train", "32",
                           "--n-val", "16", "--n-test", "16"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": str(src), "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    replaced = [line for line in proc.stderr.splitlines() if "replacing" in line]
    assert len(replaced) == 1 and f"replacing the previous run in {old} (removed checkpoints/)" in replaced[0]
    for name in ("lietransformer_se2_cpu", "set_transformer_cpu"):
        root = tmp_path / "runs" / "constellation" / name
        assert f"run directory: {root}" in proc.stdout
        assert torch.load(root / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["epoch"] == 0
        assert "test/SE2/exact" in (root / "logs" / "metrics.csv").read_text()
    assert "| LieTransformer-SE2 |" in proc.stdout and "| SetTransformer |" in proc.stdout
    assert (tmp_path / "runs" / "constellation" / "notes.txt").read_text() == "mine"


def test_demo_without_the_repository_configs_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "CONFIG_DIR", tmp_path / "configs")
    with pytest.raises(SystemExit, match="no config .*lietransformer_se2_cpu.yaml: the demo needs the repository's configs/"):
        demo.main(["--epochs", "1"])


def test_resume_before_the_first_checkpoint_starts_over(tmp_path, capsys):
    """`fit --ckpt_path last` where a run was killed before its first checkpoint: it trains from the
    start, the rows the killed run logged set aside (not mixed into the new history)."""
    config = write_config(tmp_path, "early", **{"trainer.max_epochs": 1})
    logs = tmp_path / "early" / "logs"
    logs.mkdir(parents=True)
    (logs / "metrics.csv").write_text("epoch,step,train/loss_step\n0,0,1.5\n0,1,1.4\n")
    main(["fit", "--config", str(config), "--ckpt_path", "last"])
    assert "no checkpoint in" in capsys.readouterr().err
    assert [r["step"] for r in read_rows(logs / "metrics.csv") if r["train/loss_step"]] == ["0", "1", "2"]
    assert [r["train/loss_step"] for r in read_rows(logs / "metrics.superseded-1.csv")] == ["1.5", "1.4"]
