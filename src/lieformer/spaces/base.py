"""Homogeneous spaces X = G/H: the space a group acts on, and lifting its points to the group.

LieConv and the LieTransformer work on *lifted* points: each input point x becomes group elements
u = s(x)·h, where s is a section (s(x)·o_q = x, o_q the chosen representative of x's orbit, q(x)
the orbit id) and h samples the stabilizer H of o_q. Layers only ever see pair features
ψ(u_i⁻¹u_j) ⊕ q_i ⊕ q_j and distances, both invariant under u ↦ g·u, which is what makes every
model built on them equivariant (DESIGN.md §6). A space declares what it can do — frames, a
Euclidean bound on its distance, a trivial stabilizer — and `lieformer.testing.check_group`
checks the declarations.

Conventions (all tensors plain torch tensors): coordinates (B, N, space_dim), masks (B, N) bool
(False = padding), values (B, N, c); a lifted set has L = N·S points, point n's S samples
contiguous (index n·S + s).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..groups.base import LieGroup, per_point, rand, randn
from ..randomness import draw_seed, point_uniforms


class Lifted(NamedTuple):
    """A batch of lifted points: group elements, orbit identifiers, values, a validity mask, and
    the space that lifted them (None for hand-made sets).

    elements (B, L, rep, rep), orbits (B, L, q_dim), values (B, L, c), mask (B, L) bool.
    """

    elements: Tensor
    orbits: Tensor
    values: Tensor
    mask: Tensor
    space: Any = None

    def select(self, idx: Tensor) -> "Lifted":
        """Keep the points idx (B, M) of every batch row: a Lifted of M points."""
        return Lifted(
            gather_points(self.elements, idx),
            gather_points(self.orbits, idx),
            gather_points(self.values, idx),
            torch.gather(self.mask, 1, idx),
            self.space,
        )

    def with_values(self, values: Tensor) -> "Lifted":
        return self._replace(values=values)


def gather_points(x: Tensor, idx: Tensor) -> Tensor:
    """x (B, N, *rest), idx (B, *I) long → (B, *I, *rest): x[b, idx[b, ...]] for each row b."""
    B, N = x.shape[:2]
    rest = x.shape[2:]
    # one row lookup into (B·N, *rest): whole rows are copied (and, backward, accumulated) at
    # once, faster than torch.gather's per-element index over an expanded index tensor
    flat = idx.reshape(B, -1) + torch.arange(B, device=idx.device).unsqueeze(1) * N
    return x.reshape(B * N, *rest)[flat.reshape(-1)].view(*idx.shape, *rest)


def check_lifted(lifted: Lifted, space: "HomogeneousSpace", where: str) -> None:
    """Refuse a lifted set that another space produced (an SE2 lift and a T(2) lift are both
    3×3 matrices: fed to the wrong layer it would give a wrong answer, not an error)."""
    if lifted.space is not None and lifted.space != space:
        raise ValueError(f"{where} is built for {space!r}, but these points were lifted by {lifted.space!r}")


#: pair-feature kinds: "log" (log(u_i⁻¹u_j), the papers), "continuous" (embed(u_i⁻¹u_j)) or
#: "invariants" (a complete set of invariants of the pair of points x_i, x_j, where the space has
#: one: pair_invariants; independent of the stabilizer draws, so exact with no compensation)
PAIR_FEATURES = ("log", "continuous", "invariants")


def check_features(features: str) -> str:
    if features not in PAIR_FEATURES:
        raise ValueError(f"unknown pair features {features!r}; choose one of {PAIR_FEATURES}")
    return features


class HomogeneousSpace(ABC):
    """A space X (points of R^space_dim, or a subset) on which `group` acts, with everything
    lifting needs: action, section, orbit ids, representatives, stabilizer draws, frames,
    domain checks, pair features and distances between lifted points.

    Subclasses set space_dim and q_dim and implement section (and orbit, origin, act and
    stabilizer_from_uniform where the defaults — one orbit, the linear action, a trivial
    stabilizer — do not fit); the capabilities below are declared
    as class attributes, not probed.
    """

    space_dim: int  # d of the input points
    q_dim: int  # size of the orbit identifier q(x)
    #: discrete lifts (SE2Canonical) always lift onto the same number of samples
    fixed_lift_samples: int | None = None
    #: the stabilizer of every orbit representative is {e}: lifts are deterministic already
    trivial_stabilizer: bool = False
    #: w > 0 when distance(u_a, u_b) ≥ w·‖positions(u_a) − positions(u_b)‖ (grid-pruned searches)
    position_weight: float = 0.0
    #: distance(u_a, u_b) is exactly euclidean_distance(positions(u_a), positions(u_b)) (native FPS)
    distance_is_position_norm: bool = False
    #: coordinate axes the group translates along: centre() subtracts the set's mean on them
    translation_axes: tuple[int, ...] = ()
    #: uniforms per stabilizer draw (stabilizer_from_uniform); 0 for trivial stabilizers
    stabilizer_uniforms: int = 0
    #: how points outside the space (outside_domain) are described in the error message
    domain_description: str = ""
    #: width of pair_invariants (pair_features="invariants"); None: the space has none
    invariant_dim: int | None = None

    def __init__(self, group: LieGroup):
        if not isinstance(group, LieGroup):
            raise TypeError(f"{type(self).__name__}: group must be a LieGroup, got {type(group).__name__}")
        self.group = group
        #: set by default_space(): the space then shows as its group ("SE2(alpha=0.2)")
        self.is_default = False

    # ------------------------------------------------------------------ identity and display
    def _init_args(self) -> dict:
        return {}

    def __repr__(self) -> str:
        if self.is_default:
            return repr(self.group)
        args = "".join(f", {k}={v!r}" for k, v in self._init_args().items())
        return f"{type(self).__name__}({self.group!r}{args})"

    def __eq__(self, other) -> bool:
        return (type(self) is type(other) and self.group == other.group
                and self._init_args() == other._init_args())

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.group, tuple(sorted(self._init_args().items()))))

    @property
    def alpha(self) -> float:
        """The weight of the group part in distances (the group's α)."""
        return self.group.alpha

    @property
    def lie_dim(self) -> int:
        return self.group.lie_dim

    @property
    def rep_dim(self) -> int:
        return self.group.rep_dim

    @property
    def has_frames(self) -> bool:
        """Whether points can be lifted with equivariant frames (lift_frame="centroid",
        frame_stabilizer): trivial stabilizers need none; spaces that build frames say so."""
        return self.trivial_stabilizer

    @property
    def pair_dim(self) -> int:
        """Width of pair_features(features="log"): lie_dim + 2·q_dim unless a space says otherwise."""
        return self.group.lie_dim + 2 * self.q_dim

    def pair_dim_of(self, features: str = "log") -> int:
        """Width of pair_features(..., features=features)."""
        if check_features(features) == "invariants":
            return self._invariant_dim()
        extra = self.group.embed_dim - self.group.lie_dim if features == "continuous" else 0
        return self.pair_dim + extra

    def _invariant_dim(self) -> int:
        if self.invariant_dim is None:
            raise ValueError(f"pair_features='invariants': {self!r} declares no complete set of pair invariants; "
                             f"use 'log' or 'continuous'")
        return self.invariant_dim

    # ------------------------------------------------------------------ the action and the orbits
    def act(self, g: Tensor, coords: Tensor) -> Tensor:
        """g·x for coords (B, N, d) and g (rep, rep) (one for all), (B, rep, rep) (one per batch
        row) or (B, N, rep, rep) (one per point). Default: the linear action x ↦ g x."""
        return (per_point(g) @ coords.unsqueeze(-1)).squeeze(-1)

    @abstractmethod
    def section(self, coords: Tensor) -> Tensor:
        """s(x) (..., rep, rep) for coords (..., d), with s(x)·o_{q(x)} = x."""

    def orbit(self, coords: Tensor) -> Tensor:
        """Orbit identifier q(x) (..., q_dim) for coords (..., d). Default: none (q_dim 0, a
        transitive action); spaces with several orbits override it."""
        if self.q_dim:
            raise NotImplementedError(f"{type(self).__name__} has q_dim {self.q_dim} but no orbit()")
        return coords.new_zeros(*coords.shape[:-1], 0)

    def origin(self, orbits: Tensor) -> Tensor:
        """The orbit representative o_q (..., d) for orbit ids (..., q_dim)."""
        raise NotImplementedError(f"{self!r} does not expose orbit representatives")

    def sample_points(self, shape=(), generator: torch.Generator | None = None, dtype=None, device=None) -> Tensor:
        """Random points (*shape, d) of the space, for tests: standard normal by default."""
        return randn((*shape, self.space_dim), generator, dtype, device)

    def outside_domain(self, coords: Tensor) -> Tensor:
        """(…) bool: True where a point lies outside the space (default: none)."""
        return torch.zeros(coords.shape[:-1], dtype=torch.bool, device=coords.device)

    def centre(self, coords: Tensor, mask: Tensor) -> Tensor:
        """Subtract each set's mean of the valid points along translation_axes (padding stays 0).

        For groups containing those translations this changes no invariant output in exact
        arithmetic, and keeps float32 exact far from the origin: x − c of floats near a large c
        is exact, while u_i⁻¹u_j of translations near 1e6 rounds to ~0.06."""
        if not self.translation_axes:
            return coords
        m = mask.unsqueeze(-1).to(torch.float64)
        axes = torch.zeros(coords.shape[-1], dtype=torch.float64, device=coords.device)
        axes[list(self.translation_axes)] = 1
        mean = (coords.double() * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp_min(1)
        return torch.where(mask.unsqueeze(-1), coords - (mean * axes).to(coords.dtype), coords)

    def why_outside(self, point: Tensor) -> str:
        """What is wrong with a point outside the domain (d,), appended to the error: "" by default."""
        return ""

    # ------------------------------------------------------------------ stabilizers
    def stabilizer_from_uniform(self, u: Tensor, coords: Tensor | None) -> Tensor:
        """Stabilizer elements (..., rep, rep) from uniforms u (..., stabilizer_uniforms): Haar on
        the stabilizer of each point's orbit representative (coords (..., d) decide where that
        stabilizer is larger, e.g. the origin under rotations; None: generic points).
        Default: the identity (trivial stabilizers)."""
        return self.group.identity(u.shape[:-1], u.dtype, u.device)

    def sample_stabilizer(self, shape=(), generator: torch.Generator | None = None, dtype=None, device=None) -> Tensor:
        """Elements (*shape, rep, rep) of the stabilizer of generic orbit representatives, from
        its Haar measure (identity when the stabilizer is trivial)."""
        u = rand((*shape, self.stabilizer_uniforms), generator, dtype, device)
        return self.stabilizer_from_uniform(u, None)

    def lift_stabilizer(self, B: int, N: int, S: int, generator=None, dtype=None, device=None,
                        coords: Tensor | None = None) -> Tensor:
        """Stabilizer draws for lifting (B, N, S, rep, rep), i.i.d. Haar, keyed to (set, point,
        sample) by counter-based noise from one seed of the generator: appending padding points
        or changing N never changes the draws of the other points. Discrete lifts override."""
        u = point_uniforms(draw_seed(generator, device), (B, N, S), self.stabilizer_uniforms,
                           dtype or torch.get_default_dtype(), device)
        return self.stabilizer_from_uniform(u, None if coords is None else coords.unsqueeze(2))

    def frame_stabilizer(self, coords: Tensor, mask: Tensor, n_samples: int) -> Tensor:
        """Stabilizer draws (B, N, S, rep, rep) that make the lift equivariant by construction:
        h(g·X) = h_g(x)·h(X) for every g, so lift(g·X) = g·lift(X) with no compensation.

        Built from an equivariant frame vector of each point (spaces.frames); the S samples of a
        point are spread by the golden angle, so none is exactly π from another. Spaces with
        trivial stabilizers return identities. Raises ValueError naming the point where no
        stable frame exists (the set is symmetric about it)."""
        if self.trivial_stabilizer:
            B, N, _ = coords.shape
            return self.group.identity((B, N, n_samples), coords.dtype, coords.device)
        raise NotImplementedError(f"{self!r} has no equivariant frame lift; use random lifts")

    def stabilizer_contains(self, h: Tensor, coords: Tensor, atol: float) -> Tensor:
        """(B, N) bool: whether h (B, N, rep, rep) lies in the stabilizer the lift draws from at
        each point (coords (B, N, d)): by default, whether h fixes the orbit representative."""
        o = self.origin(self.orbit(coords))
        return (self.act(h, o) - o).abs().amax(-1) <= atol * (1 + o.abs().amax(-1))

    def compensating_stabilizer(self, g: Tensor, coords: Tensor) -> Tensor:
        """h_g(x) = s(g·x)⁻¹·g·s(x) (B, N, rep, rep): lift(g·x, h_g(x)·h) = g·lift(x, h) exactly.

        g (rep, rep), (B, rep, rep) or (B, N, rep, rep); coords (B, N, d).
        """
        G = self.group
        return G.mul(G.inv(self.section(self.act(g, coords))), G.mul(per_point(g), self.section(coords)))

    # ------------------------------------------------------------------ lifting
    def validate(self, coords: Tensor, values: Tensor, mask: Tensor | None, n_samples: int = 1):
        """Check a (coords, values, mask) batch and return (coords with padding zeroed, mask)."""
        name = f"{self!r}"
        if not isinstance(coords, Tensor) or coords.dim() != 3:
            raise ValueError(f"{name}: coords must be a (B, N, d) tensor, got shape {tuple(getattr(coords, 'shape', ()))}")
        B, N, d = coords.shape
        if d != self.space_dim:
            raise ValueError(f"{name} acts on {self.space_dim}-dimensional points, but coords have d={d}")
        if not coords.is_floating_point():
            raise ValueError(f"{name}: coords must be floating point, got {coords.dtype}")
        if values.dim() != 3 or values.shape[:2] != (B, N):
            raise ValueError(f"{name}: values must have shape (B, N, c) = ({B}, {N}, c), got {tuple(values.shape)}")
        if mask is None:
            mask = torch.ones(B, N, dtype=torch.bool, device=coords.device)
        if tuple(mask.shape) != (B, N):
            raise ValueError(f"{name}: mask must have shape (B, N) = ({B}, {N}), got {tuple(mask.shape)}")
        if mask.dtype != torch.bool:
            raise ValueError(f"{name}: mask must be a bool tensor (False = padding), got {mask.dtype}")
        if not isinstance(n_samples, int) or n_samples < 1:
            raise ValueError(f"{name}: n_samples must be an integer >= 1, got {n_samples!r}")
        _refuse_first(~torch.isfinite(coords).all(-1) & mask, f"{name}: coords contain NaN or inf at valid point")
        if values.is_floating_point():
            _refuse_first(~torch.isfinite(values).all(-1) & mask, f"{name}: values contain NaN or inf at valid point")
        coords = torch.where(mask.unsqueeze(-1), coords, torch.zeros((), dtype=coords.dtype, device=coords.device))
        if (first := first_flagged(self.outside_domain(coords) & mask)) is not None:
            b, n = first
            raise ValueError(f"{name} acts on {self.domain_description}: valid point (batch {b}, point {n}) = "
                             f"{coords[b, n].tolist()} lies outside it{self.why_outside(coords[b, n])}")
        return coords, mask

    def lift(
        self,
        coords: Tensor,
        values: Tensor,
        mask: Tensor,
        n_samples: int = 1,
        generator: torch.Generator | None = None,
        stabilizer: Tensor | None = None,
    ) -> Lifted:
        """Lift (B, N, d) points to N·S group elements u = s(x)·h, h from the stabilizer.

        coords (B, N, d), values (B, N, c), mask (B, N) bool; stabilizer (B, N, S, rep, rep)
        makes the lift deterministic (how exact equivariance is tested). Padding points get the
        identity element, zero orbit ids and zero values, and stay masked.
        """
        n_samples = self.fixed_lift_samples or n_samples
        coords, mask = self.validate(coords, values, mask, n_samples)
        return self.lift_validated(coords, values, mask, n_samples, generator, stabilizer)

    def lift_validated(self, coords: Tensor, values: Tensor, mask: Tensor, n_samples: int,
                       generator: torch.Generator | None = None, stabilizer: Tensor | None = None) -> Lifted:
        """lift() of a batch that validate() has checked already (coords with padding zeroed, a
        bool mask): models validate once and lift once per draw, not validating each time."""
        B, N, _ = coords.shape
        S, rep = n_samples, self.group.rep_dim
        if stabilizer is None:
            stabilizer = self.lift_stabilizer(B, N, S, generator, coords.dtype, coords.device, coords=coords)
        else:
            expected = (B, N, S, rep, rep)
            if tuple(stabilizer.shape) != expected:
                raise ValueError(
                    f"{self!r}.lift: stabilizer must have shape {expected} (B, N, n_samples, rep, rep), "
                    f"got {tuple(stabilizer.shape)}"
                )
            stabilizer = stabilizer.to(coords.dtype)
        s = self.section(coords)  # (B, N, rep, rep)
        u = self.group.mul(s.unsqueeze(2), stabilizer)  # (B, N, S, rep, rep)
        eye = self.group.identity(dtype=coords.dtype, device=coords.device)
        u = torch.where(mask[:, :, None, None, None], u, eye)
        q = self.orbit(coords) * mask.unsqueeze(-1)
        values = torch.where(mask.unsqueeze(-1), values, torch.zeros((), dtype=values.dtype, device=values.device))
        return Lifted(
            elements=u.reshape(B, N * S, rep, rep),
            orbits=q.repeat_interleave(S, dim=1),
            values=values.repeat_interleave(S, dim=1),
            mask=mask.repeat_interleave(S, dim=1),
            space=self,
        )

    # ------------------------------------------------------------------ features and distances
    def pair_features(self, lifted: Lifted, idx: Tensor, query_idx: Tensor | None = None,
                      features: str = "log") -> Tensor:
        """ψ(u_i⁻¹u_j) ⊕ q_i ⊕ q_j for queries i and neighbours j = idx[b, i, k], ψ = log (the
        papers; it jumps where u_i⁻¹u_j is a rotation by π) or, features="continuous", the
        group's embed. features="invariants": pair_invariants(x_i, x_j) of the points x = u·o_q
        instead (no orbit ids appended: the set is complete), the same for every lift draw.

        idx (B, M, K) indexes lifted's L points; query_idx (B, M) picks the queries (default:
        the first M points, i.e. every point when M = L). Returns (B, M, K, pair_dim_of(features)).
        Only the B·M·K requested pairs are formed, never all L² of them.
        """
        if check_features(features) == "invariants":
            return self.invariant_features(lifted, idx, query_idx)
        ui, qi = self._queries(lifted, idx, query_idx)
        uj = gather_points(lifted.elements, idx)
        qj = gather_points(lifted.orbits, idx)
        rel = self.group.relative(ui.unsqueeze(2), uj)
        a = self.group.embed(rel) if features == "continuous" else self.group.log(rel)
        qi = qi.unsqueeze(2).expand_as(qj)
        return torch.cat([a, qi, qj], dim=-1)

    def invariant_features(self, lifted: Lifted, idx: Tensor, query_idx: Tensor | None = None) -> Tensor:
        """pair_invariants(x_i, x_j) (B, M, K, invariant_dim) of the points x = u·o_q of queries i
        and neighbours j = idx[b, i, k] (pair_features(..., features="invariants"))."""
        self._invariant_dim()
        ui, qi = self._queries(lifted, idx, query_idx)
        xi = self.act(ui, self.origin(qi))  # (B, M, d)
        xj = self.act(gather_points(lifted.elements, idx), self.origin(gather_points(lifted.orbits, idx)))
        return self.pair_invariants(xi.unsqueeze(2).expand_as(xj), xj)

    def pair_invariants(self, xi: Tensor, xj: Tensor) -> Tensor:
        """A complete set of invariants of point pairs (..., d), (..., d) → (..., invariant_dim):
        equal for (g·x_i, g·x_j) and (x_i, x_j), different for pairs in different orbits."""
        raise NotImplementedError(f"{self!r} declares no pair invariants")

    @staticmethod
    def _queries(lifted: Lifted, idx: Tensor, query_idx: Tensor | None):
        if query_idx is None:
            M = idx.shape[1]
            return lifted.elements[:, :M], lifted.orbits[:, :M]
        return gather_points(lifted.elements, query_idx), gather_points(lifted.orbits, query_idx)

    def positions(self, elements: Tensor, orbits: Tensor) -> Tensor | None:
        """Points p (…, d) of lifted points with distance ≥ position_weight·‖p_a − p_b‖, which lets
        neighbour searches skip far cells of a grid; None where the space has no such bound."""
        return None

    def planar_angles(self, elements: Tensor) -> Tensor | None:
        """θ (…) float64 of lifted points whose distance is α·|θ_b − θ_a|₂π + (1−α)‖p_a − p_b‖
        (|·|₂π: the angle between, in [0, π]; p = positions()), or None where it is not of that
        form. Farthest-point sampling then works from θ and p alone (no per-pair matrices)."""
        return None

    def distance(self, ua: Tensor, qa: Tensor, ub: Tensor, qb: Tensor) -> Tensor:
        """Invariant distances between sets a (B, M) and b (B, N) of lifted points → (B, M, N).

        ua (B, M, rep, rep), qa (B, M, q_dim), ub (B, N, rep, rep), qb (B, N, q_dim).
        Default: α‖log(u_a⁻¹u_b)‖ + (1−α)‖q_a − q_b‖, forming every relative element (M·N
        logs): spaces override it with closed forms that need no per-pair log.
        """
        a = self.group.log(self.group.relative(ua.unsqueeze(2), ub.unsqueeze(1)))
        return self.alpha * a.norm(dim=-1) + (1 - self.alpha) * orbit_distance(qa, qb)


def safe_norm(v: Tensor) -> Tensor:
    """‖v‖ (..., 1) over the last axis; sqrt sees only positive inputs, so v = 0 gives 0 with a
    zero gradient (coincident points never give NaN gradients)."""
    n2 = (v * v).sum(-1, keepdim=True)
    pos = n2 > 0
    return torch.where(pos, torch.where(pos, n2, torch.ones_like(n2)).sqrt(), torch.zeros_like(n2))


def first_flagged(bad: Tensor) -> tuple[int, int] | None:
    """(b, n) of the first True entry of bad (B, N), or None: what error messages name."""
    found = bad.nonzero()
    return tuple(found[0].tolist()) if len(found) else None


def _refuse_first(bad: Tensor, message: str) -> None:
    """ValueError "<message> (batch b, point n)" naming the first True entry of bad (B, N)."""
    if (first := first_flagged(bad)) is not None:
        raise ValueError(f"{message} (batch {first[0]}, point {first[1]})")


def orbit_distance(qa: Tensor, qb: Tensor) -> Tensor:
    """‖q_a − q_b‖ for (B, M, q) and (B, N, q) → (B, M, N); zeros when q_dim = 0."""
    if qa.shape[-1] == 0:
        return qa.new_zeros(qa.shape[0], qa.shape[1], qb.shape[1])
    return torch.cdist(qa, qb)
