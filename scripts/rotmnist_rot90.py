"""Does a trained RotMNIST model give each digit the same answer after a 90° turn?

For each checkpoint, the first --n test digits are classified as they are and turned by exactly
90° (the rot90 test variant, whose pixel grid maps onto itself), in two ways:

- paired: the turned cloud lists its points in the original's order (rot90_order) and both passes
  use the same generator seed per batch, so the model's random draws (FPS start, neighbour
  subsets, lift samples) fall on corresponding points. An exactly invariant model (SE2 with
  centroid frames) then gives every digit the same label;
- unpaired: the turned cloud in its own pixel order with other draws, as `lieformer test` feeds it.

Prints, per model: test error on plain and rot90 digits, the fraction of digits whose predicted
label is the same on both, and the largest logit change.

    python scripts/rotmnist_rot90.py "T(2)=runs/rotmnist/lieconv_t2_cpu/checkpoints/last.ckpt" \
        SE2=runs/rotmnist/lieconv_se2_cpu/checkpoints/last.ckpt --n 2000
"""

from __future__ import annotations

import argparse

import torch

from lieformer.data.rotmnist import image_to_points, load_rotmnist, rot90_order, transform_split
from lieformer.tasks import PointSetClassifier


@torch.no_grad()
def logits_of(net, images: torch.Tensor, batch: int, seed: int, order: torch.Tensor | None) -> torch.Tensor:
    """net's logits (n, classes) for images (n, 28, 28) uint8; order: reorder each cloud's points."""
    out = []
    for b, start in enumerate(range(0, len(images), batch)):
        coords, values, mask = image_to_points(images[start:start + batch])
        if order is not None:
            coords, values = coords[:, order], values[:, order]
        out.append(net(coords, values, mask, generator=torch.Generator().manual_seed(seed + b)))
    return torch.cat(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="NAME=CHECKPOINT of a RotMNIST PointSetClassifier")
    parser.add_argument("--n", type=int, default=2000, help="the first n test digits")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--float64", action="store_true", help="evaluate in float64 (the trained float32 weights, cast)")
    args = parser.parse_args()

    data = load_rotmnist(0, args.cache_dir)
    images, labels = data["test_images"][:args.n], torch.as_tensor(data["test_labels"][:args.n])
    plain = torch.from_numpy(images)
    turned = torch.from_numpy(transform_split(images, "rot90"))
    _, perm = rot90_order(image_to_points(plain[:1])[0][0])

    print(f"first {len(plain)} RotMNIST test digits, plain and turned by 90°, in {'float64' if args.float64 else 'float32'}")
    print("| model | draws | error plain | error rot90 | same label | max |Δ logit| |")
    print("|---|---|---|---|---|---|")
    for spec in args.models:
        name, path = spec.split("=", 1)
        net = PointSetClassifier.load_from_checkpoint(path, map_location="cpu").net.eval()
        if args.float64:
            net = net.double()
        base = logits_of(net, plain, args.batch, args.seed, None)
        for draws, order, seed in (("paired", perm, args.seed), ("unpaired", None, args.seed + 10_000)):
            rot = logits_of(net, turned, args.batch, seed, order)
            err = [(l.argmax(-1) != labels).float().mean().item() for l in (base, rot)]
            same = (base.argmax(-1) == rot.argmax(-1)).float().mean().item()
            print(f"| {name} | {draws} | {100 * err[0]:.2f}% | {100 * err[1]:.2f}% | {100 * same:.2f}% | "
                  f"{(base - rot).abs().max().item():.2e} |")


if __name__ == "__main__":
    main()
