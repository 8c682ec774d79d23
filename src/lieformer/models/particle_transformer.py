"""ParticleTransformer: LieSelfAttention over the particles of a small system, predicting a
vector per particle (future positions) that moves with the input: E(3)- or only T(3)-equivariant.

Inputs x, v (B, n, 3) (positions, velocities), q (B, n) (charges). With all particles as each
other's neighbourhood, LieTransformer attention on E(3) (lifts of R³ with stabilizer O(3)) needs
only what the lift's pair features log(u_i⁻¹u_j) carry that the group cannot change: for points
with attached vectors that is the set of inner products of (x_j − x_i, v_i, v_j). We take those
directly as the pair features (`pair_invariants`): an exact, deterministic E(3)-invariant
attention, no lift samples and no Monte Carlo average (lieformer's SE3 space has no frame lift,
lift_frame="centroid", that would make a lifted model exact; SPACES in the README).

symmetry="E3": invariant features h_i from LieTransformerBlocks, and the output
    x̂_i = x_i + Σ_j w_ij (x_i − x_j) + Σ_j u_ij v_j,   (w_ij, u_ij) = MLP(h_i, h_j, p_ij):
a combination of equivariant vectors with invariant weights, so x̂(gx, Rv) = g x̂(x, v) for every
rotation/reflection R and translation t (g = (R, t)), and permutations of the particles.
symmetry="T3": the same blocks and heads, but the pair features are the raw vectors
(x_j − x_i, v_i, v_j) and the pair head outputs a 3-vector: x̂_i = x_i + Σ_j MLP(h_i, h_j, p_ij),
translation-equivariant only (the non-rotation-aware baseline at the same size).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..nn.attention import LieTransformerBlock

SYMMETRIES = ("E3", "T3")


def pair_invariants(x: Tensor, v: Tensor, q: Tensor) -> Tensor:
    """(B, n, n, 9) E(3)-invariant features of each ordered pair (i, j), with r = x_j − x_i:
    ‖r‖², ‖r‖, v_i·r, v_j·r, v_i·v_j, ‖v_i‖², ‖v_j‖², q_i q_j, [i = j]."""
    r = x[:, None, :, :] - x[:, :, None, :]  # r[b, i, j] = x_j − x_i
    vi, vj = v[:, :, None, :].expand_as(r), v[:, None, :, :].expand_as(r)
    r2 = (r * r).sum(-1)
    n = x.shape[1]
    eye = torch.eye(n, dtype=x.dtype, device=x.device).expand(x.shape[0], n, n)
    dist = torch.sqrt(r2 + eye)  - eye  # exact 0 on the diagonal, no infinite gradient there
    qq = q[:, :, None] * q[:, None, :]
    return torch.stack([r2, dist, (vi * r).sum(-1), (vj * r).sum(-1), (vi * vj).sum(-1), (vi * vi).sum(-1),
                        (vj * vj).sum(-1), qq, eye], -1)


def pair_vectors(x: Tensor, v: Tensor, q: Tensor) -> Tensor:
    """(B, n, n, 11) translation-invariant (not rotation-invariant) pair features: x_j − x_i, v_i,
    v_j, q_i q_j, [i = j]."""
    r = x[:, None, :, :] - x[:, :, None, :]
    n = x.shape[1]
    eye = torch.eye(n, dtype=x.dtype, device=x.device).expand(x.shape[0], n, n)
    qq = q[:, :, None] * q[:, None, :]
    return torch.cat([r, v[:, :, None, :].expand_as(r), v[:, None, :, :].expand_as(r), qq[..., None], eye[..., None]], -1)


class ParticleTransformer(nn.Module):
    """model(x (B, n, 3), v (B, n, 3), q (B, n)) → predicted positions (B, n, 3) (module docstring).

    dim: feature width; num_layers LieTransformerBlocks (heads, kernel_dim, the attention's
    location MLP on the pair features); the pair head is an MLP of width dim whose last layer
    starts at zero, so an untrained model predicts no motion (x̂ = x)."""

    def __init__(self, symmetry: str = "E3", dim: int = 64, num_layers: int = 4, heads: int = 4, kernel_dim: int = 16):
        super().__init__()
        if symmetry not in SYMMETRIES:
            raise ValueError(f"ParticleTransformer: unknown symmetry {symmetry!r}; choose one of {SYMMETRIES}")
        self.symmetry = symmetry
        self.equivariant = symmetry == "E3"
        pair_dim = 9 if self.equivariant else 11
        node_dim = 2 if self.equivariant else 4  # (q_i, ‖v_i‖²) or (q_i, v_i)
        self.embed = nn.Linear(node_dim, dim)
        self.blocks = nn.ModuleList(LieTransformerBlock(dim, pair_dim, heads=heads, kernel_dim=kernel_dim)
                                    for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)
        out = 2 if self.equivariant else 3
        self.pair_head = nn.Sequential(nn.Linear(2 * dim + pair_dim, dim), nn.SiLU(), nn.Linear(dim, dim), nn.SiLU(),
                                       nn.Linear(dim, out))
        nn.init.zeros_(self.pair_head[-1].weight)  # start at x̂ = x (no motion), for both symmetries
        nn.init.zeros_(self.pair_head[-1].bias)

    def _check(self, x: Tensor, v: Tensor, q: Tensor) -> None:
        name = type(self).__name__
        if x.dim() != 3 or x.shape[-1] != 3:
            raise ValueError(f"{name}: positions must be (B, n, 3), got {tuple(x.shape)}")
        if v.shape != x.shape:
            raise ValueError(f"{name}: velocities must have the positions' shape {tuple(x.shape)}, got {tuple(v.shape)}")
        if q.shape != x.shape[:2]:
            raise ValueError(f"{name}: charges must be (B, n) = {tuple(x.shape[:2])}, got {tuple(q.shape)}")
        for what, t in (("positions", x), ("velocities", v), ("charges", q)):
            if not torch.isfinite(t).all():
                raise ValueError(f"{name}: {what} contain non-finite values")

    def _pairs_and_nodes(self, x: Tensor, v: Tensor, q: Tensor) -> tuple[Tensor, Tensor]:
        if self.equivariant:
            return pair_invariants(x, v, q), torch.stack([q, (v * v).sum(-1)], -1)
        return pair_vectors(x, v, q), torch.cat([q[..., None], v], -1)

    def _features(self, x: Tensor, pairs: Tensor, nodes: Tensor) -> Tensor:
        B, n, _ = x.shape
        mask = torch.ones(B, n, dtype=torch.bool, device=x.device)
        idx = torch.arange(n, device=x.device).expand(B, n, n)  # everyone attends to everyone
        f = self.embed(nodes)
        for block in self.blocks:
            f = block(f, mask, pairs, idx, mask[:, :, None].expand(B, n, n))
        return self.norm(f)

    def _prepare(self, x: Tensor, v: Tensor, q: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        self._check(x, v, q)
        dtype = self.embed.weight.dtype
        x, v, q = x.to(dtype), v.to(dtype), q.to(dtype)
        centre = x.mean(1, keepdim=True)  # no change in exact arithmetic; keeps float32 exact far from the origin
        return x - centre, v, q, centre

    def node_features(self, x: Tensor, v: Tensor, q: Tensor) -> Tensor:
        """The particles' features (B, n, dim) after the attention blocks: E(3)-invariant for "E3"."""
        x, v, q, _ = self._prepare(x, v, q)
        return self._features(x, *self._pairs_and_nodes(x, v, q))

    def forward(self, x: Tensor, v: Tensor, q: Tensor) -> Tensor:
        x, v, q, centre = self._prepare(x, v, q)
        B, n, _ = x.shape
        pairs, nodes = self._pairs_and_nodes(x, v, q)
        f = self._features(x, pairs, nodes)
        head = self.pair_head(torch.cat([f[:, :, None].expand(B, n, n, -1), f[:, None, :].expand(B, n, n, -1), pairs], -1))
        if self.equivariant:
            r = x[:, None, :, :] - x[:, :, None, :]  # x_j − x_i
            step = -(head[..., :1] * r).sum(2) + (head[..., 1:] * v[:, None, :, :]).sum(2)
        else:
            step = head.sum(2)
        return x + step + centre
