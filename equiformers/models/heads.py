"""Output heads, declared by name in a model spec and built on any backbone.

A head reads named backbone features (``backbone.feature_irreps`` says which exist and what
they hold) and writes named raw outputs; the model then scales them to physical units
(:class:`~equiformers.nn.readout.OutputScaling`). Declared as::

    heads:
      energy: {type: graph_scalar}                  # one graph-level scalar, output "energy"
      forces: {type: atom_vector}                   # direct (non-conservative) forces [N, 3]
      props: {type: graph_scalar, outputs: [homo, lumo], pool: mean}

Types: ``graph_scalar`` (per-atom MLP on scalar features, pooled per graph: ``sum`` divided by
sqrt(avg_num_nodes), or ``mean``), ``atom_scalar`` (the MLP per atom), ``atom_vector`` (an
equivariant linear map of irreps features to one vector per atom). Conservative forces and
stress are not heads: :class:`~equiformers.tasks.forces.ConservativeForces` differentiates an
energy output.
"""

import contextlib
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import torch
from e3nn import o3
from torch import nn

from ..data import keys as K
from ..errors import ConfigError
from ..nn import EquivariantLinear
from ..nn.readout import scalar_mlp
from ..ops.scatter import scatter_mean, scatter_sum
from .config import config_from_dict

HEAD_TYPES = ("graph_scalar", "atom_scalar", "atom_vector")
#: head types a family adds: type -> builder ``(name, settings, backbone) -> module`` (the module has
#: ``output_info()`` and ``forward(data, features)`` like the generic heads); see register_head_type
FAMILY_HEAD_TYPES: Dict[str, Callable] = {}


def register_head_type(name: str, builder: Callable) -> None:
    """Add a head type (e.g. EquiformerV2's attention force head); its module registers it on import.
    The builder checks its own settings and raises :class:`ConfigError` for bad ones."""
    if name in HEAD_TYPES:
        raise ConfigError(f"head type {name!r} is built in")
    FAMILY_HEAD_TYPES[name] = builder


@dataclass
class HeadSpec:
    """One head. ``outputs`` defaults to ``[head name]``; ``feature`` to the backbone's
    ``node_scalars`` (scalar heads) or ``node_irreps`` (vector heads); ``hidden`` to the
    feature's width; ``pool`` applies to graph heads."""

    type: str
    outputs: Optional[List[str]] = None
    feature: Optional[str] = None
    hidden: Optional[int] = None
    pool: str = "sum"

    def validate(self) -> None:
        if self.type not in HEAD_TYPES:
            known = HEAD_TYPES + tuple(FAMILY_HEAD_TYPES)
            raise ConfigError(f"head type must be one of {known}, got {self.type!r}")
        if self.pool not in ("sum", "mean"):
            raise ConfigError(f"head pool must be 'sum' or 'mean', got {self.pool!r}")
        if self.outputs is not None and not self.outputs:
            raise ConfigError("a head's outputs list must not be empty")


@dataclass(frozen=True)
class OutputInfo:
    """What an output is: ``level`` (graph | atom) and ``kind`` (scalar | vector)."""

    level: str
    kind: str


def parse_head_spec(name: str, values, spec_class=HeadSpec):
    """``values`` as a checked ``spec_class`` (a dataclass with ``outputs``) whose outputs default to
    ``[name]``; families parse their own head types with their own dataclass through this."""
    spec = config_from_dict(spec_class, dict(values or {}), where=f"heads.{name}")
    if spec.outputs is None:
        spec.outputs = [name]
    return spec


def head_spec(name: str, values) -> HeadSpec:
    spec = parse_head_spec(name, values)
    if spec.type == "atom_vector" and len(spec.outputs) != 1:
        raise ConfigError(f"heads.{name}: an atom_vector head writes exactly one output")
    return spec


class ScalarHead(nn.Module):
    """Per-atom scalar MLP, pooled per graph (``graph_scalar``) or not (``atom_scalar``).

    Shapes: features[feature] [N, C] -> {output: [B] or [N]}.
    """

    def __init__(self, spec: HeadSpec, irreps_in: o3.Irreps, avg_num_nodes: float):
        super().__init__()
        if irreps_in.lmax > 0 or any(ir.p != 1 for _, ir in irreps_in):
            raise ConfigError(f"a {spec.type} head needs even scalar features, got {irreps_in} "
                              f"(feature {spec.feature!r})")
        channels = irreps_in.dim
        self.feature, self.outputs, self.pool = spec.feature, list(spec.outputs), spec.pool
        self.graph_level = spec.type == "graph_scalar"
        self.mlp = scalar_mlp(channels, spec.hidden or channels, len(self.outputs))
        self.avg_num_nodes = float(avg_num_nodes)

    def output_info(self) -> Dict[str, OutputInfo]:
        return {name: OutputInfo("graph" if self.graph_level else "atom", "scalar") for name in self.outputs}

    def forward(self, data: Dict[str, torch.Tensor], features: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        per_atom = self.mlp(features[self.feature])
        if self.graph_level:
            num_graphs = data[K.NUM_ATOMS].shape[0]
            if self.pool == "sum":
                per_atom = scatter_sum(per_atom, data[K.BATCH], num_graphs) / self.avg_num_nodes ** 0.5
            else:
                per_atom = scatter_mean(per_atom, data[K.BATCH], num_graphs)
        return {name: per_atom[:, i] for i, name in enumerate(self.outputs)}


class VectorHead(nn.Module):
    """One vector per atom (e.g. direct forces) by an equivariant linear map of irreps features.

    Shapes: features[feature] [N, irreps_in.dim] -> {output: [N, 3]}.
    """

    def __init__(self, spec: HeadSpec, irreps_in: o3.Irreps, vector_irrep: str):
        super().__init__()
        if not any(ir.l == 1 for _, ir in irreps_in):
            raise ConfigError(f"an atom_vector head needs l = 1 features, got {irreps_in} (feature {spec.feature!r})")
        self.feature, self.outputs = spec.feature, list(spec.outputs)
        self.linear = EquivariantLinear(irreps_in, f"1x{vector_irrep}")

    def output_info(self) -> Dict[str, OutputInfo]:
        return {self.outputs[0]: OutputInfo("atom", "vector")}

    def forward(self, data, features):
        return {self.outputs[0]: self.linear(features[self.feature])}


def build_head(name: str, values, backbone) -> nn.Module:
    """Build head ``name`` from its declaration on ``backbone`` (which provides ``feature_irreps``,
    ``avg_num_nodes`` and ``vector_irrep``)."""
    if isinstance(values, dict) and values.get("type") in FAMILY_HEAD_TYPES:
        return FAMILY_HEAD_TYPES[values["type"]](name, values, backbone)
    # e3nn computes its activation normalisation from real numbers, so when a model is built on the
    # meta device (to count parameters) the small generic heads are built on the CPU
    with torch.device("cpu") if torch.empty(0).device.type == "meta" else contextlib.nullcontext():
        return _generic_head(name, values, backbone)


def _generic_head(name: str, values, backbone) -> nn.Module:
    spec = head_spec(name, values)
    if spec.feature is None:
        spec.feature = "node_irreps" if spec.type == "atom_vector" else "node_scalars"
    available = backbone.feature_irreps
    if spec.feature not in available:
        raise ConfigError(f"heads.{name}: the backbone has no feature {spec.feature!r}; it provides "
                          f"{sorted(available)}")
    irreps = o3.Irreps(available[spec.feature])
    if spec.type == "atom_vector":
        return VectorHead(spec, irreps, backbone.vector_irrep)
    return ScalarHead(spec, irreps, backbone.avg_num_nodes)


def normalise_head_specs(heads) -> Dict[str, Dict]:
    """Checked plain-dict form of a ``heads`` mapping (for configs and model files)."""
    if not isinstance(heads, dict) or not heads:
        raise ConfigError(f"heads must be a non-empty mapping of head name to settings, got {heads!r}")
    out, seen = {}, {}
    for name, values in heads.items():
        if not isinstance(values, dict):
            raise ConfigError(f"heads.{name} must be a mapping such as {{type: graph_scalar}}, got {values!r}")
        if values.get("type") in FAMILY_HEAD_TYPES:
            outputs = list(values.get("outputs") or [name])
        else:
            outputs = head_spec(name, values).outputs
        for output in outputs:
            if output in seen:
                raise ConfigError(f"output {output!r} is written by both heads.{seen[output]} and heads.{name}")
            seen[output] = name
        out[str(name)] = dict(values)
    return out
