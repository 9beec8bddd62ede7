"""Lightning data module: train/val/test datasets and their loaders."""

import lightning as L
from torch.utils.data import DataLoader

from ..data.batching import collate
from ..data.datasets import build_dataset
from .config import DataConfig


class AtomicDataModule(L.LightningDataModule):
    """Builds the three splits of ``config.dataset`` with neighbour lists at ``cutoff`` Å."""

    def __init__(self, config: DataConfig, cutoff: float):
        super().__init__()
        self.config, self.cutoff = config, cutoff
        self._datasets = {}

    def dataset(self, split: str):
        if split not in self._datasets:
            self._datasets[split] = build_dataset(self.config, split, self.cutoff)
        return self._datasets[split]

    def _loader(self, split: str, shuffle: bool, batch_size: int) -> DataLoader:
        return DataLoader(self.dataset(split), batch_size=batch_size, shuffle=shuffle, collate_fn=collate,
                          num_workers=self.config.num_workers, persistent_workers=self.config.num_workers > 0)

    def train_dataloader(self):
        return self._loader("train", True, self.config.batch_size)

    def val_dataloader(self):
        return self._loader("val", False, self.config.eval_batch_size)

    def test_dataloader(self):
        return self._loader("test", False, self.config.eval_batch_size)
