"""Datasets by name, built from a data config; and the view that prepares records for a model."""

import os
from functools import lru_cache
from typing import Callable, Dict, Optional

import torch

from ..errors import ConfigError, DatasetError


def read_frames(path: str, layout: str = "auto", energy_key: str = "energy", forces_key: str = "forces"):
    """Frames of a labelled file: ``.npz`` (MD17/rMD17/MD22 layouts) or anything ASE reads (cached
    while the file's size and modification time stay the same)."""
    try:
        stamp = os.stat(path)
        version = (stamp.st_mtime_ns, stamp.st_size)
    except OSError:
        version = None  # missing: the reader names the problem
    return _read_frames(path, version, layout, energy_key, forces_key)


@lru_cache(maxsize=4)
def _read_frames(path: str, version, layout: str, energy_key: str, forces_key: str):
    from .frames import read_ase_frames, read_npz_frames

    if path.endswith(".npz"):
        return read_npz_frames(path, layout)
    return read_ase_frames(path, energy_key, forces_key)


def needs_bonds(graph_spec) -> bool:
    """Whether a model with this :class:`~.graph.GraphSpec` reads chemical bonds."""
    return getattr(graph_spec, "kind", None) == "bonded" or getattr(graph_spec, "edge_types", None) == "bonds"


def build_dataset(data_config, split: str):
    """The ``split`` (``train``/``val``/``test``) of ``data_config.dataset``: records without edges
    (a model's ``prepare`` adds the graph it declares)."""
    size = {"train": data_config.train_size, "val": data_config.val_size, "test": data_config.test_size}[split]
    if data_config.dataset == "qm9":
        from .qm9 import QM9Dataset

        return QM9Dataset(data_config.targets, None, split, subset=size, cache=data_config.cache_dir,
                          split_scheme=data_config.split_scheme, bonds=bool(data_config.bonds))
    if data_config.dataset == "frames":
        from .frames import FramesDataset, frame_split

        if not data_config.path:
            raise ConfigError("data.path is required for dataset 'frames' (an .npz, .extxyz, .db, ... file)")
        frames = read_frames(str(data_config.path), data_config.npz_layout, data_config.energy_key,
                         data_config.forces_key)
        splits = frame_split(len(frames), data_config.train_size or 950, data_config.val_size or 50,
                             data_config.split_seed)
        indices = splits[split][:size] if split == "test" and size else splits[split]
        if len(indices) == 0:
            raise DatasetError(f"the {split} split of {data_config.path} is empty")
        return FramesDataset(frames, None, indices, name=f"{data_config.path} frame")
    if data_config.dataset == "blocks":
        from .blocks.dataset import BlocksDataset

        if not data_config.path:
            raise ConfigError("data.path is required for dataset 'blocks' (a corpus .pt file, or a structure file "
                              "or folder)")
        return BlocksDataset(str(data_config.path), split, data_config.train_size, data_config.val_size,
                             data_config.test_size, data_config.split_seed)
    if data_config.dataset == "protein_bfactors":
        from .blocks.bfactor_dataset import ProteinBFactorDataset

        if not data_config.path:
            raise ConfigError("data.path is required for dataset 'protein_bfactors' (a B-factor corpus .pt from "
                              "'equiformers data bfactors', or a PDB/mmCIF file or folder)")
        return ProteinBFactorDataset(str(data_config.path), data_config.targets, split, data_config.train_size,
                                     data_config.val_size, data_config.test_size, data_config.split_seed)
    raise ConfigError(f"unknown dataset {data_config.dataset!r}; available: ['qm9', 'frames', 'blocks', "
                      "'protein_bfactors']")


class PreparedDataset(torch.utils.data.Dataset):
    """``dataset[i]`` passed through ``prepare`` (e.g. ``model.prepare``: types and edges), then
    through ``augment`` if given (e.g. :func:`~.transforms.random_rotation`, drawn at every read)."""

    def __init__(self, dataset, prepare: Callable[[Dict[str, torch.Tensor]], Dict[str, torch.Tensor]],
                 augment: Optional[Callable[[Dict[str, torch.Tensor]], Dict[str, torch.Tensor]]] = None):
        self.dataset, self.prepare, self.augment = dataset, prepare, augment

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: int) -> Dict[str, torch.Tensor]:
        record = self.prepare(self.dataset[item])
        return record if self.augment is None else self.augment(record)
