"""`make demo`: train a small LieTransformer-SE2 and a Set Transformer on constellation counting
(data generated here), test both on the D, T2 and SE2 test sets, print the table, write plots.

    python -m lieformer.demo [--epochs N] [--n-train N] [--n-val N] [--n-test N]

It runs from any directory: the configs come from the repository the package is installed from
(`pip install -e .`, as `make demo` does), the runs go to runs/constellation/ under the current
directory, and a previous demo run there is replaced (the demo says so).

The LieTransformer is invariant to rotations and translations, so its three test accuracies
agree; the Set Transformer sees raw coordinates and loses accuracy on the moved test sets.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .cli import ConfigError, build_cli
from .tasks.plots import plot_learning_curves

#: the repository's configs, found from this file (src/lieformer/demo.py) wherever the demo runs
CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
CONFIGS = {
    "LieTransformer-SE2": "constellation/lietransformer_se2_cpu.yaml",
    "SetTransformer": "constellation/set_transformer_cpu.yaml",
}


def config_path(name: str) -> Path:
    """The path of a demo config; SystemExit with a one-line message when the configs are not there."""
    path = CONFIG_DIR / name
    if not path.is_file():
        raise SystemExit(f"lieformer.demo: error: no config {path}: the demo needs the repository's configs/ "
                         "(install the package from a checkout: pip install -e .)")
    return path


def run(name: str, config: Path, overrides: list[str]) -> tuple[dict, Path, float]:
    """Train on the config (its runs directory under the current one, a previous run there replaced),
    test the best checkpoint; (test metrics, run directory, seconds)."""
    start = time.time()
    cli = build_cli(["--config", str(config), "--trainer.enable_model_summary", "false", *overrides],
                    run=False, replace_existing_run=True)
    try:
        root = Path(cli.trainer.default_root_dir).absolute()
        print(f"run directory: {root}", flush=True)
        cli.trainer.fit(cli.model, cli.datamodule)
        results = cli.trainer.test(cli.model, cli.datamodule, ckpt_path="best", verbose=False)
    finally:
        cli.release_run_directory()
    metrics = {k: v for r in results for k, v in r.items()}
    return metrics, root, time.time() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, help="override trainer.max_epochs of both configs")
    parser.add_argument("--n-train", type=int, help="override data.n_train of both configs")
    parser.add_argument("--n-val", type=int, help="override data.n_val of both configs")
    parser.add_argument("--n-test", type=int, help="override data.n_test of both configs")
    args = parser.parse_args(argv)
    overrides = []
    if args.epochs:
        overrides += ["--trainer.max_epochs", str(args.epochs)]
    for field in ("n_train", "n_val", "n_test"):
        if getattr(args, field):
            overrides += [f"--data.{field}", str(getattr(args, field))]
    configs = {name: config_path(config) for name, config in CONFIGS.items()}
    rows, curves = [], {}
    for name, config in configs.items():
        print(f"\n=== training {name} ({config.relative_to(CONFIG_DIR.parent)}) ===", flush=True)
        try:
            metrics, root, seconds = run(name, config, overrides)
        except ConfigError as err:  # e.g. another run is using the directory
            raise SystemExit(f"lieformer.demo: error: {err}") from None
        rows.append((name, metrics, seconds))
        curves[name] = root / "logs" / "metrics.csv"
    plot = plot_learning_curves(curves, Path("runs/constellation/demo_learning_curves.png").absolute(),
                                metrics=("train/loss_epoch", "val/D/mean", "val/SE2/mean", "val/SE2/exact"))
    print("\nConstellation counting, test accuracy: mean per-pattern (the paper's metric) / exact match (all four counts right)")
    print("| model | D (plain) | T2 (translated) | SE2 (rotated + translated) | train+test time |")
    print("|---|---|---|---|---|")
    for name, m, seconds in rows:
        cells = [f"{m[f'test/{v}/mean']:.3f} / {m[f'test/{v}/exact']:.3f}" for v in ("D", "T2", "SE2")]
        print(f"| {name} | {' | '.join(cells)} | {seconds / 60:.1f} min |")
    print(f"\nplots: {plot}, {plot.parent}/*/constellations_*.png")


if __name__ == "__main__":
    main()
