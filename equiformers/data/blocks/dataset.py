"""The ``blocks`` dataset: the structures of a block corpus as records, split at random.

    data: {dataset: blocks, path: corpus.pt, val_size: 50, test_size: 50, split_seed: 0}

``path`` is a corpus file (``equiformers data corpus``; :mod:`.corpus`), or a structure file or
folder read on the fly with the corpus defaults (no cropping). Splits: a random permutation
(``split_seed``); ``val_size`` and ``test_size`` structures (default 5 % each, at least one) for
validation and test, the rest for training (``train_size`` keeps its first N). Records carry
positions (Å), atomic numbers and block keys, no labels: the corpus is for denoising pretraining.
"""

from functools import lru_cache
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch

from ...errors import DatasetError
from .corpus import BlockCorpus, build_corpus, load_corpus

DEFAULT_HELD_OUT = 0.05


@lru_cache(maxsize=2)
def _cached_corpus(path: str, version) -> BlockCorpus:
    source = Path(path)
    corpus = load_corpus(source) if source.is_file() and source.suffix == ".pt" else build_corpus([source])
    return BlockCorpus(corpus)


def open_corpus(path: str) -> BlockCorpus:
    """The corpus at ``path`` (cached while the file's modification time and size stay the same)."""
    try:
        stamp = Path(path).stat()
        version = (stamp.st_mtime_ns, stamp.st_size)
    except OSError:
        raise DatasetError(f"corpus not found: {path}") from None
    return _cached_corpus(str(path), version)


def corpus_split(n: int, val_size: Optional[int], test_size: Optional[int], seed: int) -> Dict[str, np.ndarray]:
    """``{"train", "val", "test"}`` indices of a random split of ``n`` structures (see the module)."""
    held_out = max(1, int(round(DEFAULT_HELD_OUT * n)))
    n_val = held_out if val_size is None else int(val_size)
    n_test = held_out if test_size is None else int(test_size)
    if n_val + n_test >= n:
        raise DatasetError(f"the corpus has {n} structures: too few for {n_val} validation and {n_test} test "
                           "structures and a training set (set data.val_size / data.test_size)")
    perm = np.random.default_rng(seed).permutation(n)
    return {"val": perm[:n_val], "test": perm[n_val:n_val + n_test], "train": perm[n_val + n_test:]}


class BlocksDataset(torch.utils.data.Dataset):
    """One split of a block corpus: ``dataset[i]`` is a record without edges (a model's ``prepare``
    builds them).

    Args:
        path: a ``.pt`` corpus, or a structure file or folder. split: train | val | test | all.
        train_size: keep the first N training structures. val_size, test_size, split_seed: the split.
    """

    def __init__(self, path: str, split: str = "train", train_size: Optional[int] = None,
                 val_size: Optional[int] = None, test_size: Optional[int] = None, split_seed: int = 0):
        self.corpus = open_corpus(path)
        if split == "all":
            indices = np.arange(len(self.corpus))
        else:
            splits = corpus_split(len(self.corpus), val_size, test_size, split_seed)
            if split not in splits:
                raise DatasetError(f"unknown split {split!r}; choose train, val, test or all")
            indices = splits[split]
            if split == "train" and train_size is not None:
                indices = indices[:train_size]
        self.indices, self.split, self.path = indices, split, str(path)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int):
        return self.corpus.record(int(self.indices[item]))

    def target_array(self) -> torch.Tensor:
        raise DatasetError(f"the block corpus {self.path} has no labels; it serves denoising pretraining "
                           "(task: {type: denoising}); fine-tune on a labelled dataset")

    def num_atoms_array(self) -> torch.Tensor:
        ptr = torch.tensor(self.corpus.atom_ptr)
        idx = torch.from_numpy(self.indices)
        return ptr[idx + 1] - ptr[idx]
