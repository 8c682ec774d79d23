"""The Lie-group interface every layer of lieformer is written against.

A group G acts on an input space X (here R^d or a subset). LieConv and the LieTransformer work on
*lifted* points: each input point x becomes group elements u = s(x)·h, where s is a section
(s(x)·o_q = x, o_q the chosen representative of x's orbit) and h samples the stabilizer of o_q.
Layers only ever see pair features log(u_i⁻¹u_j) ⊕ q_i ⊕ q_j and distances, both invariant under
u ↦ g·u, which is what makes every model built on them equivariant (DESIGN.md §6).

Conventions (all tensors plain torch tensors):
- group elements are matrices (..., rep_dim, rep_dim); affine groups use homogeneous matrices;
- Lie algebra elements are coefficient vectors (..., lie_dim) in the basis documented per group;
- coordinates are (B, N, space_dim), masks (B, N) bool (False = padding), values (B, N, c);
- a lifted set has L = N·S points, point n's S samples contiguous (index n·S + s).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import NamedTuple

import torch
from torch import Tensor

from ..randomness import draw_seed, point_uniforms


class Lifted(NamedTuple):
    """A batch of lifted points: group elements, orbit identifiers, values and a validity mask.

    elements (B, L, rep, rep), orbits (B, L, q_dim), values (B, L, c), mask (B, L) bool.
    """

    elements: Tensor
    orbits: Tensor
    values: Tensor
    mask: Tensor

    def select(self, idx: Tensor) -> "Lifted":
        """Keep the points idx (B, M) of every batch row: a Lifted of M points."""
        return Lifted(
            gather_points(self.elements, idx),
            gather_points(self.orbits, idx),
            gather_points(self.values, idx),
            torch.gather(self.mask, 1, idx),
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


class LieGroup(ABC):
    """A Lie group G acting on an input space, with everything lifting needs.

    Subclasses set the class attributes and implement exp, log, section, orbit, sample and
    sample_stabilizer; everything else has a correct (if generic) default here.
    """

    lie_dim: int  # dimension of the Lie algebra
    rep_dim: int  # size of the matrix representation
    q_dim: int  # size of the orbit identifier q(x)
    space_dim: int  # d of the input points
    #: discrete lifts (SE2Canonical) always lift onto the same number of samples
    fixed_lift_samples: int | None = None
    #: the stabilizer of every orbit representative is {e}: lifts are deterministic already
    trivial_stabilizer: bool = False
    #: w > 0 when distance(u_a, u_b) ≥ w·‖positions(u_a) − positions(u_b)‖ (grid-pruned searches)
    position_weight: float = 0.0
    #: coordinate axes the group translates along: centre() subtracts the set's mean on them
    translation_axes: tuple[int, ...] = ()
    #: uniforms per stabilizer draw (stabilizer_from_uniform); 0 for trivial stabilizers
    stabilizer_uniforms: int = 0

    def __init__(self, alpha: float = 0.2):
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"{type(self).__name__}: alpha must lie in [0, 1], got {alpha}")
        self.alpha = float(alpha)

    # ------------------------------------------------------------------ identity and display
    def _init_args(self) -> dict:
        return {"alpha": self.alpha}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._init_args().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self._init_args() == other._init_args()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self._init_args().items()))))

    @property
    def pair_dim(self) -> int:
        """Width of pair_features: lie_dim + 2·q_dim unless a group says otherwise."""
        return self.lie_dim + 2 * self.q_dim

    @property
    def has_frames(self) -> bool:
        """Whether the group can lift with equivariant frames (lift_frame="centroid",
        frame_stabilizer): trivial stabilizers need none; SO2, SE2 and SO3 build them."""
        return self.trivial_stabilizer

    @property
    def embed_dim(self) -> int:
        """Width of embed(g): lie_dim where log is continuous on the whole group."""
        return self.lie_dim

    def pair_dim_of(self, features: str = "log") -> int:
        """Width of pair_features(..., features=features)."""
        return self.pair_dim + (self.embed_dim - self.lie_dim if check_features(features) == "continuous" else 0)

    # ------------------------------------------------------------------ group structure
    @abstractmethod
    def exp(self, a: Tensor) -> Tensor:
        """Lie algebra coefficients (..., lie_dim) → group elements (..., rep, rep)."""

    @abstractmethod
    def log(self, g: Tensor) -> Tensor:
        """Group elements (..., rep, rep) → Lie algebra coefficients (..., lie_dim)."""

    def inv(self, g: Tensor) -> Tensor:
        """g⁻¹ for (..., rep, rep)."""
        return torch.linalg.inv(g)

    def embed(self, g: Tensor) -> Tensor:
        """A continuous, injective map of group elements (..., rep, rep) → (..., embed_dim) whose
        first lie_dim entries equal log(g) to first order at the identity (the rest are of second
        order). log itself where it is continuous (vector groups); groups with rotations, whose
        log jumps at angle π (θ = ±π), override it."""
        return self.log(g)

    def mul(self, g: Tensor, h: Tensor) -> Tensor:
        """g·h, broadcasting over leading dimensions."""
        return g @ h

    def identity(self, shape=(), dtype=None, device=None) -> Tensor:
        """The identity, (*shape, rep, rep)."""
        eye = torch.eye(self.rep_dim, dtype=dtype or torch.get_default_dtype(), device=device)
        return eye.expand(*shape, self.rep_dim, self.rep_dim).clone()

    def act(self, g: Tensor, coords: Tensor) -> Tensor:
        """g·x for coords (B, N, d) and g (rep, rep) (one for all), (B, rep, rep) (one per batch
        row) or (B, N, rep, rep) (one per point).

        The default is the linear action x ↦ g x; affine groups override it.
        """
        return (per_point(g) @ coords.unsqueeze(-1)).squeeze(-1)

    @abstractmethod
    def sample(self, shape=(), generator: torch.Generator | None = None, dtype=None, device=None) -> Tensor:
        """Random elements (*shape, rep, rep): Haar for compact groups, a documented
        representative distribution (Gaussian translations, log-normal scales) otherwise."""

    # ------------------------------------------------------------------ homogeneous space
    @abstractmethod
    def section(self, coords: Tensor) -> Tensor:
        """s(x) (..., rep, rep) for coords (..., d), with s(x)·o_{q(x)} = x."""

    @abstractmethod
    def orbit(self, coords: Tensor) -> Tensor:
        """Orbit identifier q(x) (..., q_dim) for coords (..., d)."""

    @abstractmethod
    def sample_stabilizer(self, shape=(), generator: torch.Generator | None = None, dtype=None, device=None) -> Tensor:
        """Elements (*shape, rep, rep) of the stabilizer of the orbit representatives, from its
        Haar measure (identity when the stabilizer is trivial)."""

    def origin(self, orbits: Tensor) -> Tensor:
        """The orbit representative o_q (..., d) for orbit ids (..., q_dim)."""
        raise NotImplementedError(f"{type(self).__name__} does not expose orbit representatives")

    def outside_domain(self, coords: Tensor) -> Tensor:
        """(…) bool: True where a point lies outside the space the group acts on (default: none)."""
        return torch.zeros(coords.shape[:-1], dtype=torch.bool, device=coords.device)

    #: how outside_domain's points are described in the error message
    domain_description: str = ""

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

    def stabilizer_from_uniform(self, u: Tensor, coords: Tensor | None) -> Tensor:
        """Stabilizer elements (B, N, S, rep, rep) from uniforms u (B, N, S, stabilizer_uniforms):
        Haar on the stabilizer of each point's orbit representative (coords (B, N, d) decide where
        that stabilizer is larger, e.g. the origin under rotations; None: generic points)."""
        return self.identity(u.shape[:-1], u.dtype, u.device)

    def lift_stabilizer(self, B: int, N: int, S: int, generator=None, dtype=None, device=None,
                        coords: Tensor | None = None) -> Tensor:
        """Stabilizer draws for lifting (B, N, S, rep, rep), i.i.d. Haar, keyed to (set, point,
        sample) by counter-based noise from one seed of the generator: appending padding points
        or changing N never changes the draws of the other points. Discrete lifts override."""
        u = point_uniforms(draw_seed(generator, device), (B, N, S), self.stabilizer_uniforms,
                           dtype or torch.get_default_dtype(), device)
        return self.stabilizer_from_uniform(u, coords)

    def frame_stabilizer(self, coords: Tensor, mask: Tensor, n_samples: int) -> Tensor:
        """Stabilizer draws (B, N, S, rep, rep) that make the lift equivariant by construction:
        h(g·X) = h_g(x)·h(X) for every g, so lift(g·X) = g·lift(X) with no compensation.

        Built from an equivariant frame vector of each point (frame_vectors); the S samples of a
        point are spread by the golden angle, so none is exactly π from another. Groups with
        trivial stabilizers return identities. Raises ValueError naming the point where no
        stable frame exists (the set is symmetric about it)."""
        if self.trivial_stabilizer:
            B, N, _ = coords.shape
            return self.identity((B, N, n_samples), coords.dtype, coords.device)
        raise NotImplementedError(f"{self!r} has no equivariant frame lift; use random lifts")

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
        B, N, _ = coords.shape
        S = n_samples
        if stabilizer is None:
            stabilizer = self.lift_stabilizer(B, N, S, generator, coords.dtype, coords.device, coords=coords)
        else:
            expected = (B, N, S, self.rep_dim, self.rep_dim)
            if tuple(stabilizer.shape) != expected:
                raise ValueError(
                    f"{self!r}.lift: stabilizer must have shape {expected} (B, N, n_samples, rep, rep), "
                    f"got {tuple(stabilizer.shape)}"
                )
            stabilizer = stabilizer.to(coords.dtype)
        s = self.section(coords)  # (B, N, rep, rep)
        u = self.mul(s.unsqueeze(2), stabilizer)  # (B, N, S, rep, rep)
        eye = self.identity(dtype=coords.dtype, device=coords.device)
        u = torch.where(mask[:, :, None, None, None], u, eye)
        q = self.orbit(coords) * mask.unsqueeze(-1)
        values = torch.where(mask.unsqueeze(-1), values, torch.zeros((), dtype=values.dtype, device=values.device))
        return Lifted(
            elements=u.reshape(B, N * S, self.rep_dim, self.rep_dim),
            orbits=q.repeat_interleave(S, dim=1),
            values=values.repeat_interleave(S, dim=1),
            mask=mask.repeat_interleave(S, dim=1),
        )

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
        bad = ~torch.isfinite(coords).all(-1) & mask
        if bad.any():
            b, n = bad.nonzero()[0].tolist()
            raise ValueError(f"{name}: coords contain NaN or inf at valid point (batch {b}, point {n})")
        bad_values = ~torch.isfinite(values).all(-1) & mask if values.is_floating_point() else None
        if bad_values is not None and bad_values.any():
            b, n = bad_values.nonzero()[0].tolist()
            raise ValueError(f"{name}: values contain NaN or inf at valid point (batch {b}, point {n})")
        coords = torch.where(mask.unsqueeze(-1), coords, torch.zeros((), dtype=coords.dtype, device=coords.device))
        outside = self.outside_domain(coords) & mask
        if outside.any():
            b, n = outside.nonzero()[0].tolist()
            raise ValueError(f"{name} acts on {self.domain_description}: valid point (batch {b}, point {n}) = "
                             f"{coords[b, n].tolist()} lies outside it")
        return coords, mask

    def stabilizer_contains(self, h: Tensor, coords: Tensor, atol: float) -> Tensor:
        """(B, N) bool: whether h (B, N, rep, rep) lies in the stabilizer the lift draws from at
        each point (coords (B, N, d)): by default, whether h fixes the orbit representative."""
        o = self.origin(self.orbit(coords))
        return (self.act(h, o) - o).abs().amax(-1) <= atol * (1 + o.abs().amax(-1))

    def compensating_stabilizer(self, g: Tensor, coords: Tensor) -> Tensor:
        """h_g(x) = s(g·x)⁻¹·g·s(x) (B, N, rep, rep): lift(g·x, h_g(x)·h) = g·lift(x, h) exactly.

        g (rep, rep), (B, rep, rep) or (B, N, rep, rep); coords (B, N, d).
        """
        return self.mul(self.inv(self.section(self.act(g, coords))), self.mul(per_point(g), self.section(coords)))

    # ------------------------------------------------------------------ features and distances
    def relative(self, ui: Tensor, uj: Tensor) -> Tensor:
        """u_i⁻¹·u_j, broadcasting."""
        return self.mul(self.inv(ui), uj)

    def pair_features(self, lifted: Lifted, idx: Tensor, query_idx: Tensor | None = None,
                      features: str = "log") -> Tensor:
        """ψ(u_i⁻¹u_j) ⊕ q_i ⊕ q_j for queries i and neighbours j = idx[b, i, k], ψ = log (the
        papers; it jumps where u_i⁻¹u_j is a rotation by π) or, features="continuous", embed.

        idx (B, M, K) indexes lifted's L points; query_idx (B, M) picks the queries (default:
        the first M points, i.e. every point when M = L). Returns (B, M, K, pair_dim_of(features)).
        Only the B·M·K requested pairs are formed, never all L² of them.
        """
        ui, qi = self._queries(lifted, idx, query_idx)
        uj = gather_points(lifted.elements, idx)
        qj = gather_points(lifted.orbits, idx)
        rel = self.relative(ui.unsqueeze(2), uj)
        a = self.embed(rel) if check_features(features) == "continuous" else self.log(rel)
        qi = qi.unsqueeze(2).expand_as(qj)
        return torch.cat([a, qi, qj], dim=-1)

    @staticmethod
    def _queries(lifted: Lifted, idx: Tensor, query_idx: Tensor | None):
        if query_idx is None:
            M = idx.shape[1]
            return lifted.elements[:, :M], lifted.orbits[:, :M]
        return gather_points(lifted.elements, query_idx), gather_points(lifted.orbits, query_idx)

    def positions(self, elements: Tensor, orbits: Tensor) -> Tensor | None:
        """Points p (…, d) of lifted points with distance ≥ position_weight·‖p_a − p_b‖, which lets
        neighbour searches skip far cells of a grid; None where the group has no such bound."""
        return None

    def distance(self, ua: Tensor, qa: Tensor, ub: Tensor, qb: Tensor) -> Tensor:
        """Invariant distances between sets a (B, M) and b (B, N) of lifted points → (B, M, N).

        ua (B, M, rep, rep), qa (B, M, q_dim), ub (B, N, rep, rep), qb (B, N, q_dim).
        Default: α‖log(u_a⁻¹u_b)‖ + (1−α)‖q_a − q_b‖, forming every relative element (M·N
        logs): groups override it with closed forms that need no per-pair log.
        """
        a = self.log(self.relative(ua.unsqueeze(2), ub.unsqueeze(1)))
        return self.alpha * a.norm(dim=-1) + (1 - self.alpha) * _orbit_distance(qa, qb)


#: pair-feature kinds: "log" (log(u_i⁻¹u_j), the papers) or "continuous" (embed(u_i⁻¹u_j))
PAIR_FEATURES = ("log", "continuous")


def check_features(features: str) -> str:
    if features not in PAIR_FEATURES:
        raise ValueError(f"unknown pair features {features!r}; choose one of {PAIR_FEATURES}")
    return features


def _orbit_distance(qa: Tensor, qb: Tensor) -> Tensor:
    """‖q_a − q_b‖ for (B, M, q) and (B, N, q) → (B, M, N); zeros when q_dim = 0."""
    if qa.shape[-1] == 0:
        return qa.new_zeros(qa.shape[0], qa.shape[1], qb.shape[1])
    return torch.cdist(qa, qb)


def per_point(g: Tensor) -> Tensor:
    """Broadcast a (B, rep, rep) batch of elements over the points axis; leave (rep, rep) and
    (B, N, rep, rep) as they are."""
    return g.unsqueeze(1) if g.dim() == 3 else g


def euclidean_distance(xa: Tensor, xb: Tensor) -> Tensor:
    """‖x_a − x_b‖ for (B, M, d) and (B, N, d) → (B, M, N), exact (no Gram-matrix cancellation)."""
    return torch.cdist(xa, xb, compute_mode="donot_use_mm_for_euclid_dist")


def randn(shape, generator, dtype, device) -> Tensor:
    return torch.randn(*shape, generator=generator, dtype=dtype or torch.get_default_dtype(), device=device)


def rand(shape, generator, dtype, device) -> Tensor:
    return torch.rand(*shape, generator=generator, dtype=dtype or torch.get_default_dtype(), device=device)


def rotation_2d(theta: Tensor) -> Tensor:
    """R(θ) (..., 2, 2) for angles (...)."""
    c, s = torch.cos(theta), torch.sin(theta)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def uniform_angle(shape, generator, dtype, device) -> Tensor:
    """θ ~ U[−π, π)."""
    return (2 * rand(shape, generator, dtype, device) - 1) * math.pi


GOLDEN_ANGLE = math.pi * (3 - math.sqrt(5))  # 2.39996…: k·γ mod 2π stays > 0.04 from π for k < 20

#: frame vectors shorter than FRAME_BLEND × the set's RMS radius blend in the secondary vector
FRAME_BLEND = 0.1
#: a point whose frame vector is shorter than FRAME_TOLERANCE × the RMS radius has no stable frame
FRAME_TOLERANCE = 1e-3


class FrameVectors(NamedTuple):
    """Equivariant vectors of each point of a set, for frame lifts (all rotate with the set and
    are unchanged by its translations): primary = x̄ − x_n (towards the centroid); secondary =
    (1/Σ‖y‖²)·Σ_j (y_j − y_n)‖y_j − y_n‖² with y = x − x̄ (a cubic moment about the point,
    computed from the set's moments in O(N)); scale = the RMS radius √(Σ‖y‖²/n) (B, 1, 1);
    second = Σ_j y_j y_jᵀ / Σ‖y‖² (B, d, d)."""

    primary: Tensor
    secondary: Tensor
    scale: Tensor
    second: Tensor


def frame_vectors(coords: Tensor, mask: Tensor) -> FrameVectors:
    """FrameVectors of coords (B, N, d) over the valid points (mask (B, N)); padding gets zeros."""
    m = mask.unsqueeze(-1).to(coords.dtype)
    n = m.sum(1, keepdim=True).clamp_min(1)
    centroid = (coords * m).sum(1, keepdim=True) / n
    y = (coords - centroid) * m
    r2 = (y * y).sum(-1, keepdim=True)
    s2 = r2.sum(1, keepdim=True)  # (B, 1, 1)
    safe = torch.where(s2 > 0, s2, torch.ones_like(s2))
    S2 = y.transpose(1, 2) @ y  # (B, d, d)
    S3 = (y * r2).sum(1, keepdim=True)  # (B, 1, d)
    # Σ_j (y_j − y)‖y_j − y‖² = S3 − 2 S2 y − s2 y − n y‖y‖² (Σ_j y_j = 0)
    secondary = (S3 - 2 * y @ S2 - s2 * y - n * y * r2) / safe
    scale = torch.where(s2 > 0, safe / n, torch.zeros_like(s2)).sqrt()
    return FrameVectors((-y) * m, secondary * m, scale, S2 / safe)


def blend_frame(primary: Tensor, secondary: Tensor, scale: Tensor) -> Tensor:
    """f = a + β(‖a‖ / (FRAME_BLEND·scale))·b, β(t) = (1 − t²)² on [0, 1), 0 beyond: a where ‖a‖
    is not small, the secondary vector b where a vanishes (a point at the centroid), and a
    continuous (C¹) vector field in between, so its direction is continuous wherever f ≠ 0."""
    reach = FRAME_BLEND * scale
    t2 = (primary * primary).sum(-1, keepdim=True) / torch.where(reach > 0, reach, torch.ones_like(reach)) ** 2
    beta = torch.where(t2 < 1, (1 - t2.clamp(max=1)) ** 2, torch.zeros_like(t2))
    return primary + beta * secondary


def check_frames(group, frame: Tensor, scale: Tensor, mask: Tensor) -> None:
    """Refuse (ValueError naming the point) where a valid point's frame vector (B, N, d) is
    shorter than FRAME_TOLERANCE × scale: the set is (nearly) symmetric about that point, so no
    equivariant frame exists. Sets whose points all coincide (scale 0) are accepted: every
    relative element is then independent of the common frame."""
    bad = mask & (scale[..., 0] > 0) & (frame.norm(dim=-1) < FRAME_TOLERANCE * scale[..., 0])
    if bad.any():
        b, n = bad.nonzero()[0].tolist()
        raise ValueError(
            f"{group!r} lift_frame='centroid': point {n} of set {b} has no stable equivariant frame (its frame "
            f"vector is {float(frame[b, n].norm() / scale[b, 0, 0]):.1e} × the set's RMS radius, below "
            f"{FRAME_TOLERANCE:g}): the set is (nearly) symmetric about it, e.g. the centre of a regular polygon. "
            f"Use lift_frame='random' for such inputs."
        )


def planar_angle(v: Tensor) -> Tensor:
    """atan2(v_y, v_x) of (..., ≥2) vectors, 0 with a zero gradient where v_x = v_y = 0."""
    zero = (v[..., 0] == 0) & (v[..., 1] == 0)
    return torch.atan2(torch.where(zero, torch.zeros_like(v[..., 1]), v[..., 1]),
                       torch.where(zero, torch.ones_like(v[..., 0]), v[..., 0]))


def golden_spread(phi: Tensor, n_samples: int) -> Tensor:
    """Angles φ + kγ (..., S) for k = 0…S−1, γ the golden angle."""
    k = torch.arange(n_samples, dtype=phi.dtype, device=phi.device)
    return phi.unsqueeze(-1) + GOLDEN_ANGLE * k
