"""Evaluation and prediction with a saved model."""

import json
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np
import torch

from ..data.atomic_data import from_ase
from ..data.batching import collate, to_device
from ..data.datasets import build_dataset
from ..data.statistics import target_statistics
from ..errors import ConfigError, DatasetError
from ..tasks.metrics import mae_per_target, rmse_per_target
from .checkpoint import load_model
from .config import run_config_from_dict


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@torch.no_grad()
def predict_graphs(model, graphs: Iterable[Dict[str, torch.Tensor]], names: Sequence[str], batch_size: int = 64,
                   device: Optional[torch.device] = None):
    """Predictions and (if present) targets of ``graphs``: two [M, T] float64 arrays (targets may be None)."""
    device = device or next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    preds, targets, batch = [], [], []

    def flush():
        data = to_device(collate(batch), device, dtype)
        out = model(data)
        preds.append(torch.stack([out[n] for n in names], 1).double().cpu())
        if all(n in data for n in names):
            targets.append(torch.stack([data[n] for n in names], 1).double().cpu())
        batch.clear()

    for graph in graphs:
        batch.append(graph)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    pred = torch.cat(preds).numpy() if preds else np.zeros((0, len(names)))
    target = torch.cat(targets).numpy() if targets and len(targets) == len(preds) else None
    return pred, target


def evaluate(checkpoint: str, split: str = "test", output: Optional[str] = None, batch_size: int = 64,
             data_overrides: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Metrics of a saved model on a split of the dataset it was trained on.

    Reports per-target MAE and RMSE (in the target's unit) next to the MAE of
    always predicting the training-set mean. Writes JSON to ``output`` if given.
    """
    model, meta = load_model(checkpoint, map_location=default_device())
    if "run_config" not in meta:
        raise ConfigError(f"{checkpoint} does not record its dataset; evaluate needs a model trained by "
                          "'equiformers train' (use 'equiformers predict' for other files)")
    raw = dict(meta["run_config"])
    raw["data"] = {**raw["data"], **(data_overrides or {})}
    run = run_config_from_dict(raw)
    names, units = meta["targets"], meta.get("units", {})
    if split not in ("train", "val", "test"):
        raise DatasetError(f"unknown split {split!r}; choose train, val or test")
    dataset = build_dataset(run.data, split, model.cutoff)
    pred, target = predict_graphs(model, (dataset[i] for i in range(len(dataset))), names, batch_size)
    train_targets = build_dataset(run.data, "train", model.cutoff).target_array().double()
    baseline = target_statistics(train_targets)["mean"].numpy()
    tgt = torch.from_numpy(target)
    result = {
        "checkpoint": str(checkpoint), "split": split, "num_graphs": int(len(dataset)), "units": units,
        "mae": mae_per_target(torch.from_numpy(pred), tgt, names),
        "rmse": rmse_per_target(torch.from_numpy(pred), tgt, names),
        "baseline_mae_train_mean": mae_per_target(torch.from_numpy(np.broadcast_to(baseline, pred.shape).copy()),
                                                  tgt, names),
    }
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(json.dumps(result, indent=2))
    result["_predictions"], result["_targets"] = pred, target
    return result


def read_structures(path: str) -> List[Any]:
    """All frames of a structure file in any format ASE reads."""
    import ase.io

    file = Path(path)
    if not file.is_file():
        raise DatasetError(f"structure file not found: {file}")
    try:
        frames = ase.io.read(str(file), index=":")
    except Exception as err:
        raise DatasetError(f"ASE cannot read {file}: {type(err).__name__}: {err}") from None
    return frames if isinstance(frames, list) else [frames]


def predict(checkpoint: str, paths: Sequence[str], batch_size: int = 64) -> List[Dict[str, Any]]:
    """Predictions for every frame of every file: ``[{"file", "frame", "formula", <target>: value}]``."""
    model, meta = load_model(checkpoint, map_location=default_device())
    names = meta.get("targets", model.config.outputs)
    rows, graphs = [], []
    for path in paths:
        for i, atoms in enumerate(read_structures(path)):
            graphs.append(from_ase(atoms, model.cutoff))
            rows.append({"file": str(path), "frame": i, "formula": atoms.get_chemical_formula()})
    pred, _ = predict_graphs(model, graphs, names, batch_size)
    for row, values in zip(rows, pred):
        row.update({n: float(v) for n, v in zip(names, values)})
    return rows

