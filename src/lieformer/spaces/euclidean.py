"""R^n under R^n ⋊ K: the default space of T(d) (K trivial), SE2 (K = SO(2)) and SE3 (K = SO(3)),
and the C_L grid lift of SE2Canonical. One implementation for all of them.

Transitive: the representative is o = 0, q_dim 0, s(x) = T(x) (the translation to x), and the
stabilizer of 0 is K, the rotations about it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..groups.affine import affine_act, split, translation
from ..groups.base import LieGroup, euclidean_distance, rotation_2d
from ..groups.so2 import SO2, angle_of
from .base import HomogeneousSpace, Lifted, check_features, gather_points, safe_norm
from .frames import golden_spread, plane_frame_angles


class EuclideanSpace(HomogeneousSpace):
    """R^n under x ↦ R x + t, R in the group's rotation part K (`group.rotations`, None for
    translations alone). Stabilizer draws: Haar on K, keyed to the point. Frames
    (lift_frame="centroid"): for K = SO(2) the direction of the point's frame vector (x̄ − x,
    blended near the centroid; spaces.frames); none needed for K trivial; none built for SO(3).

    distance: ‖t_a − t_b‖ for translations; α·angle(R_aᵀR_b) + (1−α)‖t_a − t_b‖ otherwise. The
    original uses the norm of the log's translation part, which for SE(2) is
    ‖t_a − t_b‖·(θ/2)/sin(θ/2); ours is the Euclidean distance, computable for all pairs without a
    per-pair log (a deliberate difference). LieConv stratifies the S angles of a point (2πs/S plus
    one offset); for even S that puts two samples exactly π apart, where the log jumps, so we
    draw i.i.d. angles instead (a deliberate difference).
    """

    q_dim = 0

    def __init__(self, group: LieGroup):
        super().__init__(group)
        n = group.n
        rotations = group.rotations
        self.space_dim = n
        self.translation_axes = tuple(range(n))
        self.trivial_stabilizer = rotations is None
        self.stabilizer_uniforms = 0 if rotations is None else rotations.haar_uniforms
        # distance ≥ (1 − α)·‖t_a − t_b‖ (= ‖t_a − t_b‖ for translations alone)
        self.position_weight = 1.0 if rotations is None else 1.0 - group.alpha
        self.distance_is_position_norm = rotations is None and type(self).distance is EuclideanSpace.distance

    @property
    def has_frames(self) -> bool:
        return self.trivial_stabilizer or isinstance(self.group.rotations, SO2)

    def act(self, g: Tensor, coords: Tensor) -> Tensor:
        return affine_act(g, coords)

    def section(self, coords: Tensor) -> Tensor:
        return translation(coords)

    def origin(self, orbits: Tensor) -> Tensor:
        return orbits.new_zeros(*orbits.shape[:-1], self.space_dim)

    def stabilizer_from_uniform(self, u: Tensor, coords: Tensor | None) -> Tensor:
        if self.trivial_stabilizer:
            return super().stabilizer_from_uniform(u, coords)
        return self.group.rotation_elements(self.group.rotations.haar_from_uniform(u))

    def frame_stabilizer(self, coords: Tensor, mask: Tensor, n_samples: int) -> Tensor:
        """R(φ_n + kγ) for K = SO(2): φ_n the direction of the point's frame vector
        (spaces.frames.plane_frame_angles), γ the golden angle; identities for K trivial."""
        if not self.has_frames or self.trivial_stabilizer:
            return super().frame_stabilizer(coords, mask, n_samples)
        return self.group.rotation_elements(rotation_2d(golden_spread(plane_frame_angles(coords, mask, self), n_samples)))

    @property
    def invariant_dim(self) -> int:
        return self.space_dim if self.trivial_stabilizer else 1

    def pair_invariants(self, xi: Tensor, xj: Tensor) -> Tensor:
        """x_j − x_i for translations alone; ‖x_j − x_i‖ under rigid motions (complete for pairs)."""
        diff = xj - xi
        return diff if self.trivial_stabilizer else safe_norm(diff)

    def pair_features(self, lifted: Lifted, idx: Tensor, query_idx: Tensor | None = None,
                      features: str = "log") -> Tensor:
        if not self.trivial_stabilizer or check_features(features) == "invariants":
            return super().pair_features(lifted, idx, query_idx, features)
        # translations: log = embed = x_j − x_i, continuous everywhere
        ui, _ = self._queries(lifted, idx, query_idx)
        return split(gather_points(lifted.elements, idx))[1] - split(ui)[1].unsqueeze(2)

    def positions(self, elements: Tensor, orbits: Tensor) -> Tensor:
        return split(elements)[1]

    def planar_angles(self, elements: Tensor) -> Tensor | None:
        if not isinstance(self.group.rotations, SO2) or type(self).distance is not EuclideanSpace.distance:
            return None
        return angle_of(split(elements)[0].double())  # SE2: relative_angle(R_a, R_b) = |θ_b − θ_a|₂π

    def distance(self, ua, qa, ub, qb) -> Tensor:
        Ra, ta = split(ua)
        Rb, tb = split(ub)
        if self.trivial_stabilizer:
            return euclidean_distance(ta, tb)
        angle = self.group.rotations.relative_angle(Ra, Rb)
        return self.alpha * angle + (1 - self.alpha) * euclidean_distance(ta, tb)


class CanonicalLiftSpace(EuclideanSpace):
    """R² under SE2Canonical(L) = R² ⋊ C_L, with the LieTransformer's deterministic lift: every
    point copied L times with the rotations 2πk/L (fixed_lift_samples = L, no randomness).

    Pair features [R(θ_i)⁻¹(x_j − x_i), (k_j − k_i) mod L] (pair_dim 3, continuous for either
    features kind: Δk is an exact integer); distance α·(2π/L)·min(Δk, L − Δk) + (1−α)‖t_a − t_b‖.
    """

    def __init__(self, group):
        super().__init__(group)
        self.fixed_lift_samples = group.L

    @property
    def has_frames(self) -> bool:
        return True  # the grid lift is deterministic already

    @property
    def pair_dim(self) -> int:
        return 3

    def pair_dim_of(self, features: str = "log") -> int:
        return 1 if check_features(features) == "invariants" else 3

    def sample_stabilizer(self, shape=(), generator=None, dtype=None, device=None) -> Tensor:
        return self.group.grid_rotations(torch.randint(0, self.group.L, shape, generator=generator, device=device), dtype)

    def lift_stabilizer(self, B, N, S, generator=None, dtype=None, device=None, coords=None) -> Tensor:
        """The fixed grid R(2πk/L), k = 0…L−1, for every point (no randomness)."""
        k = torch.arange(self.group.L, device=device)
        return self.group.grid_rotations(k, dtype).expand(B, N, self.group.L, 3, 3)

    def frame_stabilizer(self, coords: Tensor, mask: Tensor, n_samples: int) -> Tensor:
        """The fixed C_L grid: this lift is deterministic already (exact for C_L, not SE(2))."""
        B, N, _ = coords.shape
        return self.lift_stabilizer(B, N, self.group.L, None, coords.dtype, coords.device)

    def stabilizer_contains(self, h: Tensor, coords: Tensor, atol: float) -> Tensor:
        """Rotations about the origin by a multiple of 2π/L (the lift's grid is C_L, not SO(2))."""
        L = self.group.L
        steps = torch.atan2(h[..., 1, 0], h[..., 0, 0]) * L / (2 * math.pi)
        on_grid = (steps - torch.round(steps)).abs() <= atol * L
        return super().stabilizer_contains(h, coords, atol) & on_grid

    def pair_features(self, lifted: Lifted, idx: Tensor, query_idx: Tensor | None = None,
                      features: str = "log") -> Tensor:
        if check_features(features) == "invariants":
            return super().pair_features(lifted, idx, query_idx, features)
        ui, _ = self._queries(lifted, idx, query_idx)
        uj = gather_points(lifted.elements, idx)
        Ri, ti = split(ui.unsqueeze(2))
        _, tj = split(uj)
        local = (Ri.transpose(-1, -2) @ (tj - ti).unsqueeze(-1)).squeeze(-1)
        index = self.group.rotation_index
        dk = torch.remainder(index(uj) - index(ui).unsqueeze(2), self.group.L)
        return torch.cat([local, dk.unsqueeze(-1)], -1)

    def distance(self, ua, qa, ub, qb) -> Tensor:
        L = self.group.L
        ka, kb = self.group.rotation_index(ua), self.group.rotation_index(ub)
        dk = torch.remainder(kb.unsqueeze(-2) - ka.unsqueeze(-1), L)
        angle = torch.minimum(dk, L - dk) * (2 * math.pi / L)
        return self.alpha * angle + (1 - self.alpha) * euclidean_distance(split(ua)[1], split(ub)[1])
