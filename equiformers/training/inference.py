"""Evaluation and prediction with a saved model."""

import json
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import torch

from ..data.atomic_data import from_ase
from ..data.datasets import PreparedDataset, build_dataset
from ..errors import ConfigError, DatasetError
from ..tasks.base import build_task
from ..tasks.regression import predict_graphs
from .checkpoint import load_model
from .config import run_config_from_dict


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def evaluate(checkpoint: str, split: str = "test", output: Optional[str] = None, batch_size: int = 64,
             data_overrides: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Metrics of a saved model on a split of the dataset it was trained on, by its task.

    Reports per-output MAE and RMSE (in the output's unit) next to the MAE of always predicting
    the training-set mean (zero for forces). Writes JSON to ``output`` if given.
    """
    model, meta = load_model(checkpoint, map_location=default_device())
    if "run_config" not in meta:
        raise ConfigError(f"{checkpoint} does not record its dataset; evaluate needs a model trained by "
                          "'equiformers train' (use 'equiformers predict' for other files)")
    raw = dict(meta["run_config"])
    raw["data"] = {**raw["data"], **(data_overrides or {})}
    run = run_config_from_dict(raw)
    if split not in ("train", "val", "test"):
        raise DatasetError(f"unknown split {split!r}; choose train, val or test")
    task = build_task(run.task, run.data.targets)
    dataset = PreparedDataset(build_dataset(run.data, split), model.prepare)
    result = {"checkpoint": str(checkpoint), "split": split,
              **task.evaluate(model, dataset, build_dataset(run.data, "train"), batch_size)}
    parity = result.pop("_parity")
    _write_json(result, output)
    result["_parity"] = parity
    return result


def _write_json(result: Dict[str, Any], output: Optional[str]) -> None:
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(json.dumps(result, indent=2))


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
    names = [n for n, info in model.outputs.items() if info.level == "graph"]
    rows, graphs = [], []
    for path in paths:
        for i, atoms in enumerate(read_structures(path)):
            graphs.append(model.prepare(from_ase(atoms)))
            rows.append({"file": str(path), "frame": i, "formula": atoms.get_chemical_formula()})
    pred, _ = predict_graphs(model, graphs, names, batch_size)
    for row, values in zip(rows, pred):
        row.update({n: float(v) for n, v in zip(names, values)})
    return rows

