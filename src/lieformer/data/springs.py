"""Hamiltonian spring dynamics (LieConv and LieTransformer papers, DESIGN.md §5): learn the motion
of n bodies in 2-D joined by springs, from short chunks of simulated trajectories.

System: masses m_i ~ U(0.1, 3.1), spring constants k_i ~ U(0, 5) (a pair's constant is k_i k_j),

    H(q, p) = Σ_i ‖p_i‖²/2m_i + ½ Σ_{i≠j} k_i k_j ‖q_i − q_j‖²   (ordered pairs: each spring twice),

so the force on i is −2 Σ_j k_i k_j (q_i − q_j). Initial state q₀ ~ 0.4·N(0, 1), p₀ ~ 0.6·N(0, 1)
with **each system's** total momentum removed (p_i ← p_i − mean_j p_j). The original code
removes the mean momentum across the systems of a batch instead (REFERENCE.md "Springs
details"), which leaves every system with some drift; we differ on purpose. Trajectories:
`steps` RK4 steps (torchdiffeq, float64) on [0, t_end]: 500 steps of 0.01 on [0, 5].

Splits (`SpringsData`): three independent streams of systems — train, validation, test — each
generated in blocks of `block_size` systems, block b of a stream from the seed material
[seed, stream, b] (the test stream from `test_seed`, fixed by default, so a change of `seed`
keeps the test set). The training set of size n_train is the first n_train systems of its
stream, so training sets are nested (the 10 systems of n_train = 10 are among the 100 of
n_train = 100, …): data-efficiency curves compare models on the same systems. Each block is
simulated once and cached (lieformer.data.cache); a training block keeps one random chunk of
`chunk_len` steps per system (its start uniform over the trajectory), an evaluation block keeps
that chunk and the first `rollout_steps` steps.

Batches are those of lieformer.tasks.DynamicsTask: (z0 (B, 2, n, 2), ts (B, T) the chunk's times
from 0 (the system is autonomous), trajectory (B, T, 2, n, 2), masses (B, n), features (B, n, 2) =
(m_i, k_i) per body). Evaluation sets: "chunk" (one random 5-step chunk per system: the papers'
5-step MSE) and "rollout" (the first `rollout_steps` steps from the initial state).
The plots (true vs predicted trajectories, rollout error over time) are
lieformer.data.springs_plots.SpringsPlots, a callback the springs configs declare.
"""

from __future__ import annotations


import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchdiffeq import odeint

from .cache import cache_path, cached_arrays
from .loaders import SplitDataModule

#: bump when simulate_springs or the block layout changes: older cache entries then miss
GENERATOR_VERSION = 1
#: the three independent streams of systems
STREAMS = {"train": 0, "val": 1, "test": 2}
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def spring_forces(q: Tensor, k: Tensor) -> Tensor:
    """−∂V/∂q (S, n, d) for positions q (S, n, d) and constants k (S, n): −2 Σ_j k_i k_j (q_i − q_j)."""
    kq = (k.unsqueeze(-1) * q).sum(-2, keepdim=True)  # Σ_j k_j q_j
    return -2 * k.unsqueeze(-1) * (k.sum(-1)[:, None, None] * q - kq)


def spring_energy(z: Tensor, masses: Tensor, k: Tensor) -> Tensor:
    """H(z) (...,) for states z (..., 2, n, d) of systems with masses and k (S, n), S leading z."""
    q, p = z[..., 0, :, :], z[..., 1, :, :]
    extra = z.dim() - 4  # time axes between the system axis and (2, n, d)
    m, kk = masses.reshape(masses.shape[:1] + (1,) * extra + masses.shape[1:]), k.reshape(k.shape[:1] + (1,) * extra + k.shape[1:])
    kinetic = (p.square().sum(-1) / (2 * m)).sum(-1)
    pair_k = kk.unsqueeze(-1) * kk.unsqueeze(-2)
    potential = 0.5 * (pair_k * (q.unsqueeze(-2) - q.unsqueeze(-3)).square().sum(-1)).sum((-1, -2))
    return kinetic + potential


def integrate_springs(z0: Tensor, masses: Tensor, k: Tensor, ts: Tensor) -> Tensor:
    """States (S, T, 2, n, d) at the times ts (T,) from z0 (S, 2, n, d): fixed-step RK4
    (torchdiffeq) with the spacing of ts as its step, in the dtype of z0."""
    m = masses.to(z0.dtype).unsqueeze(-1)
    k = k.to(z0.dtype)

    def field(t, z):
        return torch.stack([z[:, 1] / m, spring_forces(z[:, 0], k)], 1)

    return odeint(field, z0, ts.to(z0.dtype), method="rk4").transpose(0, 1)


def initial_states(num_systems: int, seed, num_bodies: int = 6, dims: int = 2) -> tuple[Tensor, Tensor, Tensor]:
    """(z0 (S, 2, n, d), masses (S, n), k (S, n)) float64 from np.random.default_rng(seed): masses
    U(0.1, 3.1), k U(0, 5), q₀ 0.4·N(0, 1), p₀ 0.6·N(0, 1) minus its mean over the system's bodies."""
    rng = np.random.default_rng(seed)
    masses = rng.uniform(0.1, 3.1, (num_systems, num_bodies))
    k = rng.uniform(0.0, 5.0, (num_systems, num_bodies))
    q0 = 0.4 * rng.standard_normal((num_systems, num_bodies, dims))
    p0 = 0.6 * rng.standard_normal((num_systems, num_bodies, dims))
    p0 -= p0.mean(1, keepdims=True)  # per system: its total momentum is zero
    z0 = torch.from_numpy(np.stack([q0, p0], 1))
    return z0, torch.from_numpy(masses), torch.from_numpy(k)


def simulate_springs(num_systems: int, *, seed, num_bodies: int = 6, steps: int = 500,
                     t_end: float = 5.0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """`num_systems` spring systems (module docstring) integrated by RK4 over `steps` equal steps
    on [0, t_end]. Returns ts (T,), z (S, T, 2, n, 2) (z[:, :, 0] positions, z[:, :, 1] momenta),
    masses (S, n), k (S, n), all float64, T = steps + 1 (the initial state included). `seed`:
    anything np.random.default_rng takes (an int, a list of ints); the initial states depend on
    it, num_systems and num_bodies only, so steps and t_end change the integration alone."""
    for name, value in (("num_systems", num_systems), ("num_bodies", num_bodies), ("steps", steps)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"simulate_springs: {name} must be a positive integer, got {value!r}")
    if num_bodies < 2:
        raise ValueError(f"simulate_springs: num_bodies must be at least 2 (springs join pairs), got {num_bodies}")
    if not (isinstance(t_end, (int, float)) and np.isfinite(t_end) and t_end > 0):
        raise ValueError(f"simulate_springs: t_end must be a positive finite number, got {t_end!r}")
    z0, masses, k = initial_states(int(num_systems), seed, int(num_bodies))
    ts = torch.linspace(0.0, float(t_end), int(steps) + 1, dtype=torch.float64)
    return ts, integrate_springs(z0, masses, k, ts), masses, k


def simulate_blocks(stream: str, blocks: list[int], seed: int, block_size: int, num_bodies: int, steps: int,
                    t_end: float, chunk_len: int, keep_steps: int) -> dict[int, dict[str, np.ndarray]]:
    """Blocks of a stream, integrated together (one RK4 run): block b holds the systems of
    simulate_springs(block_size, seed=[seed, STREAMS[stream], b]) — masses, k (S, n); chunk
    (S, chunk_len + 1, 2, n, 2) starting at chunk_start (S,) (uniform over 0 … steps − chunk_len,
    drawn from seed material [seed, stream, b, 1]); head (S, keep_steps + 1, 2, n, 2) the first
    states (keep_steps = 0: the initial state only)."""
    if not blocks:
        return {}
    material = {b: [seed, STREAMS[stream], b] for b in blocks}
    initial = [initial_states(block_size, material[b], num_bodies) for b in blocks]
    z0, masses, k = (torch.cat(parts) for parts in zip(*initial))
    ts = torch.linspace(0.0, float(t_end), steps + 1, dtype=torch.float64)
    z = integrate_springs(z0, masses, k, ts)
    out = {}
    for i, b in enumerate(blocks):
        rows = slice(i * block_size, (i + 1) * block_size)
        start = np.random.default_rng(material[b] + [1]).integers(0, steps - chunk_len + 1, block_size)
        window = torch.from_numpy(start)[:, None] + torch.arange(chunk_len + 1)
        zb = z[rows]
        out[b] = {"masses": masses[rows].numpy(), "k": k[rows].numpy(), "chunk_start": start,
                  "chunk": zb[torch.arange(block_size)[:, None], window].numpy(),
                  "head": zb[:, : keep_steps + 1].numpy().copy()}
    return out


class DynamicsDataset(Dataset):
    """Items (z0 (2, n, d), ts (T,), trajectory (T, 2, n, d), masses (n,), features (n, c)) of
    trajectories (N, T, 2, n, d) sampled at the times ts (T,) (shared by all items)."""

    def __init__(self, trajectory: Tensor, ts: Tensor, masses: Tensor, features: Tensor):
        self.trajectory, self.ts, self.masses, self.features = trajectory, ts, masses, features

    def __len__(self) -> int:
        return len(self.trajectory)

    def __getitem__(self, i: int):
        return self.trajectory[i, 0], self.ts, self.trajectory[i], self.masses[i], self.features[i]


class SpringsData(SplitDataModule):
    """Spring systems for Lightning (module docstring): the first n_train systems of the training
    stream (one random chunk_len-step chunk each), n_val validation and n_test test systems from
    independent streams; evaluation sets "chunk" and "rollout" (the first rollout_steps steps of
    the first n_rollout systems of the split; None: all). The test stream comes from test_seed
    (fixed: 2,000 systems by default whatever `seed`). dtype: "float32" (default) or "float64",
    what the batches hold (simulation is always float64). Shuffling draws from the global RNG
    (seed_everything). cache_dir: where simulated blocks are cached (None: $LIEFORMER_CACHE, else
    ~/.cache/lieformer)."""

    def __init__(self, n_train: int = 1000, n_val: int = 200, n_test: int = 2000, seed: int = 0, test_seed: int = 1,
                 num_bodies: int = 6, steps: int = 500, t_end: float = 5.0, chunk_len: int = 5,
                 rollout_steps: int = 100, n_rollout: int | None = None, batch_size: int = 200,
                 dtype: str = "float32", block_size: int = 1000, cache_dir: str | None = None, num_workers: int = 0):
        super().__init__()
        for name, value, low in (("n_train", n_train, 1), ("n_val", n_val, 1), ("n_test", n_test, 1),
                                 ("num_bodies", num_bodies, 2), ("steps", steps, 1), ("chunk_len", chunk_len, 1),
                                 ("rollout_steps", rollout_steps, 1), ("batch_size", batch_size, 1),
                                 ("block_size", block_size, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"data.{name}: must be an integer ≥ {low}, got {value!r}")
        if chunk_len > steps or rollout_steps > steps:
            raise ValueError(f"data.chunk_len ({chunk_len}) and data.rollout_steps ({rollout_steps}) must not exceed "
                             f"data.steps ({steps}), the length of the simulated trajectories")
        if n_rollout is not None and not (isinstance(n_rollout, int) and n_rollout >= 1):
            raise ValueError(f"data.n_rollout: must be a positive integer or None, got {n_rollout!r}")
        if not (isinstance(t_end, (int, float)) and np.isfinite(t_end) and t_end > 0):
            raise ValueError(f"data.t_end: must be a positive finite number, got {t_end!r}")
        if dtype not in DTYPES:
            raise ValueError(f"data.dtype: must be one of {sorted(DTYPES)}, got {dtype!r}")
        self.save_hyperparameters()

    eval_names = ("chunk", "rollout")

    @property
    def dt(self) -> float:
        return self.hparams.t_end / self.hparams.steps

    def stream(self, name: str, n: int, keep_steps: int = 0) -> dict[str, np.ndarray]:
        """The first n systems of a stream ("train", "val", "test"), block by block from the cache."""
        hp = self.hparams
        seed = hp.test_seed if name == "test" else hp.seed
        params = dict(stream=name, seed=seed, block_size=hp.block_size, num_bodies=hp.num_bodies, steps=hp.steps,
                      t_end=float(hp.t_end), chunk_len=hp.chunk_len, keep_steps=keep_steps)
        numbers = range((n + hp.block_size - 1) // hp.block_size)
        key = {b: {**params, "block": b, "version": GENERATOR_VERSION} for b in numbers}
        missing = [b for b in numbers if not cache_path("springs", key[b], hp.cache_dir).exists()]
        built = simulate_blocks(name, missing, seed, hp.block_size, hp.num_bodies, hp.steps, float(hp.t_end),
                                hp.chunk_len, keep_steps)  # the missing blocks in one integration
        blocks = [cached_arrays("springs", key[b],
                                lambda b=b: built.pop(b, None) or simulate_blocks(
                                    name, [b], seed, hp.block_size, hp.num_bodies, hp.steps, float(hp.t_end),
                                    hp.chunk_len, keep_steps)[b],
                                hp.cache_dir, compress=False)  # float64 trajectories do not compress
                  for b in numbers]
        return {key: np.concatenate([blk[key] for blk in blocks])[:n] for key in blocks[0]}

    def prepare_data(self) -> None:
        """Simulate and cache the blocks once (Lightning calls this on one process per node)."""
        self._streams()

    def _streams(self):
        hp = self.hparams
        return (self.stream("train", hp.n_train), self.stream("val", hp.n_val, hp.rollout_steps),
                self.stream("test", hp.n_test, hp.rollout_steps))

    def _dataset(self, trajectory: np.ndarray, data: dict[str, np.ndarray]) -> DynamicsDataset:
        dtype = DTYPES[self.hparams.dtype]
        trajectory = torch.from_numpy(trajectory).to(dtype)
        n = len(trajectory)
        masses, k = torch.from_numpy(data["masses"][:n]).to(dtype), torch.from_numpy(data["k"][:n]).to(dtype)
        ts = self.dt * torch.arange(trajectory.shape[1], dtype=torch.float64)
        return DynamicsDataset(trajectory, ts.to(dtype), masses, torch.stack([masses, k], -1))

    def _eval_sets(self, data: dict[str, np.ndarray]) -> list[DynamicsDataset]:
        n_rollout = self.hparams.n_rollout or len(data["head"])
        return [self._dataset(data["chunk"], data), self._dataset(data["head"][:n_rollout], data)]

    def setup(self, stage: str | None = None) -> None:
        if hasattr(self, "train_set"):
            return
        train, val, test = self._streams()
        self.train_set = self._dataset(train["chunk"], train)
        self.train_initial = torch.from_numpy(train["head"][:, 0])  # (n_train, 2, n, 2) float64
        self.val_sets, self.test_sets = self._eval_sets(val), self._eval_sets(test)

