"""End-to-end runs through the command line that every energy-model family is tested with."""

from pathlib import Path
from typing import Any, Dict, Union

import yaml

from .structures import copper_with_one_nickel, emt_labelled


def train_on_emt_copper(folder: Union[str, Path], model: Dict[str, Any], epochs: int = 2, frames: int = 24) -> Path:
    """Train ``model`` (a model spec) on ``frames`` EMT-labelled Cu/Ni cells with ``equiformers train``
    (energy + forces, l2mae loss, 16 train / 4 val) in ``folder``; returns the written ``model.pt``."""
    from ase.io import write

    from ..cli.main import main

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "cu.extxyz", emt_labelled(copper_with_one_nickel, frames, stdev=0.08))
    run = {"model": model,
           "data": {"dataset": "frames", "path": str(folder / "cu.extxyz"), "targets": ["energy"],
                    "train_size": 16, "val_size": 4, "batch_size": 4, "eval_batch_size": 8},
           "task": {"type": "energy_forces", "loss": "l2mae"},
           "training": {"max_epochs": epochs, "lr": 1e-3, "warmup_epochs": 0.5, "progress_bar": False},
           "output_dir": str(folder / "out")}
    (folder / "run.yaml").write_text(yaml.safe_dump(run))
    if main(["train", str(folder / "run.yaml")]) != 0:
        raise AssertionError(f"equiformers train failed for {model}")
    return folder / "out" / "model.pt"
