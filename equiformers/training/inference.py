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
    if run.data.dataset == "frames":
        return _evaluate_frames(model, run, dataset, checkpoint, split, output, batch_size)
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
    _write_json(result, output)
    result["_parity"] = {name: (pred[:, i], target[:, i]) for i, name in enumerate(names)}
    return result


def _write_json(result: Dict[str, Any], output: Optional[str]) -> None:
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(json.dumps(result, indent=2))


def _evaluate_frames(model, run, dataset, checkpoint, split, output, batch_size) -> Dict[str, Any]:
    """Energy MAE (meV) and force-component MAE (meV/Å), next to predicting the training-mean
    energy and zero forces."""
    from ..tasks.forces import energy_forces_stress

    device, dtype = next(model.parameters()).device, next(model.parameters()).dtype
    energies, forces = [[], []], [[], []]
    for start in range(0, len(dataset), batch_size):
        batch = collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        out = energy_forces_stress(model, to_device(batch, device, dtype))
        energies[0].append(out["energy"].double().cpu()), energies[1].append(batch["energy"])
        forces[0].append(out["forces"].double().cpu()), forces[1].append(batch["forces"])
    e_pred, e_ref = (torch.cat(x).numpy() * 1000 for x in energies)
    f_pred, f_ref = (torch.cat(x).numpy().reshape(-1) * 1000 for x in forces)
    train_mean = float(build_dataset(run.data, "train", model.cutoff).target_array().mean()) * 1000
    result = {
        "checkpoint": str(checkpoint), "split": split, "num_graphs": int(len(dataset)),
        "units": {"energy": "meV", "forces": "meV/Å"},
        "mae": {"energy": float(np.abs(e_pred - e_ref).mean()), "forces": float(np.abs(f_pred - f_ref).mean())},
        "rmse": {"energy": float(np.sqrt(np.square(e_pred - e_ref).mean())),
                 "forces": float(np.sqrt(np.square(f_pred - f_ref).mean()))},
        "baseline_mae_train_mean": {"energy": float(np.abs(e_ref - train_mean).mean()),
                                    "forces": float(np.abs(f_ref).mean())},
    }
    _write_json(result, output)
    result["_parity"] = {"energy": (e_pred, e_ref), "forces": (f_pred, f_ref)}
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

