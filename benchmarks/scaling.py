"""Time and peak memory of one training step against the number of points N at fixed nbhd, with
the log-log slopes, and a plot (benchmarks/scaling.png).

    .venv/bin/python benchmarks/scaling.py                      # N = 1e3 … 3e4
    .venv/bin/python benchmarks/scaling.py --points 1000 100000 --model LieTransformer

One LieConv block (no subsampling) or one LieSelfAttention block with SE2 lifts, 8 channels,
nbhd 16, one batch element, each N in its own subprocess (peak RSS is per process).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import torch


def run_one(model_name: str, n: int, repeats: int) -> dict:
    from lieformer import LieResNet, LieTransformer

    torch.set_num_threads(2)
    torch.manual_seed(0)
    if model_name == "LieResNet":
        model = LieResNet(1, 1, "SE2", k=8, num_layers=1, nbhd=16, fill=min(1.0, 16 / n), knn=False)
    else:
        model = LieTransformer(1, 1, "SE2", dim=8, num_layers=1, heads=2, nbhd=16, kernel_dim=8)
    side = math.sqrt(n)  # constant density: the neighbourhoods keep their size
    coords = side * torch.rand(1, n, 2, generator=torch.Generator().manual_seed(0))
    values = torch.ones(1, n, 1)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        model(coords, values, None, generator=torch.Generator().manual_seed(i)).sum().backward()
        if i:
            times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"n": n, "seconds": min(times), "peak_mb": peak / 1024, "step_mb": (peak - base) / 1024}


def slope(xs, ys) -> float:
    lx, ly = [math.log(x) for x in xs], [math.log(max(y, 1e-9)) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, nargs="*", default=[1000, 3000, 10000, 30000])
    parser.add_argument("--model", choices=["LieResNet", "LieTransformer"], default="LieResNet")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.model, args.child, args.repeats)))
        return
    print(f"# {date.today()} · torch {torch.__version__} · 2 threads · {args.model}, SE2, nbhd 16, one block, "
          f"constant density, forward+backward (best of {args.repeats})\n")
    print("| N | s/step | peak RSS MB | step memory MB |")
    print("|---|---|---|---|")
    rows = []
    for n in args.points:
        proc = subprocess.run([sys.executable, __file__, "--child", str(n), "--model", args.model,
                               "--repeats", str(args.repeats)], capture_output=True, text=True)
        if proc.returncode:
            print(f"| {n} | failed: {proc.stderr.strip().splitlines()[-1]} | | |")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(r)
        print(f"| {n} | {r['seconds']:.3f} | {r['peak_mb']:.0f} | {r['step_mb']:.0f} |", flush=True)
    if len(rows) >= 2:
        ns = [r["n"] for r in rows]
        print(f"\nlog-log slope: time {slope(ns, [r['seconds'] for r in rows]):.2f}, "
              f"step memory {slope(ns, [max(r['step_mb'], 1) for r in rows]):.2f} (1 = linear, 2 = quadratic)")
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
        ax[0].loglog(ns, [r["seconds"] for r in rows], "o-")
        ax[0].set(xlabel="points N", ylabel="seconds per step", title=f"{args.model} time")
        ax[1].loglog(ns, [max(r["step_mb"], 1) for r in rows], "o-")
        ax[1].set(xlabel="points N", ylabel="MB above baseline", title="step memory")
        for a in ax:
            a.grid(alpha=0.3, which="both")
        fig.tight_layout()
        out = Path(__file__).with_name(f"scaling_{args.model}.png")
        fig.savefig(out, dpi=110)
        print(f"plot: {out}")


if __name__ == "__main__":
    main()
