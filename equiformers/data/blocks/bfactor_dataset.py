"""The ``protein_bfactors`` dataset: windows of real crystal structures with per-residue B-factor labels.

    data: {dataset: protein_bfactors, path: bfactors.pt, targets: [bfactor], val_size: 2, test_size: 2}

``path`` is a B-factor corpus (``equiformers data bfactors``; :mod:`.bfactor_corpus`), or a PDB/mmCIF
file or folder read on the fly with its defaults (windows of 1,024 atoms). Records are those of the
block corpus plus ``bfactor`` [Nb] (z-score per chain, NaN for unlabelled blocks, which the regression
task leaves out).

Splits are by **protein group** (sequence identity, see :mod:`.bfactor_corpus`), never by window, so
no protein (nor its mutants or other conformations) is in two splits: a random permutation of the
groups (``split_seed``); the first ``val_size`` groups (default: 15 % of them, at least one) validate,
the next ``test_size`` test, the rest train; ``train_size`` keeps the first N training windows.
"""

from functools import lru_cache
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
import torch

from ...errors import DatasetError
from .. import keys as K
from .bfactor_corpus import build_bfactor_corpus, check_labelled
from .corpus import BlockCorpus, load_corpus

DEFAULT_HELD_OUT = 0.15


@lru_cache(maxsize=2)
def _cached(path: str, version) -> BlockCorpus:
    source = Path(path)
    corpus = load_corpus(source) if source.is_file() and source.suffix == ".pt" else build_bfactor_corpus([source])
    check_labelled(corpus, where=str(path))
    return BlockCorpus(corpus)


def open_bfactor_corpus(path: str) -> BlockCorpus:
    """The labelled corpus at ``path`` (cached while the file's modification time and size stay the same)."""
    try:
        stamp = Path(path).stat()
    except OSError:
        raise DatasetError(f"B-factor data not found: {path} (build it with 'equiformers data bfactors')") from None
    return _cached(str(path), (stamp.st_mtime_ns, stamp.st_size))


def group_split(groups: np.ndarray, val_size: Optional[int], test_size: Optional[int], seed: int
                ) -> Dict[str, np.ndarray]:
    """``{"train", "val", "test"}`` window indices of a split of whole groups (see the module).

    Example:
        >>> parts = group_split(np.array([0, 0, 1, 2, 2, 3]), 1, 1, seed=0)
        >>> sorted(np.concatenate(list(parts.values())).tolist())
        [0, 1, 2, 3, 4, 5]
    """
    names = np.unique(groups)
    held_out = max(1, int(round(DEFAULT_HELD_OUT * len(names))))
    n_val = held_out if val_size is None else int(val_size)
    n_test = held_out if test_size is None else int(test_size)
    if n_val + n_test >= len(names):
        raise DatasetError(f"the data has {len(names)} protein groups: too few for {n_val} validation and {n_test} "
                           "test groups and a training set (set data.val_size / data.test_size, counted in groups, "
                           "or add structures)")
    order = names[np.random.default_rng(seed).permutation(len(names))]
    chosen = {"val": order[:n_val], "test": order[n_val:n_val + n_test], "train": order[n_val + n_test:]}
    return {split: np.nonzero(np.isin(groups, members))[0] for split, members in chosen.items()}


class ProteinBFactorDataset(torch.utils.data.Dataset):
    """One split of a B-factor corpus: ``dataset[i]`` is a window's record (no edges) with its targets.

    Args:
        path: a B-factor corpus ``.pt``, or a PDB/mmCIF file or folder. targets: block targets to serve
            (``["bfactor"]``). split: train | val | test | all. train_size, val_size, test_size,
            split_seed: the split (val/test sizes in protein groups).
    """

    def __init__(self, path: str, targets: Sequence[str] = (K.BFACTOR,), split: str = "train",
                 train_size: Optional[int] = None, val_size: Optional[int] = None, test_size: Optional[int] = None,
                 split_seed: int = 0):
        self.corpus = open_bfactor_corpus(path)
        check_labelled(self.corpus.corpus, targets, where=str(path))
        self.targets = list(targets)
        if split == "all":
            indices = np.arange(len(self.corpus))
        else:
            splits = group_split(self.corpus.corpus["groups"].numpy(), val_size, test_size, split_seed)
            if split not in splits:
                raise DatasetError(f"unknown split {split!r}; choose train, val, test or all")
            indices = splits[split][:train_size] if split == "train" and train_size is not None else splits[split]
        self.indices, self.split, self.path = indices, split, str(path)

    def __len__(self) -> int:
        return len(self.indices)

    def _labels(self, i: int, name: str) -> torch.Tensor:
        b0, b1 = self.corpus.block_ptr[i:i + 2]
        return self.corpus.corpus["block_targets"][name][b0:b1]

    def __getitem__(self, item: int):
        i = int(self.indices[item])
        record = self.corpus.record(i)
        for name in self.targets:
            record[name] = self._labels(i, name).clone()
        return record

    def target_array(self) -> torch.Tensor:
        """[blocks of the split, targets] float64, NaN where a block has no label."""
        return torch.stack([torch.cat([self._labels(int(i), name) for i in self.indices]) for name in self.targets],
                           dim=1)

    def num_atoms_array(self) -> torch.Tensor:
        ptr = torch.tensor(self.corpus.atom_ptr)
        idx = torch.from_numpy(self.indices)
        return ptr[idx + 1] - ptr[idx]
