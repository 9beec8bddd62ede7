"""Reading what version 0.1 wrote: specs with ``outputs``/``readout``/``direct_forces`` in the
config, and state dicts of the one-module layout (``atom_embedding``, ``blocks``, ``head``,
``force_head``). Both map exactly onto today's backbone + named heads + output scaling."""

import copy
from typing import Any, Dict

import torch

from ...errors import ConfigError

_LEGACY_KEYS = ("outputs", "readout", "direct_forces")
_BACKBONE_PREFIXES = ("atom_embedding.", "radial_basis.", "envelope.", "edge_degree_embedding.", "blocks.",
                      "norm.", "out_dropout.")


def legacy_heads(outputs, readout: str = "sum", direct_forces: bool = False) -> Dict[str, Dict[str, Any]]:
    """The heads equivalent to a 0.1 config: one graph-scalar head for ``outputs`` (named after
    its single output, or ``graph`` for several), plus ``forces`` when ``direct_forces``."""
    outputs = list(outputs)
    graph = {"type": "graph_scalar"}
    if len(outputs) > 1:
        graph["outputs"] = outputs
    if readout != "sum":
        graph["pool"] = readout
    heads = {outputs[0] if len(outputs) == 1 else "graph": graph}
    if direct_forces:
        heads["forces"] = {"type": "atom_vector"}
    return heads


def migrate_spec(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Move 0.1's ``outputs``/``readout``/``direct_forces`` config fields into ``heads``.

    Without heads, the heads are built from those fields; with heads (e.g. a preset's, overridden
    by a 0.1 run config), the fields edit them: ``outputs`` renames the graph-scalar head's outputs,
    ``readout`` sets its pooling, ``direct_forces`` adds or removes the ``forces`` head.
    """
    config = spec.get("config") or {}
    if not any(key in config for key in _LEGACY_KEYS):
        return spec
    spec = copy.deepcopy(spec)
    values = {key: spec["config"].pop(key) for key in _LEGACY_KEYS if key in spec["config"]}
    outputs = values.get("outputs")
    if outputs is not None and (not isinstance(outputs, list) or not outputs):
        raise ConfigError(f"model config: outputs must be a non-empty list of names, got {outputs!r}")
    heads = spec.get("heads")
    if not heads:
        spec["heads"] = legacy_heads(outputs or ["y"], values.get("readout", "sum"),
                                     bool(values.get("direct_forces", False)))
        return spec
    graph = [name for name, h in heads.items() if h.get("type") == "graph_scalar"]
    if len(graph) != 1:
        raise ConfigError(f"model config: {sorted(values)} apply to one graph_scalar head, but heads are "
                          f"{sorted(heads)}; declare the outputs in heads only")
    if outputs is not None or "readout" in values:
        old = heads.pop(graph[0])
        pool = values.get("readout", old.get("pool", "sum"))
        rebuilt = legacy_heads(outputs or old.get("outputs", [graph[0]]), pool)
        spec["heads"] = {**rebuilt, **heads}
    if "direct_forces" in values:
        spec["heads"].pop("forces", None)
        if values["direct_forces"]:
            spec["heads"]["forces"] = {"type": "atom_vector"}
    return spec


def migrate_state_dict(state: Dict[str, torch.Tensor], heads: Dict[str, Dict[str, Any]]) -> Dict[str, torch.Tensor]:
    """A 0.1 state dict in today's layout, for the ``heads`` that :func:`migrate_spec` made."""
    graph_head = next(name for name, h in heads.items() if h["type"] == "graph_scalar")
    outputs = heads[graph_head].get("outputs", [graph_head])
    out = {}
    for key, value in state.items():
        if key.startswith(_BACKBONE_PREFIXES):
            out["backbone." + key] = value
        elif key.startswith("head.mlp."):
            out[f"heads.{graph_head}." + key[len("head."):]] = value
        elif key.startswith("force_head."):
            out["heads.forces.linear." + key[len("force_head."):]] = value
        elif key not in ("head.scale", "head.shift", "head.atom_reference"):
            out[key] = value
    for i, name in enumerate(outputs):
        out[f"output_scaling.{name}.scale"] = state["head.scale"][i:i + 1].clone()
        out[f"output_scaling.{name}.shift"] = state["head.shift"][i:i + 1].clone()
        out[f"output_scaling.{name}.atom_reference"] = state["head.atom_reference"][:, i].clone()
    if "forces" in heads:  # 0.1 scaled direct forces by the first output's scale
        out["output_scaling.forces.scale"] = state["head.scale"][0:1].clone()
    return out
