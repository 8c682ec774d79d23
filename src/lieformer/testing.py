"""Test tools for lieformer models and your own: exact equivariance, padding invariance.

Exactness (DESIGN.md §6): the lift is u = s(x)·h. For any g, h_g(x) = s(g·x)⁻¹·g·s(x) lies in the
stabilizer, so lifting g·x with stabilizer h_g(x)·h gives exactly g·(the lift of x with h). Every
pair feature log(u_i⁻¹u_j) is then unchanged, so an invariant model's outputs must agree to float
tolerance — no statistics, no averaging over lift draws.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .groups.base import LieGroup

#: relative tolerances per dtype (DESIGN §6)
RTOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def random_element(group: LieGroup, shape=(), generator: torch.Generator | None = None, dtype=None, device=None) -> Tensor:
    """A random group element (*shape, rep, rep) from group.sample (Haar where compact)."""
    return group.sample(shape, generator=generator, dtype=dtype, device=device)


def lift_samples_of(model: nn.Module, group: LieGroup) -> int:
    return group.fixed_lift_samples or int(getattr(model, "lift_samples", 1))


def transformed_inputs(group: LieGroup, g: Tensor, coords: Tensor, mask: Tensor, stabilizer: Tensor):
    """(g·x, h_g(x)·h): the input and stabilizer whose lift is g times the lift of (x, h).

    Padding points (mask False) are left where they are, with h unchanged. Raises
    AssertionError when h_g(x) is not in the stabilizer the lift draws from (a section or
    action that do not match, or g outside the group the lift is exact for): the compensated
    lift would then not be a lift, and a passing check would prove nothing.
    """
    gx = torch.where(mask.unsqueeze(-1), group.act(g, coords), coords)
    safe = torch.where(mask.unsqueeze(-1), coords, torch.zeros_like(coords))
    hg = group.compensating_stabilizer(g, safe)
    atol = 100 * torch.finfo(coords.dtype).eps * (1 + safe.abs().amax())
    outside = ~group.stabilizer_contains(hg, safe, float(atol)) & mask
    if outside.any():
        b, n = outside.nonzero()[0].tolist()
        raise AssertionError(
            f"{group!r}: the compensating element h_g(x) = s(g·x)⁻¹·g·s(x) of point {n} of set {b} is not in the "
            f"stabilizer the lift draws from (it does not fix the orbit representative, or is off the lift's grid): "
            f"the group's section and action disagree, or g is not in the group the lift is exact for"
        )
    return gx, torch.where(mask[:, :, None, None, None], group.mul(hg.unsqueeze(2), stabilizer), stabilizer)


def _run(model, coords, values, mask, stabilizer, seed, state):
    model.load_state_dict(state)
    generator = torch.Generator(device=coords.device).manual_seed(seed)
    return model(coords, values, mask, generator=generator, stabilizer=stabilizer)


def _close(a: Tensor, b: Tensor, rtol: float, what: str) -> None:
    if a.shape != b.shape:
        raise AssertionError(f"{what}: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        raise AssertionError(f"{what}: outputs contain NaN or inf")
    scale = max(a.abs().max().item(), b.abs().max().item(), 1.0)
    err = (a - b).abs().max().item()
    if err > rtol * scale:
        raise AssertionError(f"{what}: max |Δ| = {err:.3e} exceeds {rtol:.1e} × scale {scale:.3e}")


def assert_equivariant(
    model: nn.Module,
    group: LieGroup,
    batch: tuple[Tensor, Tensor, Tensor],
    *,
    g: Tensor | None = None,
    transform_output: Callable[[Tensor, Tensor], Tensor] | None = None,
    n_samples: int | None = None,
    seed: int = 0,
    rtol: float | None = None,
) -> tuple[Tensor, Tensor]:
    """Check model(g·x) = ρ(g)·model(x) exactly, for a model(coords, values, mask, *, generator,
    stabilizer) that lifts with `group`.

    batch = (coords (B, N, d), values (B, N, c), mask (B, N)). g (B, rep, rep) or (rep, rep)
    defaults to a random element. transform_output(g, out) is ρ(g)·out (default: invariant
    outputs, ρ = identity). Both passes use the same generator seed and the same module state
    (buffers such as BatchNorm statistics and adaptive radii are restored between them), in the
    model's current train/eval mode. Returns (model(x), model(g·x)).

    A model with lift_frame="centroid" is run on x and g·x as they are, with no stabilizer: its
    frames must make it equivariant by themselves. Otherwise the second pass gets the
    compensating stabilizer h_g(x)·h, checked to lie in the lift's stabilizer.
    """
    coords, values, mask = batch
    dtype, device = coords.dtype, coords.device
    B, N, _ = coords.shape
    S = n_samples or lift_samples_of(model, group)
    gen = torch.Generator(device=device).manual_seed(seed + 1)
    if g is None:
        g = random_element(group, (B,), generator=gen, dtype=dtype, device=device)
    h = group.lift_stabilizer(B, N, S, gen, dtype, device, coords=torch.where(mask.unsqueeze(-1), coords, 0.0))
    gx, gh = transformed_inputs(group, g, coords, mask, h)
    if getattr(model, "lift_frame", "random") == "centroid":
        h = gh = None
    state = {k: v.clone() for k, v in model.state_dict().items()}
    out = _run(model, coords, values, mask, h, seed, state)
    out_g = _run(model, gx, values, mask, gh, seed, state)
    model.load_state_dict(state)
    expected = out if transform_output is None else transform_output(g, out)
    _close(out_g, expected, rtol or RTOL.get(dtype, 1e-5), f"{type(model).__name__} with {group!r}")
    return out, out_g


def assert_padding_invariant(
    model: nn.Module,
    batch: tuple[Tensor, Tensor, Tensor],
    n_pad: int = 5,
    *,
    seed: int = 0,
    rtol: float | None = None,
) -> None:
    """Appending n_pad padding points (mask False, random coordinates and values) changes no output.

    Checked twice, in the model's current mode with the same generator seed: with the model's
    own lift (random draws are keyed to each point, so padding must not move them) and with an
    explicit stabilizer for the real points.
    """
    coords, values, mask = batch
    group = model.group
    B, N, d = coords.shape
    S = lift_samples_of(model, group)
    gen = torch.Generator(device=coords.device).manual_seed(seed + 2)
    junk = lambda *shape: 100 * torch.randn(*shape, generator=gen, dtype=coords.dtype, device=coords.device)  # noqa: E731
    pad_coords = torch.cat([coords, junk(B, n_pad, d).abs() + 1], 1)
    pad_values = torch.cat([values, junk(B, n_pad, values.shape[-1])], 1)
    pad_mask = torch.cat([mask, torch.zeros(B, n_pad, dtype=torch.bool, device=mask.device)], 1)
    h = group.lift_stabilizer(B, N + n_pad, S, gen, coords.dtype, coords.device,
                              coords=torch.where(pad_mask.unsqueeze(-1), pad_coords, 0.0))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    tol = rtol or RTOL.get(coords.dtype, 1e-5)
    for how, h_real, h_pad in (("its own lift", None, None), ("an explicit stabilizer", h[:, :N], h)):
        out = _run(model, coords, values, mask, h_real, seed, state)
        out_pad = _run(model, pad_coords, pad_values, pad_mask, h_pad, seed, state)
        _close(out_pad, out, tol, f"{type(model).__name__} with {n_pad} padding points and {how}")
    model.load_state_dict(state)
