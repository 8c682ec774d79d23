"""LieTransformer against a dense all-pairs reference written here, independently of lieformer's
sparse code path: same outputs when every point attends to every point, then time and memory of
the sparse model (nbhd neighbours) as ratios of the dense one's.

    .venv/bin/python benchmarks/attention_dense.py            # SE2 on RotMNIST-sized point sets
    .venv/bin/python benchmarks/attention_dense.py --batch 2 --points 300 --repeats 3

The dense reference forms the (B, L, L, ·) pair features and logits of every layer — what the
original LieTransformer does — using the parameters of the sparse model (dot-product content,
MLP location, sum, softmax: the paper's default), so the first check is an equality.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from datetime import date

import torch
import torch.nn.functional as F

from lieformer import LieTransformer
from lieformer.nn.norm import masked_pool


def dense_forward(model: LieTransformer, coords, values, mask, stabilizer):
    """The LieTransformer's forward with all L × L pairs, written with dense matmuls."""
    space = model.space
    lifted = space.lift(coords, values, mask, model.lift_samples, stabilizer=stabilizer)
    B, L = lifted.mask.shape
    every = torch.arange(L).expand(B, L, L)
    pairs = space.pair_features(lifted, every, features=model.pair_features)  # (B, L, L, P): the quadratic tensor
    pair_mask = lifted.mask[:, None, :] & lifted.mask[:, :, None]
    f = model.embed(lifted.values)
    for block in model.blocks:
        att = block.attention
        H, d = att.heads, att.head_dim
        x = block.norm1(f, lifted.mask)
        q = att.to_q(x).view(B, L, H, d).transpose(1, 2)
        k = att.to_k(x).view(B, L, H, d).transpose(1, 2)
        v = att.to_v(x).view(B, L, H, d).transpose(1, 2)
        content = q @ k.transpose(-1, -2) / math.sqrt(d)  # (B, H, L, L)
        hidden = F.silu(att.location_in(pairs).unflatten(-1, (H, -1)))  # (B, L, L, H, kd)
        for i, layer in enumerate(att.location_mlp.layers):
            hidden = layer(hidden if i == 0 else F.silu(hidden))
        location = hidden.squeeze(-1).permute(0, 3, 1, 2)  # (B, H, L, L)
        logits = (content + location).masked_fill(~pair_mask[:, None], float("-inf"))
        weights = torch.nan_to_num(torch.softmax(logits, -1))
        out = (weights @ v).transpose(1, 2).reshape(B, L, H * d)
        f = f + att.to_out(out)
        f = f + block.mlp(block.norm2(f, lifted.mask))
        f = torch.where(lifted.mask.unsqueeze(-1), f, 0.0)
    return model.head(masked_pool(f, lifted.mask, model.pool))


def make_inputs(batch: int, points: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    coords = 10 * torch.rand(batch, points, 2, generator=gen)
    values = torch.rand(batch, points, 1, generator=gen)
    return coords, values, torch.ones(batch, points, dtype=torch.bool)


def build(points: int, nbhd: int) -> LieTransformer:
    torch.manual_seed(0)
    return LieTransformer(1, 10, "SE2(alpha=0.2)", dim=64, num_layers=4, heads=4, nbhd=nbhd, kernel_dim=16).train()


def check_equal(batch: int, points: int) -> float:
    """max |sparse − dense| with every point a neighbour (float64)."""
    model = build(points, nbhd=points).double()
    coords, values, mask = make_inputs(batch, points)
    coords, values = coords.double(), values.double()
    h = model.space.lift_stabilizer(batch, points, 1, torch.Generator().manual_seed(1), torch.float64, None)
    sparse = model(coords, values, mask, stabilizer=h)
    dense = dense_forward(model, coords, values, mask, h)
    return (sparse - dense).abs().max().item()


def time_one(kind: str, batch: int, points: int, nbhd: int, repeats: int) -> dict:
    torch.set_num_threads(2)
    model = build(points, nbhd)
    coords, values, mask = make_inputs(batch, points)
    h = model.space.lift_stabilizer(batch, points, 1, torch.Generator().manual_seed(1), torch.float32, None)
    run = (lambda: model(coords, values, mask, stabilizer=h)) if kind == "sparse" else (
        lambda: dense_forward(model, coords, values, mask, h))
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        run().square().mean().backward()
        model.zero_grad(set_to_none=True)
        if i:
            times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--points", type=int, nargs="*", default=[256, 648, 1296])
    parser.add_argument("--nbhd", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, points = args.child[0], int(args.child[1])
        print(json.dumps(time_one(kind, args.batch, points, args.nbhd, args.repeats)))
        return
    print(f"# {date.today()} · torch {torch.__version__} · 2 threads · SE2 LieTransformer (dim 64, 4 layers, "
          f"4 heads), batch {args.batch}, train-mode forward+backward, median of {args.repeats}\n")
    print(f"sparse (every point a neighbour) vs dense reference, float64: max |Δ| = {check_equal(2, 40):.2e}\n")
    print(f"| points | dense s/step | dense peak MB | sparse (nbhd {args.nbhd}) s/step | sparse peak MB | time ratio | memory ratio |")
    print("|---|---|---|---|---|---|---|")
    for points in args.points:
        result = {}
        for kind in ("dense", "sparse"):
            proc = subprocess.run([sys.executable, __file__, "--child", kind, str(points), "--batch", str(args.batch),
                                   "--nbhd", str(args.nbhd), "--repeats", str(args.repeats)], capture_output=True, text=True)
            result[kind] = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
        d, s = result["dense"], result["sparse"]
        if d is None or s is None:
            print(f"| {points} | {'failed (out of memory?)' if d is None else d['seconds']} | | "
                  f"{'failed' if s is None else s['seconds']} | | | |")
            continue
        print(f"| {points} | {d['seconds']:.3f} | {d['peak_mb']:.0f} | {s['seconds']:.3f} | {s['peak_mb']:.0f} | "
              f"{d['seconds'] / s['seconds']:.1f}× faster | {s['peak_mb'] / d['peak_mb']:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
