"""Test tools for lieformer models, groups and spaces, and your own: exact equivariance, padding
invariance (assert_equivariant, assert_padding_invariant) and the consistency of a group with
the space it acts on (check_group).

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
from .spaces import HomogeneousSpace, make_space
from .spaces.base import first_flagged

#: relative tolerances per dtype (DESIGN §6)
RTOL = {torch.float32: 1e-5, torch.float64: 1e-10}

#: what the functions here accept: a group (its default space), a space, or a name of either
GroupOrSpace = LieGroup | HomogeneousSpace | str


def random_element(group: GroupOrSpace, shape=(), generator: torch.Generator | None = None, dtype=None,
                   device=None) -> Tensor:
    """A random group element (*shape, rep, rep) from group.sample (Haar where compact)."""
    return make_space(group).group.sample(shape, generator=generator, dtype=dtype, device=device)


def lift_samples_of(model: nn.Module, space: HomogeneousSpace) -> int:
    return space.fixed_lift_samples or int(getattr(model, "lift_samples", 1))


def transformed_inputs(group: GroupOrSpace, g: Tensor, coords: Tensor, mask: Tensor, stabilizer: Tensor):
    """(g·x, h_g(x)·h): the input and stabilizer whose lift is g times the lift of (x, h).

    Padding points (mask False) are left where they are, with h unchanged. Raises
    AssertionError when h_g(x) is not in the stabilizer the lift draws from (a section or
    action that do not match, or g outside the group the lift is exact for): the compensated
    lift would then not be a lift, and a passing check would prove nothing.
    """
    space = make_space(group)
    gx = torch.where(mask.unsqueeze(-1), space.act(g, coords), coords)
    safe = torch.where(mask.unsqueeze(-1), coords, torch.zeros_like(coords))
    hg = space.compensating_stabilizer(g, safe)
    atol = 100 * torch.finfo(coords.dtype).eps * (1 + safe.abs().amax())
    if (first := first_flagged(~space.stabilizer_contains(hg, safe, float(atol)) & mask)) is not None:
        b, n = first
        raise AssertionError(
            f"{space!r}: the compensating element h_g(x) = s(g·x)⁻¹·g·s(x) of point {n} of set {b} is not in the "
            f"stabilizer the lift draws from (it does not fix the orbit representative, or is off the lift's grid): "
            f"the group's section and action disagree, or g is not in the group the lift is exact for"
        )
    return gx, torch.where(mask[:, :, None, None, None], space.group.mul(hg.unsqueeze(2), stabilizer), stabilizer)


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
    group: GroupOrSpace,
    batch: tuple[Tensor, Tensor, Tensor],
    *,
    g: Tensor | None = None,
    transform_output: Callable[[Tensor, Tensor], Tensor] | None = None,
    n_samples: int | None = None,
    seed: int = 0,
    rtol: float | None = None,
) -> tuple[Tensor, Tensor]:
    """Check model(g·x) = ρ(g)·model(x) exactly, for a model(coords, values, mask, *, generator,
    stabilizer) that lifts with `group` (a group — its default space —, a space, or a name).

    batch = (coords (B, N, d), values (B, N, c), mask (B, N)). g (B, rep, rep) or (rep, rep)
    defaults to a random element. transform_output(g, out) is ρ(g)·out (default: invariant
    outputs, ρ = identity). Both passes use the same generator seed and the same module state
    (buffers such as BatchNorm statistics and adaptive radii are restored between them), in the
    model's current train/eval mode. Returns (model(x), model(g·x)).

    A model with lift_frame="centroid" is run on x and g·x as they are, with no stabilizer: its
    frames must make it equivariant by themselves. Otherwise the second pass gets the
    compensating stabilizer h_g(x)·h, checked to lie in the lift's stabilizer.
    """
    space = make_space(group)
    coords, values, mask = batch
    dtype, device = coords.dtype, coords.device
    B, N, _ = coords.shape
    S = n_samples or lift_samples_of(model, space)
    gen = torch.Generator(device=device).manual_seed(seed + 1)
    if g is None:
        g = random_element(space, (B,), generator=gen, dtype=dtype, device=device)
    h = space.lift_stabilizer(B, N, S, gen, dtype, device, coords=torch.where(mask.unsqueeze(-1), coords, 0.0))
    gx, gh = transformed_inputs(space, g, coords, mask, h)
    if getattr(model, "lift_frame", "random") == "centroid":
        h = gh = None
    state = {k: v.clone() for k, v in model.state_dict().items()}
    out = _run(model, coords, values, mask, h, seed, state)
    out_g = _run(model, gx, values, mask, gh, seed, state)
    model.load_state_dict(state)
    expected = out if transform_output is None else transform_output(g, out)
    _close(out_g, expected, rtol or RTOL.get(dtype, 1e-5), f"{type(model).__name__} with {space!r}")
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
    space = make_space(getattr(model, "space", None) or model.group)
    B, N, d = coords.shape
    S = lift_samples_of(model, space)
    gen = torch.Generator(device=coords.device).manual_seed(seed + 2)
    junk = lambda *shape: 100 * torch.randn(*shape, generator=gen, dtype=coords.dtype, device=coords.device)  # noqa: E731
    pad_coords = torch.cat([coords, junk(B, n_pad, d).abs() + 1], 1)
    pad_values = torch.cat([values, junk(B, n_pad, values.shape[-1])], 1)
    pad_mask = torch.cat([mask, torch.zeros(B, n_pad, dtype=torch.bool, device=mask.device)], 1)
    h = space.lift_stabilizer(B, N + n_pad, S, gen, coords.dtype, coords.device,
                              coords=torch.where(pad_mask.unsqueeze(-1), pad_coords, 0.0))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    tol = rtol or RTOL.get(coords.dtype, 1e-5)
    for how, h_real, h_pad in (("its own lift", None, None), ("an explicit stabilizer", h[:, :N], h)):
        out = _run(model, coords, values, mask, h_real, seed, state)
        out_pad = _run(model, pad_coords, pad_values, pad_mask, h_pad, seed, state)
        _close(out_pad, out, tol, f"{type(model).__name__} with {n_pad} padding points and {how}")
    model.load_state_dict(state)


# ---------------------------------------------------------------------------------------------
# check_group: a group and the space it acts on, property by property


def check_group(group: GroupOrSpace, *, n: int = 64, seed: int = 0, dtype=torch.float64, rtol: float = 1e-8) -> None:
    """Check a group and the space it acts on (its default space for a group), on random elements
    and points; raise AssertionError naming the first property that fails:

    - exp/log round trips (log∘exp on coefficients of norm ≲ 1, exp∘log on random elements),
      embed equal to log to first order, g·g⁻¹ = e;
    - the action is a homomorphism: (g·h)·x = g·(h·x), e·x = x; orbit ids are invariant;
    - the section: s(x)·o_{q(x)} = x;
    - stabilizer draws (sample_stabilizer, lift_stabilizer) fix the orbit representatives;
    - the compensation identity (DESIGN §6): h_g(x) = s(g·x)⁻¹·g·s(x) is in the stabilizer and
      lift(g·x, h_g(x)·h) = g·lift(x, h), so pair features and distances are unchanged;
    - distances are invariant, symmetric, zero on the diagonal, and honour the declared
      Euclidean bound distance ≥ position_weight·‖p_a − p_b‖ (grid-pruned searches rely on it).

    Points come from space.sample_points; group elements from group.sample (for discrete lifts,
    the group the lift is exact for). rtol is relative to the size of the compared quantities.
    """
    space = make_space(group)
    G = space.group
    gen = torch.Generator().manual_seed(seed)
    what = f"check_group({space!r})"

    def close(a, b, name, tol=rtol):
        a, b = torch.as_tensor(a), torch.as_tensor(b)
        scale = 1.0 + max(a.abs().max().item() if a.numel() else 0.0, b.abs().max().item() if b.numel() else 0.0)
        err = (a - b).abs().max().item() if a.numel() else 0.0
        if not err <= tol * scale:
            raise AssertionError(f"{what}: {name}: max |Δ| = {err:.3e} (tolerance {tol:.1e} × {scale:.3g})")

    # group law
    a = 0.4 * torch.randn(n, G.lie_dim, generator=gen, dtype=dtype)
    close(G.log(G.exp(a)), a, "log(exp(a)) = a")
    g = G.sample((n,), generator=gen, dtype=dtype)
    h = G.sample((n,), generator=gen, dtype=dtype)
    close(G.exp(G.log(g)), g, "exp(log(g)) = g")
    eye = G.identity((n,), dtype)
    close(G.mul(g, G.inv(g)), eye, "g·g⁻¹ = e")
    eps = 1e-4
    e = G.embed(G.exp(eps * a))
    close(e[:, : G.lie_dim] / eps, a, "embed = log to first order", tol=10 * eps)
    if e.shape[-1] != G.embed_dim:
        raise AssertionError(f"{what}: embed has width {e.shape[-1]}, embed_dim says {G.embed_dim}")

    # the action, orbits, the section
    x = space.sample_points((1, n), generator=gen, dtype=dtype)
    gb, hb = g.view(1, n, *g.shape[1:]), h.view(1, n, *h.shape[1:])
    close(space.act(G.mul(gb, hb), x), space.act(gb, space.act(hb, x)), "(g·h)·x = g·(h·x)")
    close(space.act(eye.view(1, n, *eye.shape[1:]), x), x, "e·x = x")
    close(space.orbit(space.act(gb, x)), space.orbit(x), "q(g·x) = q(x)")
    q = space.orbit(x)
    close(space.act(space.section(x), space.origin(q)), x, "s(x)·o_q(x) = x")

    # stabilizers
    atol = 1e3 * torch.finfo(dtype).eps
    draws = {"sample_stabilizer": space.sample_stabilizer((1, n), generator=gen, dtype=dtype),
             "lift_stabilizer": space.lift_stabilizer(1, n, 1, gen, dtype, None, coords=x)[:, :, 0]}
    for name, stab in draws.items():
        o = space.origin(q)
        close(space.act(stab, o), o, f"{name} fixes the orbit representative")
        if not space.stabilizer_contains(stab, x, atol).all():
            raise AssertionError(f"{what}: {name} draws fall outside stabilizer_contains")
    if not space.stabilizer_contains(space.compensating_stabilizer(gb, x), x, atol).all():
        raise AssertionError(f"{what}: the compensating element s(g·x)⁻¹·g·s(x) is not in the stabilizer")

    # the compensation identity: lifting g·x with h_g(x)·h is g times the lift of x with h (one g
    # for the whole set, so that distances between its points must not change either)
    g0 = g[:1]
    hg = space.compensating_stabilizer(g0, x)
    S = space.fixed_lift_samples or 2
    stab = space.lift_stabilizer(1, n, S, gen, dtype, None, coords=x)
    values = torch.zeros(1, n, 1, dtype=dtype)
    lifted = space.lift(x, values, None, S, stabilizer=stab)
    moved = space.lift(space.act(g0, x), values, None, S, stabilizer=G.mul(hg.unsqueeze(2), stab))
    close(moved.elements, G.mul(g0.unsqueeze(1), lifted.elements), "lift(g·x, h_g(x)·h) = g·lift(x, h)")
    close(moved.orbits, lifted.orbits, "orbit ids of the moved lift")

    # distances: invariant, symmetric, zero on the diagonal, the declared Euclidean bound
    d = space.distance(lifted.elements, lifted.orbits, lifted.elements, lifted.orbits)
    close(space.distance(moved.elements, moved.orbits, moved.elements, moved.orbits), d, "distance invariance", tol=1e-6)
    close(d, d.transpose(-1, -2), "distance symmetry", tol=1e-6)
    close(torch.diagonal(d, dim1=-2, dim2=-1), torch.zeros(n * S, dtype=dtype), "distance(u, u) = 0", tol=1e-6)
    if space.position_weight > 0:
        p = space.positions(lifted.elements, lifted.orbits)
        bound = space.position_weight * torch.cdist(p, p, compute_mode="donot_use_mm_for_euclid_dist")
        worst = (bound - d).max().item()
        if worst > 1e-9 * (1 + d.max().item()):
            raise AssertionError(f"{what}: distance < position_weight·‖Δpositions‖ by {worst:.3e} "
                                 f"(declared position_weight {space.position_weight})")
