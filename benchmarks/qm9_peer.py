"""QM9 beside a modern peer: TorchMD-NET's equivariant transformer (ET, Thölkes & De Fabritiis 2022)
and lieformer models, trained on the same split, targets and CPU time, through the same loop.

    python benchmarks/qm9_peer.py --seconds 600 --targets homo --models et lieconv_t3

Times are CPU seconds of this process (time.process_time; one thread), so a budget means the same
work on a machine shared with other jobs. For each model: a short calibration (a few training
steps, first-use work such as ET's Warp kernel compilation excluded) gives its steps per CPU
second; the step budget is then seconds × that rate, over which
Adam runs with a linear warm-up (1%) and cosine decay, L1 loss on targets standardised with the
training split (the lieformer protocol, lieformer.tasks.PointSetRegressor). Every model sees the
same shuffled training molecules (seeded). The validation MAE on --n-valid molecules is logged
at 10 points (not counted in the budget); at the end each model is tested on all 13,083 test
molecules. Prints one row per model: parameters, training molecules/s, steps, test MAE per
target in the papers' units (meV for homo/lumo/gap), valid MAE; writes results.json, the
learning curves (curves.csv, curves.png) and per model the test predictions with their parity
plot and error histogram to --out.

lieformer models come from configs/qm9/<name>_cpu.yaml (network, group, network_args, lr). ET is
built with torchmdnet.models.model.create_model ("equivariant-transformer", EquivariantScalar
output); for several targets its last gated block gets one output per target. ET sizes: "small"
(embedding 128, 4 layers, 32 RBFs) or "paper" (TorchMD-NET's QM9 configuration: 256, 8 layers,
64 RBFs); both with 8 heads, cutoff 5 Å, lr 4e-4 (TorchMD-NET's QM9 value), no atom-reference
prior (the targets' own standardisation instead, as for lieformer).

ET needs torchmd-net (it pins nothing that changes torch 2.13 CPU, but brings NVIDIA Warp,
torch_geometric, ase, h5py): install it in a separate environment, e.g.

    python3.11 -m venv /work/venv-peer
    /work/venv-peer/bin/pip install torch==2.13.0 torchmd-net==3.1.0 -e '.[qm9]'
    /work/venv-peer/bin/python benchmarks/qm9_peer.py ...

Without torchmd-net the ET row says so and the lieformer models still run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from lieformer.data.qm9 import UNITS, QM9Collate, QM9Data  # noqa: E402
from lieformer.data.qm9_plots import plot_error_histogram, plot_parity  # noqa: E402
from lieformer.tasks import PointSetRegressor  # noqa: E402
from lieformer.tasks.plots import plt, save_figure  # noqa: E402

ET_SIZES = {
    "small": dict(embedding_dimension=128, num_layers=4, num_rbf=32),
    "paper": dict(embedding_dimension=256, num_layers=8, num_rbf=64),
}


class LieformerModel(torch.nn.Module):
    """A lieformer QM9 CPU config's network: batches from QM9Collate → standardised predictions (B, T)."""

    def __init__(self, config: str, n_targets: int):
        super().__init__()
        init = yaml.safe_load((ROOT / "configs" / "qm9" / f"{config}_cpu.yaml").read_text())["model"]["init_args"]
        self.task = PointSetRegressor(init["network"], init["group"], init["in_channels"], targets=[f"t{i}" for i in range(n_targets)],
                                      network_args=init["network_args"])
        self.lr, self.collate, self.name = float(init["lr"]), QM9Collate(), config

    def forward(self, items):
        coords, values, mask, _ = self.collate(items)
        return self.task.standardised(coords, values, mask)


class ETModel(torch.nn.Module):
    """TorchMD-NET's ET through its own model API: atoms of a batch flattened with a batch index."""

    def __init__(self, size: str, n_targets: int):
        super().__init__()
        from torchmdnet.models.model import create_model
        from torchmdnet.models.utils import GatedEquivariantBlock

        args = dict(model="equivariant-transformer", **ET_SIZES[size], rbf_type="expnorm", trainable_rbf=False,
                    activation="silu", attn_activation="silu", num_heads=8, distance_influence="both",
                    neighbor_embedding=True, cutoff_lower=0.0, cutoff_upper=5.0, max_z=10, max_num_neighbors=32,
                    precision=32, derivative=False, atom_filter=-1, prior_model=None, output_model="Scalar",
                    reduce_op="add")
        self.net = create_model(args)
        if n_targets > 1:  # one output per target from the last gated block (ET's head has one)
            h = args["embedding_dimension"] // 2
            self.net.output_model.output_network[-1] = GatedEquivariantBlock(h, n_targets, activation="silu")
        self.lr, self.name = 4e-4, f"ET-{size}"

    def forward(self, items):
        coords = torch.stack([c for c, _, _ in items])
        charges = torch.stack([z for _, z, _ in items])
        mask = charges > 0
        batch = torch.arange(len(items)).unsqueeze(1).expand_as(charges)[mask]
        y, _ = self.net(charges[mask], coords[mask], batch)
        return y.reshape(len(items), -1)


def batches(dataset, batch_size: int, generator: torch.Generator | None):
    """Items of `dataset` in batches: shuffled by `generator`, in order without one."""
    order = torch.randperm(len(dataset), generator=generator) if generator is not None else torch.arange(len(dataset))
    for start in range(0, len(order), batch_size):
        yield [dataset[int(i)] for i in order[start:start + batch_size]]


@torch.no_grad()
def evaluate(model, dataset, mean, std, batch_size: int = 64, keep: bool = False):
    """(MAE per target in the papers' units, molecules per CPU second) over a whole dataset, in eval
    mode (batches of 64: ET's all-pairs neighbour search over a batch grows with its square);
    keep=True adds (true, predicted) (n, T)."""
    model.eval()
    true, pred, start = [], [], time.process_time()
    for items in batches(dataset, batch_size, None):
        true.append(torch.stack([t for _, _, t in items]))
        pred.append(model(items).double() * std + mean)
    seconds = time.process_time() - start
    model.train()
    true, pred = torch.cat(true), torch.cat(pred)
    mae = (pred - true).abs().mean(0).numpy()
    return (mae, len(dataset) / seconds, true.numpy(), pred.numpy()) if keep else (mae, len(dataset) / seconds)


def train(model, dm, seconds: float, batch_size: int, seed: int, evals: int = 10):
    """Train for ~`seconds` of CPU time (step budget from a calibration); the curve and the step count."""
    mean, std = dm.target_stats()
    opt = torch.optim.Adam(model.parameters(), lr=model.lr)
    gen = torch.Generator().manual_seed(seed)
    stream = (b for epoch in range(10**6) for b in batches(dm.train_set, batch_size, gen))

    def step(items):
        y = torch.stack([t for _, _, t in items])
        z = ((y - mean) / std).float()
        loss = torch.nn.functional.l1_loss(model(items), z)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):  # warm-up: first-use compilation (ET's Warp kernels), allocator; at lr 0
        for g in opt.param_groups:
            g["lr"] = 0.0
        step(next(stream))
    t0 = time.process_time()
    for _ in range(5):
        step(next(stream))
    rate = 5 / (time.process_time() - t0)
    total = max(10, int(seconds * rate))
    warmup = max(1, total // 100)
    curve, train_seconds, molecules = [], 0.0, 0
    checkpoints = set(np.linspace(0, total, evals + 1).astype(int)[1:])
    for k in range(1, total + 1):
        frac = k / warmup if k <= warmup else 0.5 * (1 + math.cos(math.pi * (k - warmup) / max(1, total - warmup)))
        for g in opt.param_groups:
            g["lr"] = model.lr * frac
        items = next(stream)
        t = time.process_time()
        step(items)
        train_seconds += time.process_time() - t
        molecules += len(items)
        if k in checkpoints:
            mae, _ = evaluate(model, dm.valid_set, mean, std)
            curve.append((k, train_seconds, *mae.tolist()))
            print(f"  {model.name}: step {k}/{total}, {train_seconds:.0f} s, valid MAE {np.round(mae, 4).tolist()}", flush=True)
    return curve, total, train_seconds, molecules


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=300, help="training CPU seconds per model")
    p.add_argument("--targets", nargs="+", default=["homo"])
    p.add_argument("--models", nargs="+", default=["et", "lieconv_t3"],
                   help="et and/or lieformer QM9 CPU configs by name (lieconv_t3, lietransformer_t3, ...)")
    p.add_argument("--et-size", choices=sorted(ET_SIZES), default="small")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--n-valid", type=int, default=1000, help="validation molecules for the learning curves")
    p.add_argument("--n-test", type=int, default=None, help="test molecules (default: all 13,083)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/qm9_peer"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    dm = QM9Data(targets=args.targets, batch_size=args.batch_size, n_valid=args.n_valid, n_test=args.n_test)
    dm.setup()
    mean, std = dm.target_stats()
    args.out.mkdir(parents=True, exist_ok=True)
    results, curves = [], {}
    for name in args.models:
        torch.manual_seed(args.seed)
        try:
            model = ETModel(args.et_size, len(args.targets)) if name == "et" else LieformerModel(name, len(args.targets))
        except ImportError as err:
            print(f"{name}: skipped, torchmd-net is not importable here ({err}); see this script's docstring")
            results.append({"model": name, "skipped": str(err)})
            continue
        params = sum(q.numel() for q in model.parameters())
        print(f"{model.name}: {params:,} parameters, training for {args.seconds:.0f} s", flush=True)
        curve, steps, seconds, molecules = train(model, dm, args.seconds, args.batch_size, args.seed)
        test_mae, infer_rate, true, pred = evaluate(model, dm.test_set, mean, std, keep=True)
        np.savez(args.out / f"test_predictions_{model.name}.npz", true=true, pred=pred, targets=np.array(args.targets))
        plot_parity(true, pred, args.targets, args.out / f"parity_{model.name}.png", title=f"{model.name} on QM9 test")
        plot_error_histogram(true, pred, args.targets, args.out / f"errors_{model.name}.png", title=f"{model.name} on QM9 test")
        results.append({"model": model.name, "parameters": params, "steps": steps, "train_seconds": seconds,
                        "train_molecules_per_s": molecules / seconds, "test_molecules_per_s": infer_rate,
                        "test_mae": dict(zip(args.targets, test_mae.tolist())),
                        "valid_mae": dict(zip(args.targets, curve[-1][2:])), "n_test": len(dm.test_set)})
        curves[model.name] = curve
    (args.out / "results.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                       "results": results, "curves": curves}, indent=1))
    with open(args.out / "curves.csv", "w") as f:
        f.write("model,step,train_seconds," + ",".join(f"valid_mae_{t}" for t in args.targets) + "\n")
        for name, curve in curves.items():
            for row in curve:
                f.write(",".join([name, *map(str, row)]) + "\n")
    if curves:
        fig, axes = plt.subplots(1, len(args.targets), figsize=(4.5 * len(args.targets), 3.5), squeeze=False)
        for name, curve in curves.items():
            c = np.array(curve)
            for i, (ax, t) in enumerate(zip(axes[0], args.targets)):
                ax.plot(c[:, 1], c[:, 2 + i], marker="o", ms=3, label=name)
                ax.set(title=f"valid MAE {t} ({UNITS[t]})", xlabel="training CPU seconds", yscale="log")
        axes[0][0].legend()
        save_figure(fig, args.out / "curves.png")
    units = [UNITS[t] for t in args.targets]
    print(f"\nQM9 {', '.join(args.targets)} ({', '.join(units)}): {args.seconds:.0f} s of training each, batch "
          f"{args.batch_size}, one thread; test MAE on {len(dm.test_set):,} molecules")
    header = f"{'model':<22}{'params':>10}{'steps':>8}{'train mol/s':>13}{'test mol/s':>12}" + "".join(f"{'test ' + t:>12}" for t in args.targets)
    print(header)
    for r in results:
        if "skipped" in r:
            print(f"{r['model']:<22}  skipped: {r['skipped']}")
            continue
        print(f"{r['model']:<22}{r['parameters']:>10,}{r['steps']:>8}{r['train_molecules_per_s']:>13.1f}"
              f"{r['test_molecules_per_s']:>12.1f}" + "".join(f"{r['test_mae'][t]:>12.4g}" for t in args.targets))


if __name__ == "__main__":
    main()
