"""Counter-based random numbers: the same (seed, index) always gives the same number.

Stabilizer draws in the lift, neighbour subsampling and FPS starts need noise per (set, point,
sample) or (batch row, query, candidate). Drawing it
with torch.rand would tie every number to the tensor's shape, so appending padding points or
changing the chunk size would reshuffle every choice. Instead each layer draws one seed from the
caller's torch.Generator and hashes (seed, b, i, j) — padding-invariant, chunk-invariant and
reproducible. The hash is the 32-bit "lowbias32" integer mixer, computed in int64 without
overflow.
"""

from __future__ import annotations

import torch
from torch import Tensor

_MASK32 = 0xFFFFFFFF


def draw_seed(generator: torch.Generator | None, device=None) -> int:
    """One 31-bit seed from the generator (or the global RNG), on the generator's own device."""
    device = generator.device if generator is not None else (device or "cpu")
    return int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=device).item())


def _mul32(x: Tensor, c: int) -> Tensor:
    """(x · c) mod 2³² for 0 ≤ x < 2³², in int64 without overflow."""
    lo, hi = c & 0xFFFF, c >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & _MASK32


def mix32(x: Tensor) -> Tensor:
    """lowbias32: a bijective avalanche mixer on 32-bit integers (held in int64)."""
    x = x & _MASK32
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def hash_indices(seed: int, *indices: Tensor) -> Tensor:
    """A 32-bit hash of (seed, i₁, i₂, …), broadcasting the integer index tensors."""
    h = torch.as_tensor(seed & _MASK32, dtype=torch.int64, device=indices[0].device)
    for idx in indices:
        h = mix32(h + 0x9E3779B9 + mix32(idx.to(torch.int64)))
    return h


def uniform(seed: int, *indices: Tensor, dtype=torch.float32) -> Tensor:
    """U[0, 1) numbers indexed by (seed, i₁, i₂, …), 24 bits of resolution.

    All but the last index are hashed fully (small tensors), the last one is hashed on its own,
    and the two 32-bit hashes meet in one xor and one multiply: a (B, M, L) block costs four
    integer operations per element.
    """
    *outer, last = indices
    row = hash_indices(seed, *outer) if outer else torch.as_tensor(seed & _MASK32, device=last.device)
    col = mix32(last.to(torch.int64) + 0x632BE5AB)
    return ((((row ^ col) * 0x5851F42D) & _MASK32) >> 8).to(dtype) * (1.0 / 2**24)


def point_uniforms(seed: int, shape: tuple[int, int, int], k: int, dtype=torch.float32, device=None) -> Tensor:
    """U[0, 1) numbers (B, N, S, k) indexed by (seed, set b, point n, sample s, component c).

    The same (b, n, s, c) always gives the same number, whatever B and N: a point's draws do not
    move when padding is appended. float64 gets 48 bits (two 24-bit draws), float32 24."""
    B, N, S = shape
    b = torch.arange(B, device=device).view(B, 1, 1, 1)
    n = torch.arange(N, device=device).view(1, N, 1, 1)
    s = torch.arange(S, device=device).view(1, 1, S, 1)
    c = torch.arange(k, device=device).view(1, 1, 1, k)
    hi = uniform(seed, b, n, s, 2 * c, dtype=torch.float64)
    if dtype != torch.float64:
        return hi.to(dtype)
    return hi + uniform(seed, b, n, s, 2 * c + 1, dtype=torch.float64) * 2.0**-24
