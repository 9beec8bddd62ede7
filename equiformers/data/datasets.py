"""Datasets by name, built from a data config."""

from ..errors import ConfigError


def build_dataset(data_config, split: str, cutoff: float):
    """The ``split`` (``train``/``val``/``test``) of ``data_config.dataset`` with graphs at ``cutoff`` Å."""
    size = {"train": data_config.train_size, "val": data_config.val_size, "test": data_config.test_size}[split]
    if data_config.dataset == "qm9":
        from .qm9 import QM9Dataset

        return QM9Dataset(data_config.targets, cutoff, split, subset=size, cache=data_config.cache_dir)
    raise ConfigError(f"unknown dataset {data_config.dataset!r}; available: ['qm9']")

