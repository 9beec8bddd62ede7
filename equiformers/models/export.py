"""Exported inference: a model's forward as a ``torch.export`` program with dynamic atom and edge counts.

:func:`export_model` traces a model once on an example batch (non-strict export) into a graph whose
atom, edge, block and bond counts are symbolic, so one program serves any structure with the same
number of graphs (MD and relaxations: one). The program is saved with :func:`save_exported` and run
with :func:`load_exported` without the library's model code. Forces and stress are not traced: the
exported graph is differentiable, so :func:`~equiformers.tasks.forces.energy_forces_stress` takes
``-dE/dx`` through it exactly as through the eager model (tracing ``autograd.grad`` inside
``torch.export`` is not supported in torch 2.13: the backward would be run, not traced).

Example:
    >>> import torch, equiformers
    >>> from ase.build import molecule
    >>> from equiformers.data import collate, from_ase
    >>> from equiformers.tasks.forces import energy_forces_stress
    >>> model = equiformers.build_model("equiformer-md17-l2", num_layers=1, channels=[8, 4], num_heads=2).eval()
    >>> example = collate([model.prepare(from_ase(molecule("CH3CH2OH")))])
    >>> exported = export_model(model, example)
    >>> water = collate([model.prepare(from_ase(molecule("H2O")))])
    >>> forces = energy_forces_stress(exported, water)["forces"]
    >>> bool(torch.allclose(forces, energy_forces_stress(model, water)["forces"], atol=1e-6))
    True
"""

import json
from pathlib import Path
from typing import Dict, List, Union

import torch
from torch import nn

from ..data import keys as K
from ..errors import CheckpointError, ConfigError

#: symbolic size of each data level (graph-level fields keep the example's graph count)
_LEVEL_DIMS = {"atom": "atoms", "edge": "edges", "block": "blocks", "block_edge": "block_edges", "bond": "bonds"}
_META_FILE = "equiformers.json"


class _Positional(nn.Module):
    """The model with positional tensor inputs and a tuple of outputs (what ``torch.export`` traces)."""

    def __init__(self, model: nn.Module, keys: List[str], outputs: List[str]):
        super().__init__()
        self.model, self.keys, self.outputs = model, keys, outputs

    def forward(self, *tensors: torch.Tensor):
        out = self.model(dict(zip(self.keys, tensors)))
        return tuple(out[name] for name in self.outputs)


class ExportedModel(nn.Module):
    """An exported program used like a model: ``forward(data) -> {output: tensor}``, differentiable
    (``energy_forces_stress`` works on it), for batches with the example's number of graphs."""

    def __init__(self, program: torch.export.ExportedProgram, keys: List[str], outputs: List[str],
                 num_graphs: int, dtype: torch.dtype):
        super().__init__()
        self.program, self.keys, self.outputs = program, list(keys), list(outputs)
        # the program checks its inputs' dtypes: floats are cast to the example's (its model casts anyway)
        self.input_dtypes = [node.meta["val"].dtype for node in program.graph.nodes
                             if node.op == "placeholder" and node.name in program.graph_signature.user_inputs]
        self.num_graphs, self.dtype = num_graphs, dtype
        self.graph_module = program.module()

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        missing = [k for k in self.keys if k not in data]
        if missing:
            raise ConfigError(f"the exported model reads {missing}, which the batch lacks (prepare it with the "
                              "original model's prepare)")
        graphs = data[K.NUM_ATOMS].shape[0]
        if graphs != self.num_graphs:
            raise ConfigError(f"this program was exported for batches of {self.num_graphs} graph(s), got {graphs}; "
                              "export again with an example of that many")
        values = self.graph_module(*(data[k].to(dtype) if data[k].is_floating_point() else data[k]
                                     for k, dtype in zip(self.keys, self.input_dtypes)))
        return dict(zip(self.outputs, values))


def export_model(model: nn.Module, example: Dict[str, torch.Tensor]) -> ExportedModel:
    """``model`` (eval mode) exported on ``example`` (a prepared, collated batch) with dynamic sizes."""
    if model.training:
        raise ConfigError("export a model in eval mode (model.eval()): dropout and drop-path are traced as they are")
    keys = sorted(k for k, v in example.items() if isinstance(v, torch.Tensor))
    outputs = sorted(model.outputs)
    dims = {name: torch.export.Dim(name, min=2) for name in _LEVEL_DIMS.values()}
    shapes = []
    for key in keys:
        field = K.field(key)
        level = _LEVEL_DIMS.get(field.level)
        shapes.append({field.cat_dim: dims[level]} if level else None)
    with torch.no_grad():  # the example run warms every lazily built constant (outside the trace)
        model(example)
    program = torch.export.export(_Positional(model, keys, outputs), tuple(example[k] for k in keys),
                                  dynamic_shapes={"tensors": tuple(shapes)}, strict=False)
    return ExportedModel(program, keys, outputs, int(example[K.NUM_ATOMS].shape[0]), next(model.parameters()).dtype)


def save_exported(exported: ExportedModel, path: Union[str, Path]) -> Path:
    """Write the program and what is needed to call it (``.pt2``)."""
    path = Path(path)
    meta = {"keys": exported.keys, "outputs": exported.outputs, "num_graphs": exported.num_graphs,
            "dtype": str(exported.dtype).replace("torch.", "")}
    torch.export.save(exported.program, str(path), extra_files={_META_FILE: json.dumps(meta)})
    return path


def load_exported(path: Union[str, Path]) -> ExportedModel:
    """An :class:`ExportedModel` from :func:`save_exported`'s file (no model code needed)."""
    extra = {_META_FILE: ""}
    try:
        program = torch.export.load(str(path), extra_files=extra)
        meta = json.loads(extra[_META_FILE])
    except Exception as err:
        raise CheckpointError(f"{path} is not an exported equiformers model: {err}") from None
    return ExportedModel(program, meta["keys"], meta["outputs"], meta["num_graphs"], getattr(torch, meta["dtype"]))
