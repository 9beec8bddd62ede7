"""Evaluation and prediction with a saved model."""

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch

from ..data.atomic_data import from_ase
from ..data.datasets import PreparedDataset, build_dataset, needs_bonds
from ..data.domain import StructureChecks, TrainingDomain, emit_warnings
from ..errors import ConfigError, DatasetError, InvalidStructureError
from ..tasks.base import build_task
from ..tasks.regression import predict_graphs
from .checkpoint import load_model
from .config import run_config_from_dict


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def evaluate(checkpoint: str, split: str = "test", output: Optional[str] = None, batch_size: int = 64,
             data_overrides: Optional[Dict[str, Any]] = None, progress: bool = False) -> Dict[str, Any]:
    """Metrics of a saved model on a split of the dataset it was trained on, by its task.

    Reports per-output MAE and RMSE (in the output's unit) next to the MAE of always predicting
    the training-set mean (zero for forces). Writes JSON to ``output`` if given.
    """
    model, meta = load_model(checkpoint, map_location=default_device())
    if "run_config" not in meta:
        raise ConfigError(f"{checkpoint} does not record its dataset; evaluate it on a labelled file with "
                          "'equiformers evaluate MODEL --data FILE' (or use 'equiformers predict')")
    raw = dict(meta["run_config"])
    raw["data"] = {**raw["data"], **(data_overrides or {})}
    run = run_config_from_dict(raw)
    if split not in ("train", "val", "test"):
        raise DatasetError(f"unknown split {split!r}; choose train, val or test")
    if run.data.path and not Path(run.data.path).exists():
        raise DatasetError(f"{checkpoint} was trained on {run.data.path}, which is not there from this directory "
                           f"(models trained before paths were stored absolute record them relative to where they "
                           "were trained): run from that directory, or score any file with --data FILE")
    task = build_task(run.task, run.data.targets)
    if run.data.bonds is None:
        run.data.bonds = needs_bonds(model.graph_spec)
    dataset = PreparedDataset(build_dataset(run.data, split), model.prepare)
    result = {"checkpoint": str(checkpoint), "split": split,
              **task.evaluate(model, dataset, build_dataset(run.data, "train"), batch_size, progress)}
    return _finish(result, output)


def evaluate_file(checkpoint: str, path: str, output: Optional[str] = None, batch_size: int = 64,
                  energy_key: str = "energy", forces_key: str = "forces", npz_layout: str = "auto",
                  progress: bool = False) -> Dict[str, Any]:
    """Energy/force metrics of an energy model on every frame of a labelled file (MD17/rMD17/MD22
    ``.npz``, extended XYZ, ASE database, any ASE format; stresses too when the frames have them).

    The baseline is predicting the file's own mean energy (and zero forces/stress).
    """
    from ..data.datasets import read_frames
    from ..data.frames import FramesDataset
    from ..tasks.energy_force import EnergyForceTask

    model, meta = load_model(checkpoint, map_location=default_device())
    if "energy" not in model.outputs:
        raise ConfigError(f"evaluate --data scores energy models on labelled frames; {checkpoint} predicts "
                          f"{sorted(model.outputs)} (evaluate it on its own dataset with --split)")
    frames = FramesDataset(read_frames(str(path), npz_layout, energy_key, forces_key), name=f"{path} frame")
    task = EnergyForceTask(EnergyForceTask.Config(), ["energy"])
    result = {"checkpoint": str(checkpoint), "data": str(path),
              **task.evaluate(model, PreparedDataset(frames, model.prepare), frames, batch_size, progress)}
    return _finish(result, output)


def _finish(result: Dict[str, Any], output: Optional[str]) -> Dict[str, Any]:
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


def predict(checkpoint: str, paths: Sequence[str], batch_size: int = 64, extxyz: Optional[str] = None,
            policy: Optional[Dict[str, Any]] = None, max_edges: Optional[int] = None) -> List[Dict[str, Any]]:
    """Predictions for every frame of every file: ``[{"file", "frame", "formula", <output>: value}]``.

    Energy models also give ``forces`` (eV/Å, a list per atom), ``max_force`` (eV/Å) and, for periodic
    frames, ``stress`` (eV/Å^3, 3x3). ``extxyz``: also write the frames with the predictions
    (energy, forces, stress as a single-point calculator) to this extended-XYZ file.
    ``policy``: keyword arguments of :class:`~equiformers.data.domain.StructureChecks` (elements
    outside the training domain and overlapping atoms are refused by default); ``max_edges``:
    the graph-size limit (:func:`~equiformers.data.graph_size.max_edges_limit`).
    """
    model, meta = load_model(checkpoint, map_location=default_device())
    checks = StructureChecks(TrainingDomain.from_dict(meta.get("domain")), **(policy or {}))
    names = [n for n, info in model.outputs.items() if info.level == "graph"]
    if not names and "energy" not in model.outputs:
        raise ConfigError(f"{checkpoint} has no graph-level outputs (it predicts {sorted(model.outputs)} per "
                          "block or atom), and 'predict' writes one row per structure: score it on its data with "
                          "'equiformers evaluate', or run it in Python (read_protein(FILE).to_record() -> "
                          "model.prepare -> collate -> model)")
    rows, graphs, structures, warned = [], [], [], set()
    for path in paths:
        for i, atoms in enumerate(read_structures(path)):
            try:
                graph = model.prepare(from_ase(atoms), max_edges=max_edges)
                emit_warnings(checks.check(graph), warned)
            except InvalidStructureError as err:
                raise InvalidStructureError(f"{path} frame {i}: {err}") from None
            graphs.append(graph)
            structures.append(atoms)
            rows.append({"file": str(path), "frame": i, "formula": atoms.get_chemical_formula()})
    if "energy" in model.outputs:
        _energy_rows(model, graphs, rows, batch_size)
        for row, graph in zip(rows, graphs):
            emit_warnings(checks.check_prediction(row["energy"], len(graph["pos"]), row["max_force"]), warned)
    else:
        pred, _ = predict_graphs(model, graphs, names, batch_size)
        for row, values in zip(rows, pred):
            row.update({n: float(v) for n, v in zip(names, values)})
    if extxyz:
        _write_predictions(structures, rows, extxyz)
    return rows


def _energy_rows(model, graphs, rows, batch_size: int) -> None:
    from ..tasks.base import batches
    from ..tasks.forces import energy_forces_stress

    device, dtype = next(model.parameters()).device, next(model.parameters()).dtype
    start = 0
    for batch in batches(graphs, batch_size, device=device, dtype=dtype):
        periodic = bool(batch["pbc"].all(dim=1).any())
        out = energy_forces_stress(model, batch, compute_stress=periodic)
        forces = out["forces"].double().cpu().split(batch["num_atoms"].tolist())
        for k, row in enumerate(rows[start:start + len(forces)]):
            row.update({name: float(out[name][k]) for name, info in model.outputs.items()
                        if info.level == "graph"})
            row["max_force"] = float(forces[k].norm(dim=1).max())
            row["forces"] = forces[k].tolist()
            if periodic and bool(graphs[start + k]["pbc"].all()):
                row["stress"] = out["stress"][k].double().cpu().tolist()
        start += len(forces)


def _write_predictions(structures, rows, path: str) -> None:
    import ase.io
    import numpy as np
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = []
    for atoms, row in zip(structures, rows):
        atoms = atoms.copy()
        results = {k: v for k, v in row.items() if k not in ("file", "frame", "formula", "forces", "stress",
                                                             "max_force")}
        calc = {}
        if "energy" in row:
            calc["energy"] = row["energy"]
            calc["forces"] = np.asarray(row["forces"])
            if "stress" in row:
                s = np.asarray(row["stress"])
                calc["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
        atoms.info.update({f"predicted_{k}": v for k, v in results.items() if k != "energy"})
        atoms.calc = SinglePointCalculator(atoms, **calc) if calc else None
        frames.append(atoms)
    ase.io.write(path, frames, format="extxyz")
