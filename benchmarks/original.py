"""The original LieConv (mfinzi/LieConv at 93affb1) and lieformer's LieResNet at the same
configurations, interleaved in one run: seconds per train-mode step, peak RSS, and the ratios.

    .venv/bin/python benchmarks/original.py --lieconv ../LieConv --python ../venv-original/bin/python
    .venv/bin/python benchmarks/original.py --lieconv ../LieConv --python ../venv-original/bin/python \\
        --only rotmnist-SE2 --repeats 3 --rounds 2 --threads 1
    # another lieformer tree (e.g. an older commit) instead of this one:
    .venv/bin/python benchmarks/original.py ... --lieformer-src /tmp/lieformer-40eb3d4

Preparing the original (nothing of it is vendored into or installed by lieformer). Its
`pip install` fails on current Python: setup.py pulls olive-oil-ml and torchdiffeq from git, which
only its trainers need; the layer modules (lie_conv/lieConv.py, lieGroups.py, utils.py,
masked_batchnorm.py) import only torch and numpy. So clone it and give it a plain environment:

    git clone https://github.com/mfinzi/LieConv && git -C LieConv checkout 93affb1
    python -m venv venv-original && venv-original/bin/pip install torch==2.13.0 numpy

and pass `--lieconv LieConv --python venv-original/bin/python` (the checkout goes on that
interpreter's PYTHONPATH). Any interpreter with torch and numpy will do, lieformer's own .venv
included. With torch 2.13 the original runs unpatched, no environment variable needed (it warns
about torch.meshgrid's indexing argument and, with -W default, invalid escape sequences).
`make bench LIECONV=../LieConv LIECONV_PYTHON=../venv-original/bin/python` runs this script too.

What is measured. Configurations, batches and lieformer's settings are layers.py's
(rotmnist-T2, rotmnist-SE2, rotmnist-SE2x2, qm9-T3, qm9-SE3x4). The original is built from its
own code at the matching settings: RotMNIST with `ImgLieResnet(chin=1, num_targets=10, k=128,
nbhd=25, fill=0.1, total_ds=0.1, num_layers=6, group=T(2) | SE2(0.2), liftsamples=1 | 2)` on the
same 25 images (the points' values put back on the 28×28 pixel grid); QM9 as examples/
train_molec.py builds MolecLieResNet (which imports the trainer library, so its base class is
used directly): `LieResNet(chin=15, num_outputs=1, ds_frac=1, k=1536, num_layers=6, bn=True,
act="swish", mean=True, group=T(3) | SE3(0.2), nbhd=100 | 25, fill=1 | 0.5, liftsamples=1 | 4)`
(train_molec.py's net_config with the README's QM9 commands' group, fill, nbhd and liftsamples)
on the same coordinates, features and mask (MolecLieResNet's featurisation and random-rotation
augmentation, done under no_grad before the network, are left out). The original is measured as it runs in training:
ImgLieResnet lifts the first batch once and caches the lift and its FPS indices (cache=True),
so from the second step on it skips lifting and farthest-point sampling, which lieformer redoes
at every step (the warm-up step fills that cache).

Each measurement is its own process (benchmarks/step_timer.py; the original's imports only
torch, numpy and lie_conv): one warm-up step, then the median of --repeats train-mode forward +
backward steps; peak memory is that process's ru_maxrss (torch loaded included). Each round runs
every configuration, original and lieformer back to back, the order alternating between rounds;
the table gives each side's median over rounds, the time ratio original / lieformer (× faster)
and the memory ratio lieformer / original, all from this run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from layers import CONFIGS, qm9_batch, rotmnist_batch  # noqa: E402

HERE = Path(__file__).resolve().parent
TIMER = HERE / "step_timer.py"
ORIGINAL_COMMIT = "93affb1"
COMPARED = ["rotmnist-T2", "rotmnist-SE2", "rotmnist-SE2x2", "qm9-T3", "qm9-SE3x4"]
SIDES = ("original", "lieformer")


def specs(name: str) -> dict[str, dict]:
    """The two sides' model specs (step_timer.py) for a layers.py configuration."""
    model, group, samples, kwargs, data = CONFIGS[name]
    if model != "LieResNet" or data not in ("rotmnist", "qm9"):
        raise ValueError(f"{name}: original.py compares LieResNet configurations only")
    lieformer = {"model": model, "group": group, "lift_samples": samples, "kwargs": kwargs}
    shared = {key: kwargs[key] for key in ("k", "num_layers", "nbhd", "fill")}
    if data == "rotmnist":  # lieConv.ImgLieResnet: bn, swish, mean pooling by default
        original = {"model": "ImgLieResnet", "group": group,
                    "kwargs": {**shared, "total_ds": kwargs["total_ds"], "chin": 1, "num_targets": 10,
                               "liftsamples": samples}}
    else:  # moleculeTrainer.MolecLieResNet's base, with train_molec.py's net_config
        original = {"model": "LieResNet", "group": group,
                    "kwargs": {**shared, "chin": 15, "num_outputs": 1, "ds_frac": 1, "bn": True, "act": "swish",
                               "mean": True, "liftsamples": samples}}
    unmatched = set(kwargs) - set(shared) - {"total_ds"}
    if unmatched:
        raise ValueError(f"{name}: lieformer settings {sorted(unmatched)} have no counterpart in the original")
    return {"original": original, "lieformer": lieformer}


def batch(data: str) -> dict:
    """layers.py's batch, plus for RotMNIST the same values as the images ImgLieResnet takes."""
    coords, values, mask, outputs = rotmnist_batch() if data == "rotmnist" else qm9_batch()
    out = {"coords": coords, "values": values, "mask": mask, "outputs": outputs}
    if data == "rotmnist":
        out["image"] = points_to_image(coords, values)
    return out


def points_to_image(coords: torch.Tensor, values: torch.Tensor, size: int = 28) -> torch.Tensor:
    """Values (B, N, 1) at pixel centres coords (B, N, 2) on linspace(−size/2, size/2, size)² →
    images (B, 1, size, size), zero off the points (ImgLieResnet crops to those points again)."""
    step = size / (size - 1)
    index = ((coords + size / 2) / step).round().long()  # (B, N, 2) row, column
    image = torch.zeros(values.shape[0], 1, size, size, dtype=values.dtype)
    rows = torch.arange(values.shape[0])[:, None]
    image[rows, 0, index[..., 0], index[..., 1]] = values[..., 0]
    return image


def check_lieconv(lieconv: Path, python: str) -> tuple[str, str]:
    """Fail clearly unless `lieconv` is a LieConv checkout importable by `python`; its commit and
    that interpreter's torch version."""
    if not (lieconv / "lie_conv" / "lieConv.py").is_file():
        raise SystemExit(
            f"--lieconv {lieconv}: not a checkout of mfinzi/LieConv (no lie_conv/lieConv.py there). "
            f"Prepare one: git clone https://github.com/mfinzi/LieConv && git -C LieConv checkout {ORIGINAL_COMMIT}")
    probe = subprocess.run([python, "-c", "import torch, numpy, lie_conv.lieConv; print(torch.__version__)"],
                           capture_output=True, text=True, env=child_env(str(lieconv), 1))
    if probe.returncode:
        last = (probe.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise SystemExit(f"--python {python} cannot import the original from --lieconv {lieconv}: {last}\n"
                         "It needs torch and numpy only: python -m venv venv-original && "
                         "venv-original/bin/pip install torch==2.13.0 numpy")
    return git_commit(lieconv), probe.stdout.strip()


def child_env(pythonpath: str, threads: int) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(PYTHONPATH=pythonpath, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def run_side(python: str, pythonpath: str, side: str, spec: dict, data_file: str, repeats: int, threads: int) -> dict:
    """One measurement in its own process: {"seconds", "peak_mb", ...} or {"error": last line}."""
    proc = subprocess.run([python, str(TIMER), "--side", side, "--spec", json.dumps(spec), "--data", data_file,
                           "--repeats", str(repeats), "--threads", str(threads)],
                          capture_output=True, text=True, env=child_env(pythonpath, threads))
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        message = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return {"error": message}
    result = json.loads(lines[-1])
    if not Path(result["package"]).resolve().is_relative_to(Path(pythonpath.split(os.pathsep)[0]).resolve()):
        return {"error": f"{side} was imported from {result['package']}, not from {pythonpath}"}
    return result


def round_order(round_index: int) -> tuple[str, str]:
    """Original first in even rounds, lieformer first in odd ones."""
    return SIDES if round_index % 2 == 0 else SIDES[::-1]


def summarise(rounds: dict[str, list[dict]]) -> dict:
    """Per side the medians over rounds of seconds and peak MB (rounds that failed are left out,
    their error kept), the ratios original / lieformer time and lieformer / original memory, and
    each round's time ratio."""
    out = {}
    for side in SIDES:
        ok = [r for r in rounds[side] if "error" not in r]
        errors = [r["error"] for r in rounds[side] if "error" in r]
        out[side] = ({"seconds": statistics.median(r["seconds"] for r in ok),
                      "peak_mb": statistics.median(r["peak_mb"] for r in ok)} if ok else {"error": errors[0]})
    if all("error" not in out[side] for side in SIDES):
        out["speedup"] = out["original"]["seconds"] / out["lieformer"]["seconds"]
        out["memory"] = out["lieformer"]["peak_mb"] / out["original"]["peak_mb"]
        out["round_speedups"] = [o["seconds"] / lf["seconds"] for o, lf in zip(rounds["original"], rounds["lieformer"])
                                 if "error" not in o and "error" not in lf]
    return out


def table_row(name: str, summary: dict) -> str:
    cells = [name]
    for side in SIDES:
        s = summary[side]
        cells += [f"failed: {s['error']}", ""] if "error" in s else [f"{s['seconds']:.3f}", f"{s['peak_mb']:.0f}"]
    if "speedup" in summary:
        cells += [f"{summary['speedup']:.2f}×", f"{summary['memory']:.2f}×",
                  " / ".join(f"{x:.2f}" for x in summary["round_speedups"])]
    else:
        cells += ["n/a", "n/a", ""]
    return "| " + " | ".join(cells) + " |"


TABLE_HEAD = ("| configuration | original s/step | original peak RSS MB | lieformer s/step | lieformer peak RSS MB "
              "| time original / lieformer | memory lieformer / original | time ratio per round |\n"
              "|---|---|---|---|---|---|---|---|")


def cpu_name() -> str:
    """The CPU's model name (Linux), else the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def git_commit(tree: Path) -> str:
    """The tree's short commit, "+changes" when its tracked files differ from it."""
    head = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short=7", "HEAD"], capture_output=True, text=True)
    if head.returncode:
        return "not a git tree"
    changed = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"],
                             capture_output=True, text=True).stdout.strip()
    return head.stdout.strip() + (" + uncommitted changes" if changed else "")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lieconv", required=True, type=Path, help=f"a checkout of mfinzi/LieConv ({ORIGINAL_COMMIT})")
    parser.add_argument("--python", required=True, help="an interpreter that imports it (torch + numpy)")
    parser.add_argument("--lieformer-src", type=Path, default=HERE.parent,
                        help="the lieformer tree to measure (default this one; its src/ goes on PYTHONPATH)")
    parser.add_argument("--only", nargs="*", choices=COMPARED, help="configurations to run (default all five)")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per measurement (median)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (median over rounds)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.rounds < 1 or args.threads < 1:
        parser.error("--repeats, --rounds and --threads must be at least 1")
    lieformer_src = args.lieformer_src.resolve() / "src"
    if not (lieformer_src / "lieformer" / "__init__.py").is_file():
        parser.error(f"--lieformer-src {args.lieformer_src}: no src/lieformer/__init__.py there")
    lieconv = args.lieconv.resolve()
    original_commit, original_torch = check_lieconv(lieconv, args.python)
    names = args.only or COMPARED
    pythonpath = {"original": str(lieconv), "lieformer": str(lieformer_src)}
    python = {"original": args.python, "lieformer": sys.executable}
    print(f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · {platform.node()} ({cpu_name()}, "
          f"{os.cpu_count()} cores) · torch {torch.__version__} · {args.threads} threads · "
          f"median of {args.repeats} steps, {args.rounds} rounds · train-mode forward+backward\n"
          f"# original: {lieconv} at {original_commit}, {args.python} (torch {original_torch}); "
          f"lieformer: {lieformer_src} at {git_commit(args.lieformer_src)}\n", flush=True)
    results = {name: {side: [] for side in SIDES} for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for data in {CONFIGS[name][4] for name in names}:
            files[data] = str(Path(tmp) / f"{data}.pt")
            torch.save(batch(data), files[data])
        for r in range(args.rounds):
            for name in names:
                spec = specs(name)
                for side in round_order(r):
                    result = run_side(python[side], pythonpath[side], side, spec[side], files[CONFIGS[name][4]],
                                      args.repeats, args.threads)
                    results[name][side].append(result)
                    shown = result.get("error") or f"{result['seconds']:.3f} s, {result['peak_mb']:.0f} MB"
                    print(f"# round {r + 1} {name} {side}: {shown}", file=sys.stderr, flush=True)
    print(TABLE_HEAD)
    for name in names:
        print(table_row(name, summarise(results[name])), flush=True)


if __name__ == "__main__":
    main()
