"""The fairchem side of ``make_fixture.py``: runs in fairchem's own environment (environment.py),
never in ours. Builds small random-initialised fairchem-core 1.10 EquiformerV2 models through
fairchem's own trainer, writes each as a checkpoint file with the trainer's own ``save`` (so the
layout is exactly fairchem's), loads each file back through fairchem's ``OCPCalculator`` and records
its predictions on the given structures.

    python fairchem_side.py CASES.json STRUCTURES.pt OUTPUT_DIR

Per case and structure it records, all from the model ``OCPCalculator`` loaded from the file and
what its ``calculate`` does (``AtomsToGraphs``, collate, ``trainer.predict``: normalizers and
element references applied):
  ``random``: fairchem exactly as shipped (a random edge-frame roll on every call), float32, with
      ``torch.manual_seed(s)`` before the call, for several seeds ``s``;
  ``fixed``: the same, with fairchem's ``_init_edge_rot_mat`` replaced by equiformers' fixed frame
      (``fixed_edge_frames`` below, the formula of ``equiformers.so3.frames``): the roll is then the
      same on both sides and only the implementations differ;
  ``fd_float64``: for energy-only models (fairchem 1.10 has no gradient-force mode for EquiformerV2),
      the forces -dE/dx and, for cells, the stress (1/V) dE/d(strain) as five-point finite
      differences of fairchem's float64 energy with the fixed frame (fairchem's autograd gradient would be wrong: it
      detaches its rotation matrices). Its periodic edge vectors are kept in float64 for this
      (``pbc_distances_any_dtype``: fairchem rounds the image offsets to float32).
Graphs of molecules come from ``dense_radius_graph`` (torch_cluster/pyg-lib are compiled packages).
"""

import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

import fairchem.core.models.base as fairchem_base

FD_STEP = 1e-5  # Å, and strain (five-point stencil: the random models are far from linear at 1e-4)


# --- graph building without the compiled torch_cluster/pyg-lib -----------------------------------
def dense_radius_graph(x, r, batch=None, loop=False, max_num_neighbors=32, flow="source_to_target", **kwargs):
    """torch_cluster's ``radius_graph`` (rows: source, target) for small molecules: all pairs closer
    than ``r`` within a graph. Refuses graphs where the neighbour cap would bind (torch_cluster then
    keeps an arbitrary subset): fixtures must not depend on that choice."""
    if batch is None:
        batch = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
    close = (torch.cdist(x, x) < r) & (batch[:, None] == batch[None, :])
    if not loop:
        close.fill_diagonal_(False)
    if int(close.sum(dim=1).max()) > max_num_neighbors:
        raise RuntimeError("the neighbour cap binds: choose max_neighbors above the largest degree")
    target, source = close.nonzero(as_tuple=True)
    return torch.stack([source, target])


fairchem_base.radius_graph = dense_radius_graph
ORIGINAL_PBC = {"radius_graph_pbc": fairchem_base.radius_graph_pbc,
                "get_pbc_distances": fairchem_base.get_pbc_distances}


def radius_graph_pbc_any_dtype(data, *args, **kwargs):
    """fairchem's periodic neighbour search, which builds its image offsets in float32: given a
    float32 copy of a float64 cell (it only selects the edges)."""
    cell = data.cell
    data.cell = cell.float()
    try:
        return ORIGINAL_PBC["radius_graph_pbc"](data, *args, **kwargs)
    finally:
        data.cell = cell


def pbc_distances_any_dtype(pos, edge_index, cell, cell_offsets, neighbors, return_offsets=False,
                            return_distance_vec=False):
    """fairchem's ``get_pbc_distances`` (edge vectors pos[row] - pos[col] + offsets @ cell, zero-length
    edges removed), keeping a float64 cell in float64 (fairchem rounds the offsets to float32)."""
    if cell.dtype != torch.float64:
        return ORIGINAL_PBC["get_pbc_distances"](pos, edge_index, cell, cell_offsets, neighbors,
                                                 return_offsets, return_distance_vec)
    cells = torch.repeat_interleave(cell, neighbors.to(cell.device), dim=0)
    offsets = torch.einsum("ei,eij->ej", cell_offsets.to(cell.dtype), cells)
    vectors = pos[edge_index[0]] - pos[edge_index[1]] + offsets
    distances = vectors.norm(dim=-1)
    keep = distances != 0
    out = {"edge_index": edge_index[:, keep], "distances": distances[keep]}
    if return_distance_vec:
        out["distance_vec"] = vectors[keep]
    if return_offsets:
        out["offsets"] = offsets[keep]
    return out


fairchem_base.radius_graph_pbc = radius_graph_pbc_any_dtype
fairchem_base.get_pbc_distances = pbc_distances_any_dtype

from fairchem.core.common.relaxation.ase_utils import OCPCalculator  # noqa: E402
from fairchem.core.common.registry import registry  # noqa: E402
from fairchem.core.common.utils import setup_imports  # noqa: E402
from fairchem.core.datasets import data_list_collater  # noqa: E402
from fairchem.core.models.equiformer_v2.equiformer_v2 import EquiformerV2Backbone  # noqa: E402
from fairchem.core.models.equiformer_v2.equiformer_v2_deprecated import EquiformerV2  # noqa: E402
from fairchem.core.modules.normalization.element_references import create_element_references  # noqa: E402
from fairchem.core.modules.normalization.normalizer import create_normalizer  # noqa: E402


# --- equiformers' fixed edge frame (equiformers/so3/frames.py, roll "fixed") --------------------
def fixed_edge_frames(vectors):
    unit = vectors / vectors.norm(dim=-1, keepdim=True)
    cos = unit[:, 1]
    sign = torch.where(cos >= 0, torch.ones_like(cos), -torch.ones_like(cos))
    x, z = unit[:, 0], unit[:, 2]
    zero = torch.zeros_like(cos)
    k = torch.stack([zero, -x, zero, x, zero, z, zero, -z, zero], dim=-1).view(-1, 3, 3)  # skew(u × y)
    eye = torch.eye(3, dtype=vectors.dtype, device=vectors.device)
    minimal = eye + sign[:, None, None] * k + (k @ k) / (1 + sign * cos)[:, None, None]
    flip = torch.stack([sign, sign, torch.ones_like(sign)], dim=-1)
    return flip.unsqueeze(-1) * minimal


ORIGINAL_FRAMES = {cls: cls._init_edge_rot_mat for cls in (EquiformerV2Backbone, EquiformerV2)}


def use_frames(kind: str) -> None:
    for cls, original in ORIGINAL_FRAMES.items():
        cls._init_edge_rot_mat = original if kind == "random" else (
            lambda self, data, edge_index, edge_distance_vec: fixed_edge_frames(edge_distance_vec))


# --- checkpoints written by fairchem's trainer ----------------------------------------------------
def perturb(model: torch.nn.Module, seed: int) -> None:
    """Every parameter moved away from its initialisation (zero-initialised biases and the
    ``energy_lin_ref`` too), so that no mapping error can hide behind a zero."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            scale = p.abs().mean().clamp(min=0.05) if p.numel() else 0.05
            p.add_(0.3 * scale * torch.randn(p.shape, generator=generator))


def write_checkpoint(case: dict, folder: Path) -> Path:
    trainer_cls = registry.get_trainer_class(case["trainer"])
    trainer = trainer_cls(task={}, model=case["model"], outputs=case["outputs"],
                          dataset=[{"format": "ase_db", "src": "train.aselmdb"}], optimizer=case["optim"],
                          loss_functions=case["loss_functions"], evaluation_metrics=case["evaluation_metrics"],
                          identifier=case["name"], local_rank=0, run_dir=str(folder), timestamp_id=case["name"],
                          is_debug=True, seed=0, cpu=True,
                          inference_only=True)
    trainer.config["trainer"] = case["trainer"]
    perturb(trainer.model, case["seed"])
    for key, (mean, rmsd) in case.get("normalizers", {}).items():
        trainer.normalizers[key] = create_normalizer(mean=float(mean), rmsd=float(rmsd))
    if "elementrefs" in case:
        refs = torch.zeros(119)
        refs[1:] = torch.randn(118, generator=torch.Generator().manual_seed(case["seed"] + 1)) * 3.0
        trainer.elementrefs["energy"] = create_element_references(state_dict={"element_references": refs})
    trainer.is_debug = False  # the trainer saves only outside debug mode
    Path(trainer.config["cmd"]["checkpoint_dir"]).mkdir(parents=True, exist_ok=True)
    return Path(trainer.save(checkpoint_file=f"{case['name']}.pt", training_state=False))


# --- predictions through OCPCalculator -----------------------------------------------------------
def to_atoms(structure: dict):
    from ase import Atoms

    return Atoms(numbers=structure["numbers"].numpy(), positions=structure["positions"].numpy(),
                 cell=structure["cell"].numpy(), pbc=structure["pbc"].numpy())


def predict(calc: OCPCalculator, atoms, seed: int, float64: bool = False) -> dict:
    """fairchem's prediction for ``atoms``: what ``OCPCalculator.calculate`` does (``AtomsToGraphs``,
    collate, ``trainer.predict``), after ``torch.manual_seed(seed)``. ``float64``: positions and cell
    in float64 too (``AtomsToGraphs`` rounds them to float32)."""
    batch = data_list_collater([calc.a2g.convert(atoms)], otf_graph=True)
    if float64:
        batch.pos = torch.tensor(atoms.positions, dtype=torch.float64)
        batch.cell = torch.tensor(np.asarray(atoms.cell.array), dtype=torch.float64).unsqueeze(0)
    torch.manual_seed(seed)
    out = calc.trainer.predict(batch, per_image=False, disable_tqdm=True)
    return {k: v.detach().double().reshape(OCPCalculator._reshaped_props.get(k, v.shape)).squeeze(0)
            if k == "energy" else v.detach().double().squeeze() for k, v in out.items()}


def finite_differences(calc: OCPCalculator, atoms) -> dict:
    """Forces -dE/dx and (cells) stress (1/V) dE/d(strain) of fairchem's float64 energy: five-point
    central differences with step ``FD_STEP`` (error O(h^4)), fixed frames (the energy is then a
    function of the positions)."""
    def energy(a):
        return float(predict(calc, a, 0, float64=True)["energy"])

    def derivative(move):
        values = [energy(move(k * FD_STEP)) for k in (2, 1, -1, -2)]
        return (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * FD_STEP)

    def displaced(i, d):
        def move(step):
            moved = atoms.copy()
            moved.positions[i, d] += step
            return moved
        return move

    forces = np.array([[-derivative(displaced(i, d)) for d in range(3)] for i in range(len(atoms))])
    out = {"forces": torch.tensor(forces)}
    if atoms.pbc.all():
        stress = np.zeros((3, 3))
        for a in range(3):
            for b in range(a, 3):
                def strained(step, a=a, b=b):
                    strain = np.eye(3)
                    strain[a, b] += step / 2
                    strain[b, a] += step / 2  # symmetric: the diagonal gets the whole step
                    moved = atoms.copy()
                    moved.set_cell(atoms.cell.array @ strain, scale_atoms=True)
                    return moved
                stress[a, b] = stress[b, a] = derivative(strained) / atoms.get_volume()
        out["stress"] = torch.tensor(stress)
    return out


def spread(values) -> float:
    """Largest difference between the random-roll calls (0 if not predicted)."""
    return float((values.amax(0) - values.amin(0)).abs().max()) if values is not None else 0.0


def main():
    cases_path, structures_path, output = map(Path, sys.argv[1:4])
    logging.disable(logging.WARNING)
    setup_imports()
    cases = json.loads(cases_path.read_text())
    structures = torch.load(structures_path, weights_only=True)
    output.mkdir(parents=True, exist_ok=True)
    record = {"fairchem_version": __import__("fairchem.core").core.__version__, "torch_version": str(torch.__version__),
              "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            torch.set_default_dtype(torch.float32)
            use_frames("random")
            path = write_checkpoint(case, Path(tmp))
            target = output / path.name
            target.write_bytes(path.read_bytes())
            calc = OCPCalculator(checkpoint_path=str(target), cpu=True, seed=0)
            results = {}
            for name in case["structures"]:
                atoms = to_atoms(structures[name])
                use_frames("random")
                random = [predict(calc, atoms, seed) for seed in case["seeds"]]
                use_frames("fixed")
                entry = {"random": {k: torch.stack([r[k] for r in random]) for k in random[0]},
                         "fixed": predict(calc, atoms, 0)}
                if case.get("finite_differences"):
                    torch.set_default_dtype(torch.float64)
                    calc.trainer.model.double()
                    entry["fd_float64"] = finite_differences(calc, atoms)
                    entry["fixed_float64"] = predict(calc, atoms, 0, float64=True)
                    calc.trainer.model.float()
                    torch.set_default_dtype(torch.float32)
                results[name] = entry
                print(f"{case['name']} on {name}: energy {float(entry['fixed']['energy']):.6f} (fixed frame), "
                      f"random-roll spread: energy {float(np.ptp(entry['random']['energy'].numpy())):.2e}, forces "
                      f"{spread(entry['random'].get('forces')):.2e}", flush=True)
            record["cases"][case["name"]] = {"file": target.name, "results": results}
    torch.save(record, output / "fairchem_outputs.pt")


if __name__ == "__main__":
    main()
