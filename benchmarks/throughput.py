"""Training throughput (samples/s) of a constellation config: forward, backward and Adam step of
its task's model on batches of constellation data with its features, outside Lightning (no
logging or validation).

    .venv/bin/python benchmarks/throughput.py                       # the two make-demo configs
    .venv/bin/python benchmarks/throughput.py configs/constellation/lietransformer_se2_long_cpu.yaml --threads 1
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time
from datetime import date
from pathlib import Path

import torch
import yaml

from lieformer.data.constellation import ConstellationConfig, PointSetDataset, generate

DEMO = ["configs/constellation/lietransformer_se2_cpu.yaml", "configs/constellation/set_transformer_cpu.yaml"]


def throughput(config: str, steps: int) -> tuple[str, int, float]:
    cfg = yaml.safe_load(Path(config).read_text())
    task_path = cfg["model"]["class_path"]
    module, _, name = task_path.rpartition(".")
    task_cls = getattr(importlib.import_module(module), name)
    model_args, data_args = cfg["model"].get("init_args", {}), cfg.get("data", {}).get("init_args", {})
    batch = int(data_args.get("batch_size", 64))
    torch.manual_seed(0)
    model = task_cls(**model_args).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=float(model_args.get("lr", 1e-3)))
    data = PointSetDataset(generate(ConstellationConfig(n=batch * 4, seed=123)), data_args.get("features", "ones"))
    times = []
    for i in range(steps + 1):  # one warm-up step
        rows = slice((i % 4) * batch, (i % 4 + 1) * batch)
        start = time.perf_counter()
        logits = model(data.coords[rows], data.values[rows], data.mask[rows])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), data.counts[rows].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i:
            times.append(time.perf_counter() - start)
    name = model_args.get("network", "LieTransformer")
    return name, batch, batch / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", default=DEMO)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# {date.today()} · torch {torch.__version__} · {args.threads} threads · median of {args.steps} training steps\n")
    print("| config | model | batch | samples/s |")
    print("|---|---|---|---|")
    for config in args.configs:
        name, batch, rate = throughput(config, args.steps)
        print(f"| {config} | {name} | {batch} | {rate:.0f} |", flush=True)


if __name__ == "__main__":
    main()
