"""Two-process DDP training through the `lieformer` command (CPU, gloo): both processes end with
the same weights, each trained on its own half of every epoch, and the result equals
single-process training on the combined batches (DDP averages the two halves' gradients, which
for a mean loss over equal halves is the gradient on their union)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import lightning as L
import torch
import yaml
from torch.utils.data import DataLoader

from lieformer.data.constellation import ConstellationData
from lieformer.tasks.classification import PointSetClassifier

EPOCHS, N_TRAIN, LOCAL_BATCH = 2, 48, 16
# T(2) lifts deterministically and nbhd ≥ the largest constellation (34 points) makes every point
# a neighbour: no random draw and no batch-row-dependent choice, so a set's loss does not depend
# on where in which batch it sits, and the two runs below must agree to float round-off
MODEL = {"network": "LieTransformer", "group": "T(2)", "in_channels": 2, "lr": 0.003,
         "network_args": {"dim": 16, "num_layers": 1, "heads": 2, "nbhd": 40, "kernel_dim": 8,
                          "normalisation": "dot-product"}}
DATA = {"n_train": N_TRAIN, "n_val": 16, "n_test": 16, "features": "coords", "batch_size": LOCAL_BATCH}

RECORDER = textwrap.dedent("""
    # `lieformer fit` with a callback that saves, per process, every training batch it saw, the
    # weights it started and ended with
    import os, sys
    import torch
    from lightning.pytorch.callbacks import Callback
    import lieformer.cli as cli

    class Record(Callback):
        def __init__(self):
            self.batches, self.start = [], None
        def on_train_start(self, trainer, module):
            self.start = {k: v.detach().clone() for k, v in module.state_dict().items()}
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            self.batches.append((trainer.current_epoch, [t.detach().clone() for t in batch]))
        def on_train_end(self, trainer, module):
            torch.save({"rank": trainer.global_rank, "world_size": trainer.world_size, "batches": self.batches,
                        "start": self.start, "end": {k: v.detach().clone() for k, v in module.state_dict().items()}},
                       os.path.join(os.environ["RECORD_DIR"], f"rank{trainer.global_rank}.pt"))

    original = cli.LieformerCLI.instantiate_trainer
    def with_record(self, **kwargs):
        trainer = original(self, **kwargs)
        trainer.callbacks.insert(0, Record())
        return trainer
    cli.LieformerCLI.instantiate_trainer = with_record
    cli.main(sys.argv[1:])
""")


def test_ddp_two_processes_equal_single_process_training_on_the_combined_batch(tmp_path):
    config = {
        "seed_everything": 0,
        "trainer": {"max_epochs": EPOCHS, "accelerator": "cpu", "devices": 2, "strategy": "ddp",
                    "log_every_n_steps": 1, "enable_progress_bar": False, "enable_model_summary": False,
                    "num_sanity_val_steps": 0, "limit_val_batches": 0, "default_root_dir": str(tmp_path / "run")},
        "model": {"class_path": "lieformer.tasks.PointSetClassifier", "init_args": MODEL},
        "data": {"class_path": "lieformer.data.ConstellationData",
                 "init_args": {**DATA, "cache_dir": str(tmp_path / "cache")}},
    }
    (tmp_path / "ddp.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "record.py").write_text(RECORDER)
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "record.py"), "fit", "--config", str(tmp_path / "ddp.yaml")],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1", "RECORD_DIR": str(tmp_path), "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["world_size"] == 2 for r in ranks)

    # 1. the two replicas start and end with identical weights
    for key, value in ranks[0]["end"].items():
        assert torch.equal(ranks[1]["end"][key], value), key
        assert torch.equal(ranks[1]["start"][key], ranks[0]["start"][key]), key
    assert any(not torch.equal(ranks[0]["end"][k], ranks[0]["start"][k]) for k in ranks[0]["end"])

    # 2. each process saw its own half of every epoch: disjoint shards covering the training set
    data = ConstellationData(**DATA, cache_dir=str(tmp_path / "cache"))
    data.setup("fit")
    train = data.train_set.coords.flatten(1)

    def indices(coords: torch.Tensor) -> list[int]:
        rows = [(train == c).all(-1).nonzero().flatten().tolist() for c in coords.flatten(1)]
        assert all(len(r) == 1 for r in rows)  # every batch row is exactly one training set
        return [r[0] for r in rows]

    steps = [[(epoch, indices(batch[0])) for epoch, batch in r["batches"]] for r in ranks]
    assert len(steps[0]) == len(steps[1]) == EPOCHS * 2  # 24 sets per process: batches of 16 and 8
    for epoch in range(EPOCHS):
        seen = [sum((idx for e, idx in s if e == epoch), []) for s in steps]
        assert len(seen[0]) == len(seen[1]) == N_TRAIN // 2
        assert not set(seen[0]) & set(seen[1])
        assert sorted(seen[0] + seen[1]) == list(range(N_TRAIN))

    # 3. single-process training from the same start on the union of each step's two batches
    combined = [[torch.cat([a, b]) for a, b in zip(ba, bb)] for (_, ba), (_, bb) in zip(ranks[0]["batches"], ranks[1]["batches"])]
    model = PointSetClassifier(**MODEL)
    model.load_state_dict(ranks[0]["start"])
    L.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
              enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
              default_root_dir=tmp_path / "single").fit(model, DataLoader(combined, batch_size=None))
    single = model.state_dict()
    for key, value in ranks[0]["end"].items():
        torch.testing.assert_close(single[key], value, atol=1e-6, rtol=0, msg=key)
