"""Where a LieResNet training step spends its time: FPS, neighbour search, the per-pair kernel
(WeightNet + contraction), the rest of the forward, and the backward pass.

    .venv/bin/python benchmarks/stages.py                      # RotMNIST T(2) and SE2
    .venv/bin/python benchmarks/stages.py --only qm9-T3 --steps 3
    .venv/bin/python benchmarks/stages.py --native both      # native FPS on / off, alternating steps

Stages are timed by wrapping the functions LieConv calls (wall clock, forward only; the kernel
stage includes its own gathers). Configurations and data are those of layers.py.
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import statistics
import time
from datetime import date

import torch

from layers import CONFIGS, qm9_batch, rotmnist_batch
from lieformer import LieResNet
from lieformer.nn import lieconv

STAGES = {"fps": "farthest-point subsampling", "neighbours": "ball / kNN neighbourhoods",
          "kernel": "kernel MLP + contraction (forward)", "rest": "rest of the forward", "backward": "backward"}


def timed(totals: dict, key: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        totals[key] += time.perf_counter() - start
        return out
    return wrapper


def profile(name: str, steps: int, modes: tuple[str, ...] = ("default",)) -> dict[str, dict[str, float]]:
    """Stage times per mode; with several modes ("on" / "off": LIEFORMER_NATIVE) the steps
    alternate between them in one process, so both see the same machine."""
    model_name, group, samples, kwargs, data = CONFIGS[name]
    if model_name != "LieResNet":
        raise SystemExit(f"stages.py times LieResNet configurations; {name} is a {model_name}")
    coords, values, mask, outputs = rotmnist_batch() if data == "rotmnist" else qm9_batch()
    totals = collections.defaultdict(float)
    patches = {"farthest_point_subsample": "fps", "ball_neighbourhood": "neighbours", "knn_neighbourhood": "neighbours"}
    originals = {f: getattr(lieconv, f) for f in patches}
    original_aggregate = lieconv.LieConv.aggregate
    for f, key in patches.items():
        setattr(lieconv, f, timed(totals, key, originals[f]))
    lieconv.LieConv.aggregate = timed(totals, "kernel", original_aggregate)
    try:
        torch.manual_seed(0)
        model = LieResNet(values.shape[-1], outputs, group, lift_samples=samples, **kwargs).train()
        gen = torch.Generator().manual_seed(0)
        runs = {mode: [] for mode in modes}
        for i in range((steps + 1) * len(modes)):  # one warm-up step per mode
            mode = modes[i % len(modes)]
            if mode != "default":
                os.environ["LIEFORMER_NATIVE"] = "1" if mode == "on" else "0"
            totals.clear()
            start = time.perf_counter()
            out = model(coords, values, mask, generator=gen)
            middle = time.perf_counter()
            out.square().mean().backward()
            end = time.perf_counter()
            model.zero_grad(set_to_none=True)
            forward = middle - start
            row = {k: totals[k] for k in ("fps", "neighbours", "kernel")}
            row["rest"] = forward - sum(row.values())
            row["backward"] = end - middle
            row["step"] = end - start
            if i >= len(modes):
                runs[mode].append(row)
    finally:
        for f in patches:
            setattr(lieconv, f, originals[f])
        lieconv.LieConv.aggregate = original_aggregate
    result = {}
    for mode, rows in runs.items():
        best = min(rows, key=lambda r: r["step"])  # the least-disturbed step, its stages consistent
        result[mode] = {**best, "median step": statistics.median(r["step"] for r in rows)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=["rotmnist-T2", "rotmnist-SE2"], choices=sorted(CONFIGS))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--native", choices=["default", "on", "off", "both"], default="default",
                        help="native FPS (LIEFORMER_NATIVE): as set, on, off, or both in alternating steps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    modes = ("on", "off") if args.native == "both" else (args.native,)
    results = {}
    for name in args.only:
        for mode, r in profile(name, args.steps, modes).items():
            results[name if mode == "default" else f"{name} (native FPS {mode})"] = r
    print(f"# {date.today()} · torch {torch.__version__} · {args.threads} threads · the fastest of {args.steps} "
          "steps, seconds\n")
    print("| stage | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for key, label in STAGES.items():
        print(f"| {label} | " + " | ".join(f"{r[key]:.3f}" for r in results.values()) + " |")
    print("| whole step (fastest / median) | " + " | ".join(f"{r['step']:.3f} / {r['median step']:.3f}" for r in results.values()) + " |")


if __name__ == "__main__":
    main()
