"""Lightning data module: the three splits, prepared for the model, and their loaders."""

from typing import Callable, Optional

import lightning as L
from torch.utils.data import DataLoader

from ..data.batching import collate
from ..data.datasets import PreparedDataset, build_dataset
from ..data.transforms import random_rotation
from .config import DataConfig


class AtomicDataModule(L.LightningDataModule):
    """Builds the splits of ``config.dataset`` (structures without edges, cached per split) and
    serves them through ``prepare`` (the model's: type indices and the graph it declares)."""

    def __init__(self, config: DataConfig, prepare: Optional[Callable] = None):
        super().__init__()
        self.config, self.prepare = config, prepare
        self._datasets = {}

    def raw_dataset(self, split: str):
        """The split as the dataset reads it (targets, no edges); statistics read this."""
        if split not in self._datasets:
            self._datasets[split] = build_dataset(self.config, split)
        return self._datasets[split]

    def dataset(self, split: str) -> PreparedDataset:
        if self.prepare is None:
            raise RuntimeError("AtomicDataModule.prepare must be set (the model's prepare) before loading batches")
        augment = random_rotation if split == "train" and self.config.augment_rotation else None
        return PreparedDataset(self.raw_dataset(split), self.prepare, augment)

    def _loader(self, split: str, shuffle: bool, batch_size: int) -> DataLoader:
        return DataLoader(self.dataset(split), batch_size=batch_size, shuffle=shuffle, collate_fn=collate,
                          num_workers=self.config.num_workers, persistent_workers=self.config.num_workers > 0)

    def train_dataloader(self):
        return self._loader("train", True, self.config.batch_size)

    def val_dataloader(self):
        return self._loader("val", False, self.config.eval_batch_size)

    def test_dataloader(self):
        return self._loader("test", False, self.config.eval_batch_size)
