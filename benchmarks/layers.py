"""Train-mode forward+backward time and peak memory of LieResNet and LieTransformer at the
RotMNIST and QM9 configurations of DESIGN.md §7.

    .venv/bin/python benchmarks/layers.py            # every configuration, median of 7
    .venv/bin/python benchmarks/layers.py --only rotmnist-T2 --repeats 3

Each configuration runs in its own subprocess so that its peak RSS (ru_maxrss) is its own; the
table prints seconds per step (median), the peak RSS of the whole process, the step's
floating-point work (torch's FlopCounterMode: matmuls, convolutions) and the time that work takes
at this machine's large-matmul rate: a floor for any float32 implementation of the configuration.
Ratios to the original LieConv come from benchmarks/original.py, which runs both side by side in
one run (a ratio to figures measured on another day means little on a VM that moves by 2×).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import date

import torch
from torch.utils.flop_counter import FlopCounterMode

# name: (model, group, lift samples, model kwargs, data)
ROTMNIST = dict(k=128, num_layers=6, nbhd=25, fill=0.1, total_ds=0.1)
QM9_T3 = dict(k=1536, num_layers=6, nbhd=100, fill=1.0)
QM9_SE3 = dict(k=1536, num_layers=6, nbhd=25, fill=0.5)
LT_ROTMNIST = dict(dim=128, num_layers=6, heads=8, nbhd=25, fill=0.5, kernel_dim=16)
LT_QM9 = dict(dim=1504, num_layers=6, heads=8, nbhd=25, fill=0.5, kernel_dim=6)
CONFIGS = {
    "rotmnist-T2": ("LieResNet", "T(2)", 1, ROTMNIST, "rotmnist"),
    "rotmnist-SE2": ("LieResNet", "SE2(alpha=0.2)", 1, ROTMNIST, "rotmnist"),
    "rotmnist-SE2x2": ("LieResNet", "SE2(alpha=0.2)", 2, ROTMNIST, "rotmnist"),
    "rotmnist-T2-ckpt": ("LieResNet", "T(2)", 1, {**ROTMNIST, "checkpoint": True}, "rotmnist"),
    "rotmnist-SE2-ckpt": ("LieResNet", "SE2(alpha=0.2)", 1, {**ROTMNIST, "checkpoint": True}, "rotmnist"),
    "rotmnist-SE2x2-ckpt": ("LieResNet", "SE2(alpha=0.2)", 2, {**ROTMNIST, "checkpoint": True}, "rotmnist"),
    "qm9-T3": ("LieResNet", "T(3)", 1, QM9_T3, "qm9"),
    "qm9-SE3x4": ("LieResNet", "SE3(alpha=0.2)", 4, QM9_SE3, "qm9"),
    "lt-rotmnist-T2": ("LieTransformer", "T(2)", 1, LT_ROTMNIST, "rotmnist"),
    "lt-rotmnist-SE2": ("LieTransformer", "SE2(alpha=0.2)", 1, LT_ROTMNIST, "rotmnist"),
    "lt-rotmnist-SE2-ckpt": ("LieTransformer", "SE2(alpha=0.2)", 1, {**LT_ROTMNIST, "checkpoint": True}, "rotmnist"),
    "lt-qm9-T3": ("LieTransformer", "T(3)", 1, LT_QM9, "qm9"),
    "lt-qm9-SE3x4": ("LieTransformer", "SE3(alpha=0.2)", 4, LT_QM9, "qm9"),
}


def rotmnist_batch(B: int = 25):
    """25 images as point sets: the 28×28 pixel grid over [−14, 14]², radius < 15 (648 points)."""
    t = torch.linspace(-14, 14, 28)
    grid = torch.stack(torch.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
    grid = grid[grid.norm(dim=-1) < 15]
    coords = grid.expand(B, -1, -1).contiguous()
    values = torch.rand(B, grid.shape[0], 1, generator=torch.Generator().manual_seed(0))
    return coords, values, torch.ones(B, grid.shape[0], dtype=torch.bool), 10


def qm9_batch(B: int = 32, atoms: int = 18):
    """32 molecules of 18 atoms: Gaussian coordinates (Å scale), 15 one-hot-style features."""
    gen = torch.Generator().manual_seed(0)
    coords = 1.5 * torch.randn(B, atoms, 3, generator=gen)
    values = torch.rand(B, atoms, 15, generator=gen)
    return coords, values, torch.ones(B, atoms, dtype=torch.bool), 1


def run_one(name: str, repeats: int, threads: int) -> dict:
    from lieformer import LieResNet, LieTransformer

    torch.set_num_threads(threads)
    model_name, group, samples, kwargs, data = CONFIGS[name]
    coords, values, mask, outputs = rotmnist_batch() if data == "rotmnist" else qm9_batch()
    cls = {"LieResNet": LieResNet, "LieTransformer": LieTransformer}[model_name]
    torch.manual_seed(0)
    model = cls(values.shape[-1], outputs, group, lift_samples=samples, **kwargs).train()
    gen = torch.Generator().manual_seed(0)
    times = []
    for i in range(repeats + 1):  # one warm-up step
        start = time.perf_counter()
        out = model(coords, values, mask, generator=gen)
        out.square().mean().backward()
        model.zero_grad(set_to_none=True)
        if i:
            times.append(time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with FlopCounterMode(display=False) as counter:  # after the timing: it does not touch the peak
        model(coords, values, mask, generator=gen).square().mean().backward()
    return {"name": name, "seconds": statistics.median(times), "peak_mb": peak_mb,
            "params": sum(p.numel() for p in model.parameters()), "flops": counter.get_total_flops()}


def matmul_rate(threads: int) -> float:
    """FLOP/s of a large float32 matmul on this machine: the compute ceiling of any step."""
    torch.set_num_threads(threads)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    for _ in range(2):
        a @ b
    start = time.perf_counter()
    for _ in range(5):
        a @ b
    return 5 * 2 * 2048**3 / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=sorted(CONFIGS), help="configurations to run (default all)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, args.repeats, args.threads)))
        return
    names = args.only or list(CONFIGS)
    rate = matmul_rate(args.threads)
    print(f"# {date.today()} · {platform.processor() or platform.machine()} · torch {torch.__version__} · "
          f"{args.threads} threads · median of {args.repeats}, train-mode forward+backward · "
          f"float32 matmul peak {rate / 1e9:.0f} GFLOP/s\n")
    print("| configuration | model | group | lift samples | s/step | peak RSS MB | GFLOP/step | compute floor s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", name, "--repeats", str(args.repeats), "--threads", str(args.threads)],
            capture_output=True, text=True,
        )
        if proc.returncode:
            print(f"| {name} | failed: {proc.stderr.strip().splitlines()[-1]} |")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        model_name, group, samples, _, _ = CONFIGS[name]
        print(f"| {name} | {model_name} | {group} | {samples} | {r['seconds']:.3f} | {r['peak_mb']:.0f} "
              f"| {r['flops'] / 1e9:.1f} | {r['flops'] / rate:.3f} |", flush=True)


if __name__ == "__main__":
    main()
