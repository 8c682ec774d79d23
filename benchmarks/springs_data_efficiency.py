"""Data efficiency on Hamiltonian springs (DESIGN §5): test error against the number of training
systems, for each model, as a table and a log-log plot.

    PYTHONPATH=src python benchmarks/springs_data_efficiency.py \
        --models fc hlieresnet_t2 hfc hlietransformer_t2 --n-train 10 100 400 1000 --steps 200

Each model is configs/springs/<model>_cpu.yaml (its task, network and learning rate; cosine schedule
over the run), trained for a fixed number of optimiser steps (--steps) with batches of
min(n_train, --batch-size) chunks from the first n_train systems of the training stream (nested
sets), then tested on the fixed 2,000-system test set: 5-step chunk MSE (all 2,000) and the MSE
of a rollout_steps-step rollout from the initial state (the first --n-rollout systems), with its
MSE per time. Every (model, n_train) is saved as <out>/results/<model>-n<n_train>.json when it
finishes (written atomically), and is skipped when that file exists: a killed sweep resumes
where it stopped, model by model. --report only rebuilds the table and plots from those files.
Outputs: <out>/data_efficiency.md (table), data_efficiency.png (log-log: test chunk MSE and
rollout MSE against n_train), rollout_error.png (MSE over time at the largest n_train),
trajectories_<model>.png (true vs predicted test trajectories at the largest n_train).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import tempfile
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
import yaml
from lightning.pytorch.loggers import CSVLogger

from lieformer.data.springs import SpringsData
from lieformer.data.springs_plots import plot_rollout_error, plot_trajectories, rollout_error
from lieformer.tasks.plots import plt, save_figure

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "springs"
LABELS = {"fc": "FC", "ogn": "OGN", "hfc": "HFC", "hogn": "HOGN", "hlieresnet_t2": "HLieResNet-T2",
          "hlietransformer_t2": "HLieTransformer-T2"}


def build(model_name: str, n_train: int, args) -> tuple[L.LightningModule, SpringsData]:
    """The task of configs/springs/<model>_cpu.yaml and SpringsData with this sweep's sizes."""
    path = CONFIGS / f"{model_name}_cpu.yaml"
    if not path.exists():
        raise SystemExit(f"--models: no config {path} (choose from {sorted(p.stem[:-4] for p in CONFIGS.glob('*_cpu.yaml'))})")
    config = yaml.safe_load(path.read_text())
    module, cls = config["model"]["class_path"].rsplit(".", 1)
    task = getattr(importlib.import_module(module), cls)(**config["model"]["init_args"])
    data_args = {**config["data"]["init_args"], "n_train": n_train, "batch_size": min(n_train, args.batch_size),
                 "n_rollout": args.n_rollout, "cache_dir": args.cache_dir}
    return task, SpringsData(**data_args)


def chunk_mse(task, dataset, batch_size: int = 500) -> float:
    task.eval()
    total = 0.0
    for start in range(0, len(dataset), batch_size):
        traj = dataset.trajectory[start:start + batch_size]
        pred = task.rollout(traj[:, 0], dataset.ts, dataset.masses[start:start + batch_size],
                            dataset.features[start:start + batch_size]).detach()
        total += float((pred - traj).double().square().sum())
    return total / dataset.trajectory.numel()


def write_json(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
    os.replace(tmp, path)


def run_one(model_name: str, n_train: int, args, out: Path) -> dict:
    (out / "results").mkdir(parents=True, exist_ok=True)
    L.seed_everything(args.seed, workers=True, verbose=False)
    task, data = build(model_name, n_train, args)
    data.setup()
    trainer = L.Trainer(max_steps=args.steps, max_epochs=-1, limit_val_batches=0, num_sanity_val_steps=0,
                        accelerator="cpu", devices=1, logger=CSVLogger(out / "logs", name=f"{model_name}-n{n_train}"),
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        log_every_n_steps=10)
    start = time.perf_counter()
    trainer.fit(task, train_dataloaders=data.train_dataloader())
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    chunk = chunk_mse(task, data.test_sets[0])
    t, per_time, predicted = rollout_error(task, data.test_sets[1])
    eval_s = time.perf_counter() - start
    np.savez(out / "results" / f"{model_name}-n{n_train}-trajectories.npz",
             true=data.test_sets[1].trajectory[:4].double().numpy(), predicted=predicted[:4])
    return {"model": model_name, "n_train": n_train, "steps": int(trainer.global_step), "batch_size": min(n_train, args.batch_size),
            "test_chunk_mse": chunk, "test_rollout_mse": float(per_time.mean()), "rollout_time": t.tolist(),
            "rollout_mse_per_time": per_time.tolist(), "n_test_chunk": len(data.test_sets[0]),
            "n_test_rollout": len(data.test_sets[1]), "train_seconds": train_s, "eval_seconds": eval_s,
            "parameters": sum(p.numel() for p in task.parameters()), "seed": args.seed,
            "torch_threads": torch.get_num_threads()}


def report(out: Path, models: list[str], sizes: list[int]) -> None:
    records = {}
    for path in sorted((out / "results").glob("*.json")):
        r = json.loads(path.read_text())
        records[(r["model"], r["n_train"])] = r
    models = [m for m in models if any((m, n) in records for n in sizes)]
    if not models:
        print("no results yet")
        return
    lines = ["| model | " + " | ".join(f"n={n}" for n in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for m in models:
        cells = []
        for n in sizes:
            r = records.get((m, n))
            cells.append("—" if r is None else f"{r['test_chunk_mse']:.2e} / {r['test_rollout_mse']:.2e} ({r['train_seconds']:.0f} s)")
        lines.append(f"| {LABELS.get(m, m)} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    (out / "data_efficiency.md").write_text("test 5-step chunk MSE / 100-step rollout MSE (training wall time)\n\n" + table + "\n")
    print(table)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for m in models:
        ns = [n for n in sizes if (m, n) in records]
        for ax, key in zip(axes, ("test_chunk_mse", "test_rollout_mse")):
            ax.loglog(ns, [records[(m, n)][key] for n in ns], "o-", label=LABELS.get(m, m))
    for ax, title in zip(axes, ("test 5-step chunk MSE", "test 100-step rollout MSE")):
        ax.set_xlabel("training systems n_train")
        ax.set_title(title)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    save_figure(fig, out / "data_efficiency.png")
    curves, largest = {}, {}
    for m in models:
        n = max(n for n in sizes if (m, n) in records)
        largest[m] = n
        r = records[(m, n)]
        curves[f"{LABELS.get(m, m)} (n={n})"] = (np.array(r["rollout_time"]), np.array(r["rollout_mse_per_time"]))
    plot_rollout_error(curves, out / "rollout_error.png", title="rollout error on the test set")
    for m, n in largest.items():
        npz = out / "results" / f"{m}-n{n}-trajectories.npz"
        if npz.exists():
            with np.load(npz) as f:
                plot_trajectories(f["true"], f["predicted"], out / f"trajectories_{m}.png",
                                  title=f"{LABELS.get(m, m)}, n_train={n}: true (solid), predicted (dashed)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["fc", "hlieresnet_t2", "hfc", "hlietransformer_t2"])
    parser.add_argument("--n-train", nargs="+", type=int, default=[10, 100, 400, 1000])
    parser.add_argument("--steps", type=int, default=200, help="optimiser steps per run (every n_train)")
    parser.add_argument("--batch-size", type=int, default=200, help="batch size (n_train when smaller)")
    parser.add_argument("--n-rollout", type=int, default=500, help="test systems in the rollout MSE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--out", default="runs/springs/data_efficiency")
    parser.add_argument("--report", action="store_true", help="only rebuild the table and plots")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if not args.report:
        for m in args.models:
            for n in args.n_train:
                path = out / "results" / f"{m}-n{n}.json"
                if path.exists():
                    print(f"{m} n_train={n}: done already ({path})")
                    continue
                print(f"{m} n_train={n}: training {args.steps} steps", flush=True)
                record = run_one(m, n, args, out)
                write_json(path, record)
                print(f"{m} n_train={n}: chunk {record['test_chunk_mse']:.3e} rollout {record['test_rollout_mse']:.3e} "
                      f"({record['train_seconds']:.0f} s + {record['eval_seconds']:.0f} s)", flush=True)
                report(out, args.models, args.n_train)
    report(out, args.models, args.n_train)


if __name__ == "__main__":
    main()
