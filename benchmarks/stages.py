"""Where a LieResNet training step spends its time: FPS, neighbour search, the per-pair kernel
(WeightNet + contraction), the rest of the forward, and the backward pass.

    .venv/bin/python benchmarks/stages.py                      # RotMNIST T(2) and SE2
    .venv/bin/python benchmarks/stages.py --only qm9-T3 --steps 3
    .venv/bin/python benchmarks/stages.py --native both      # native FPS on / off, alternating steps
    .venv/bin/python benchmarks/stages.py --ops --saved      # + time by kind of operation, memory by source

Stages are timed by wrapping the functions LieConv calls (wall clock, forward only; the kernel
stage includes its own gathers); two more rows time the native kernel MLP and contraction calls,
forward and backward (0 where the PyTorch paths run). Configurations and data are those of
layers.py.

--ops profiles one more step (torch.profiler, self CPU time, forward + backward) by kind of
operation: matmuls (mm, addmm, bmm: the arithmetic the step cannot avoid), LieConv's native
kernels (their autograd Functions' own time: the ctypes calls), BatchNorm + Swish, gathers and
scatters, the rest (FPS and neighbour search among it). Summed over threads' busy time, so the total
exceeds the wall clock with 2 threads. --saved sums the tensors autograd keeps for the backward
pass after one forward (each storage once), by the line of lieformer that saved them: what the
peak memory holds beyond the ~230 MB of torch, lieformer and the batch.
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import traceback
import statistics
import time
from datetime import date

import torch

from layers import CONFIGS, qm9_batch, rotmnist_batch
from lieformer import LieResNet
from lieformer.nn import lieconv
from lieformer.nn.native import contraction as native_contraction
from lieformer.nn.native import weightnet as native_weightnet

STAGES = {"fps": "farthest-point subsampling", "neighbours": "ball / kNN neighbourhoods",
          "kernel": "kernel MLP + contraction (forward)", "rest": "rest of the forward", "backward": "backward",
          "native_mlp": "of which the native kernel MLP (forward + backward)",
          "native_contraction": "of which the native contraction (forward, its recomputation, backward)"}


def timed(totals: dict, key: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        totals[key] += time.perf_counter() - start
        return out
    return wrapper


def profile(name: str, steps: int, modes: tuple[str, ...] = ("default",), extras: dict | None = None) -> dict[str, dict[str, float]]:
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
    natives = {(native_weightnet, "forward"): "native_mlp", (native_weightnet, "backward"): "native_mlp",
               (native_contraction, "forward"): "native_contraction", (native_contraction, "backward"): "native_contraction"}
    native_originals = {where: getattr(*where) for where in natives}
    for (module, f), key in natives.items():
        setattr(module, f, timed(totals, key, native_originals[(module, f)]))
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
            row.update({k: totals[k] for k in ("native_mlp", "native_contraction")})
            row["backward"] = end - middle
            row["step"] = end - start
            if i >= len(modes):
                runs[mode].append(row)
    finally:
        for f in patches:
            setattr(lieconv, f, originals[f])
        lieconv.LieConv.aggregate = original_aggregate
        for (module, f), fn in native_originals.items():
            setattr(module, f, fn)
    if extras is not None:  # after the timed steps, unwrapped: --ops and --saved
        batch = (coords, values, mask, gen)
        for key, fn in (("ops", op_profile), ("saved", saved_profile)):
            if key in extras:
                extras[key][name] = fn(model, batch)
    result = {}
    for mode, rows in runs.items():
        best = min(rows, key=lambda r: r["step"])  # the least-disturbed step, its stages consistent
        result[mode] = {**best, "median step": statistics.median(r["step"] for r in rows)}
    return result


OP_KINDS = {
    "matmuls (mm, addmm, bmm)": ("aten::mm", "aten::addmm", "aten::bmm"),
    "native kernels (contraction, kernel MLP)": tuple(f"{name}{suffix}" for name in (
        "_NativeContraction", "_NativeContractionLinear", "_NativeWeightNet") for suffix in ("", "Backward")),
    "BatchNorm + Swish (forward, backward)": ("aten::native_batch_norm", "aten::native_batch_norm_backward",
                                              "aten::silu", "aten::silu_backward", "aten::addcmul",
                                              "_BatchNormSwish", "_BatchNormSwishBackward"),
    "gathers and scatters": ("aten::index", "aten::_index_put_impl_", "aten::gather", "aten::scatter_add_",
                             "aten::scatter_add", "aten::index_select"),
}


def op_profile(model, batch) -> dict[str, float]:
    """Self CPU seconds of one training step by kind of operation (OP_KINDS, and the rest)."""
    from torch.profiler import profile as torch_profile

    coords, values, mask, gen = batch
    with torch_profile() as prof:
        model(coords, values, mask, generator=gen).square().mean().backward()
    model.zero_grad(set_to_none=True)
    kinds = collections.defaultdict(float)
    for event in prof.key_averages():
        kind = next((k for k, names in OP_KINDS.items() if event.key in names), "everything else")
        kinds[kind] += event.self_cpu_time_total / 1e6
    kinds["total (busy time of all threads)"] = sum(kinds.values())
    return kinds


def saved_profile(model, batch) -> dict[str, float]:
    """MB of tensors saved for the backward pass by one forward, by the lieformer line that saved them."""
    coords, values, mask, gen = batch
    seen, by_line = set(), collections.Counter()

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            frames = [f for f in traceback.extract_stack() if "/lieformer/" in f.filename]
            line = f"{frames[-1].filename.split('/lieformer/')[-1]}:{frames[-1].lineno} `{frames[-1].line.strip()[:48]}`" if frames else "?"
            by_line[line] += storage.nbytes() / 2**20
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(coords, values, mask, generator=gen)
    del out
    return {"total": sum(by_line.values()), **dict(by_line.most_common(8))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=["rotmnist-T2", "rotmnist-SE2"], choices=sorted(CONFIGS))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--native", choices=["default", "on", "off", "both"], default="default",
                        help="native FPS (LIEFORMER_NATIVE): as set, on, off, or both in alternating steps")
    parser.add_argument("--ops", action="store_true", help="also: one step's self CPU time by kind of operation")
    parser.add_argument("--saved", action="store_true", help="also: MB saved for the backward pass, by source line")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    modes = ("on", "off") if args.native == "both" else (args.native,)
    extras = {key: {} for key in ("ops", "saved") if getattr(args, key)}
    results = {}
    for name in args.only:
        for mode, r in profile(name, args.steps, modes, extras).items():
            results[name if mode == "default" else f"{name} (native FPS {mode})"] = r
    print(f"# {date.today()} · torch {torch.__version__} · {args.threads} threads · the fastest of {args.steps} "
          "steps, seconds\n")
    print("| stage | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for key, label in STAGES.items():
        print(f"| {label} | " + " | ".join(f"{r[key]:.3f}" for r in results.values()) + " |")
    print("| whole step (fastest / median) | " + " | ".join(f"{r['step']:.3f} / {r['median step']:.3f}" for r in results.values()) + " |")
    if "ops" in extras:
        names = list(extras["ops"])
        print("\nOne more step under torch.profiler: self CPU seconds by kind of operation (all threads)\n")
        print("| kind | " + " | ".join(names) + " |")
        print("|---|" + "---|" * len(names))
        for kind in [*OP_KINDS, "everything else", "total (busy time of all threads)"]:
            print(f"| {kind} | " + " | ".join(f"{extras['ops'][n].get(kind, 0.0):.3f}" for n in names) + " |")
    for name, rows in extras.get("saved", {}).items():
        print(f"\n{name}: MB saved for the backward pass by one forward ({rows['total']:.0f} MB in all), largest sources\n")
        print("| MB | saved at |")
        print("|---|---|")
        for line, mb in rows.items():
            if line != "total":
                print(f"| {mb:.1f} | {line} |")


if __name__ == "__main__":
    main()
