"""Time train-mode forward + backward steps of one model in this process: the original LieConv
(mfinzi/LieConv, `lie_conv` on PYTHONPATH) or lieformer's LieResNet. The child process of
`original.py`; each call is its own process so that its peak RSS (ru_maxrss) is its own.

    python benchmarks/step_timer.py --side original --spec JSON --data batch.pt --repeats 3 --threads 1

Imports only the standard library, torch, and then the side's package (`lie_conv` or `lieformer`,
never both): the original's environment needs nothing of lieformer. Prints one JSON line:
{"seconds": median step, "times": [each step], "peak_mb": ru_maxrss in MiB, "torch": version,
"package": the file lie_conv or lieformer was imported from}.

The batch file (torch.save, written by original.py) holds the point sets (coords (B, N, d),
values (B, N, c), mask (B, N)) and, for RotMNIST, the same values as images (B, 1, 28, 28),
the input the original's ImgLieResnet takes.
"""

from __future__ import annotations

import argparse
import inspect
import json
import resource
import statistics
import sys
import time

import torch


def original_model(spec: dict, batch: dict):
    """The original's network at spec, and a function of no arguments that runs one forward.

    spec: {"model": "ImgLieResnet" | "LieResNet", "group": a lie_conv.lieGroups constructor call
    such as "SE2(alpha=0.2)", "kwargs": the constructor's keyword arguments}."""
    from lie_conv import lieConv, lieGroups

    group = eval(spec["group"], {"__builtins__": {}}, vars(lieGroups))  # e.g. T(2), SE3(alpha=0.2)
    model = getattr(lieConv, spec["model"])(group=group, **spec["kwargs"])
    if spec["model"] == "ImgLieResnet":
        image = batch["image"]
        check_image_grid(image, batch["coords"])
        return model, lambda: model(image)
    inputs = (batch["coords"], batch["values"], batch["mask"])
    return model, lambda: model(inputs)


def check_image_grid(image, coords) -> None:
    """ImgLieResnet turns an image (B, c, h, w) into the points linspace(−h/2, h/2, h)² of radius
    < 15, row-major (lieConv.py): check that these are the coordinates lieformer is given."""
    h, w = image.shape[-2:]
    grid = torch.stack(torch.meshgrid(torch.linspace(-h / 2, h / 2, h), torch.linspace(-w / 2, w / 2, w),
                                      indexing="ij"), -1)
    grid = grid[grid.norm(dim=-1) < 15.0]
    if grid.shape != coords.shape[1:] or not torch.equal(grid.expand_as(coords), coords):
        raise SystemExit("step_timer: the image's pixel grid is not the point set lieformer is given")


def lieformer_model(spec: dict, batch: dict):
    """lieformer's network at spec ({"model", "group", "lift_samples", "kwargs"}) and one forward."""
    import lieformer

    coords, values, mask = batch["coords"], batch["values"], batch["mask"]
    model = getattr(lieformer, spec["model"])(values.shape[-1], batch["outputs"], spec["group"],
                                              lift_samples=spec["lift_samples"], **spec["kwargs"])
    gen = torch.Generator().manual_seed(0)
    takes_generator = "generator" in inspect.signature(model.forward).parameters  # older trees may not
    extra = {"generator": gen} if takes_generator else {}
    return model, lambda: model(coords, values, mask, **extra)


def measure(side: str, spec: dict, batch: dict, repeats: int, threads: int) -> dict:
    """Median wall time of `repeats` train-mode steps (loss = mean square of the output) after one
    warm-up step, and this process's peak RSS."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    build = {"original": original_model, "lieformer": lieformer_model}[side]
    model, forward = build(spec, batch)
    model.train()
    times = []
    for i in range(repeats + 1):  # one warm-up step
        start = time.perf_counter()
        forward().square().mean().backward()
        model.zero_grad(set_to_none=True)
        if i:
            times.append(time.perf_counter() - start)
    if side == "original" and "lieformer" in sys.modules:
        raise SystemExit("step_timer: the original's process imported lieformer")
    package = sys.modules["lie_conv" if side == "original" else "lieformer"].__file__
    return {"seconds": statistics.median(times), "times": times, "torch": torch.__version__, "package": package,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", choices=["original", "lieformer"], required=True)
    parser.add_argument("--spec", required=True, help="the model as JSON (see original_model / lieformer_model)")
    parser.add_argument("--data", required=True, help="batch file written by original.py")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    batch = torch.load(args.data)
    print(json.dumps(measure(args.side, json.loads(args.spec), batch, args.repeats, args.threads)))


if __name__ == "__main__":
    main()
