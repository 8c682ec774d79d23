"""The dynamics baselines of the LieConv / LieTransformer springs experiment (DESIGN §5), in plain
torch, for systems of a fixed number of bodies n in d dimensions with per-body features (c):

- potentials V(q, features) → (B, 1), for lieformer.tasks.HamiltonianDynamics (the kinetic
  energy known, forces by autograd), called like the lifting models: net(q (B, n, d),
  features (B, n, c), mask) with mask None or all True:
    HFC   an MLP on the flattened (q, features);
    HOGN  a graph network on the complete graph of the bodies, V = Σ_i of per-body outputs.
- direct dynamics dz/dt = f(z, features) → (B, 2, n, d), for lieformer.tasks.DirectDynamics:
    FC    an MLP on the flattened (q, p, features);
    OGN   the graph network, per-body outputs (q̇_i, ṗ_i).

None is equivariant: positions enter as absolute coordinates (as in the originals' node and
input features). The graph network (GraphNetwork) is one or more rounds of message passing on
the complete graph without self-loops: e_ij = φ_e([h_i, h_j]), h_i ← h_i + φ_v([h_i, Σ_{j≠i} e_ij]),
then a per-body head; φ are 2-layer Swish MLPs of width k.
"""

from __future__ import annotations

from torch import Tensor, nn
import torch


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear → Swish → … → Linear over `sizes` (no activation after the last layer)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


def _check(name: str, x: Tensor, features: Tensor, n: int, d: int, c: int, mask: Tensor | None) -> None:
    if x.dim() != 3 or x.shape[1:] != (n, d):
        raise ValueError(f"{name}: positions must be (B, {n}, {d}) (num_bodies={n}), got {tuple(x.shape)}")
    if features.shape != (x.shape[0], n, c):
        raise ValueError(f"{name}: features must be (B, {n}, {c}), got {tuple(features.shape)}")
    if mask is not None and not bool(mask.all()):
        raise ValueError(f"{name}: every body must be present (mask all True): the baselines take a fixed number of bodies")


class HFC(nn.Module):
    """V(q, features) = MLP([q.flatten(), features.flatten()]) → (B, out_channels): num_layers
    hidden layers of width k, Swish."""

    takes_group = False

    def __init__(self, in_channels: int, out_channels: int = 1, num_bodies: int = 6, dims: int = 2, k: int = 256,
                 num_layers: int = 4):
        super().__init__()
        self.n, self.d, self.c = num_bodies, dims, in_channels
        self.net = mlp([num_bodies * (dims + in_channels)] + [k] * num_layers + [out_channels])

    def forward(self, q: Tensor, features: Tensor, mask: Tensor | None = None) -> Tensor:
        _check(type(self).__name__, q, features, self.n, self.d, self.c, mask)
        q = q.to(self.net[0].weight.dtype)
        return self.net(torch.cat([q.flatten(1), features.to(q.dtype).flatten(1)], 1))


class FC(nn.Module):
    """dz/dt = MLP([q, p, features] flattened) reshaped to (B, 2, n, d): num_layers hidden layers
    of width k, Swish."""

    def __init__(self, in_channels: int, num_bodies: int = 6, dims: int = 2, k: int = 256, num_layers: int = 4):
        super().__init__()
        self.n, self.d, self.c = num_bodies, dims, in_channels
        self.net = mlp([num_bodies * (2 * dims + in_channels)] + [k] * num_layers + [2 * num_bodies * dims])

    def forward(self, z: Tensor, features: Tensor) -> Tensor:
        if z.dim() != 4 or z.shape[1] != 2:
            raise ValueError(f"FC: z must be (B, 2, {self.n}, {self.d}) = (q, p), got {tuple(z.shape)}")
        _check("FC", z[:, 0], features, self.n, self.d, self.c, None)
        x = torch.cat([z.to(self.net[0].weight.dtype).flatten(1), features.to(self.net[0].weight.dtype).flatten(1)], 1)
        return self.net(x).view(z.shape).to(z.dtype)


class GraphNetwork(nn.Module):
    """Message passing on the complete graph of n nodes (module docstring): node inputs
    (B, n, c_in) → per-node outputs (B, n, c_out)."""

    def __init__(self, node_in: int, node_out: int, k: int = 256, num_layers: int = 1):
        super().__init__()
        self.embed = nn.Linear(node_in, k)
        self.edges = nn.ModuleList(mlp([2 * k, k, k]) for _ in range(num_layers))
        self.nodes = nn.ModuleList(mlp([2 * k, k, k]) for _ in range(num_layers))
        self.head = mlp([k, k, node_out])

    def forward(self, x: Tensor) -> Tensor:
        h = self.embed(x)
        n = h.shape[1]
        off_diagonal = ~torch.eye(n, dtype=torch.bool, device=h.device)
        for edge, node in zip(self.edges, self.nodes):
            pairs = torch.cat([h.unsqueeze(2).expand(-1, -1, n, -1), h.unsqueeze(1).expand(-1, n, -1, -1)], -1)
            messages = (edge(pairs) * off_diagonal[..., None].to(h.dtype)).sum(2)  # Σ_{j≠i} φ_e([h_i, h_j])
            h = h + node(torch.cat([h, messages], -1))
        return self.head(h)


class HOGN(nn.Module):
    """V(q, features) = Σ_i GraphNetwork([q_i, features_i])_i → (B, out_channels)."""

    takes_group = False

    def __init__(self, in_channels: int, out_channels: int = 1, num_bodies: int = 6, dims: int = 2, k: int = 256,
                 num_layers: int = 1):
        super().__init__()
        self.n, self.d, self.c = num_bodies, dims, in_channels
        self.graph = GraphNetwork(dims + in_channels, out_channels, k, num_layers)

    def forward(self, q: Tensor, features: Tensor, mask: Tensor | None = None) -> Tensor:
        _check(type(self).__name__, q, features, self.n, self.d, self.c, mask)
        dtype = self.graph.embed.weight.dtype
        return self.graph(torch.cat([q.to(dtype), features.to(dtype)], -1)).sum(1)


class OGN(nn.Module):
    """dz/dt: GraphNetwork([q_i, p_i, features_i]) → (q̇_i, ṗ_i) per body, as (B, 2, n, d)."""

    def __init__(self, in_channels: int, num_bodies: int = 6, dims: int = 2, k: int = 256, num_layers: int = 1):
        super().__init__()
        self.n, self.d, self.c = num_bodies, dims, in_channels
        self.graph = GraphNetwork(2 * dims + in_channels, 2 * dims, k, num_layers)

    def forward(self, z: Tensor, features: Tensor) -> Tensor:
        if z.dim() != 4 or z.shape[1] != 2:
            raise ValueError(f"OGN: z must be (B, 2, {self.n}, {self.d}) = (q, p), got {tuple(z.shape)}")
        _check("OGN", z[:, 0], features, self.n, self.d, self.c, None)
        dtype = self.graph.embed.weight.dtype
        out = self.graph(torch.cat([z[:, 0].to(dtype), z[:, 1].to(dtype), features.to(dtype)], -1))  # (B, n, 2d)
        return out.view(z.shape[0], self.n, 2, self.d).transpose(1, 2).to(z.dtype)


#: direct-dynamics networks for DirectDynamics: name → class(in_channels, **args)
DYNAMICS_NETWORKS = {"FC": FC, "OGN": OGN}
