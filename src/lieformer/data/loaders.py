"""The data loaders every set-of-splits DataModule builds the same way: one training set and
lists of validation and test sets (one per variant), batch_size and num_workers from hparams."""

from __future__ import annotations

import lightning as L
from torch.utils.data import DataLoader


class SplitDataModule(L.LightningDataModule):
    """train_dataloader / val_dataloader / test_dataloader over self.train_set, self.val_sets and
    self.test_sets (set in setup). Subclasses add DataLoader options (a collate function, an
    evaluation batch size) through train_options() and eval_options()."""

    def train_options(self) -> dict:
        return {}

    def eval_options(self) -> dict:
        return {}

    def loader(self, dataset, shuffle: bool, batch_size: int | None = None, **options) -> DataLoader:
        return DataLoader(dataset, batch_size=batch_size or self.hparams.batch_size, shuffle=shuffle,
                          num_workers=self.hparams.num_workers, **options)

    def train_dataloader(self):
        return self.loader(self.train_set, True, **self.train_options())

    def val_dataloader(self):
        return [self.loader(d, False, **self.eval_options()) for d in self.val_sets]

    def test_dataloader(self):
        return [self.loader(d, False, **self.eval_options()) for d in self.test_sets]
