"""The model contract every family implements: type map + backbone + named heads + output scaling.

A family subclasses :class:`AtomisticModel`, sets ``family`` (its registry name) and ``Config``
(its config dataclass), builds its backbone from the config and hands it to
``AtomisticModel.__init__`` together with the declared heads and its graph spec. Everything
outside ``models/`` (training, inference, the calculator, MD) talks to a model only through
this class's public surface: ``outputs``, ``prepare``, ``graph_spec``/``cutoff``,
``type_map``, ``set_output_statistics``/``output_scale`` and ``forward``.

A backbone is an ``nn.Module`` with ``forward(data) -> {feature name: tensor}`` and attributes
``feature_irreps`` ({feature name: irreps}), ``avg_num_nodes`` (for sum pooling),
``vector_irrep`` (``"1o"``, or ``"1e"`` in SE(3) models that label every degree even),
``smooth_at_cutoff`` (whether outputs are continuous when a pair crosses the cutoff; MD warns
otherwise) and ``equivariance_probes()`` (submodules whose outputs the test suite checks, with
their irreps).
"""

from typing import Any, ClassVar, Dict, Optional

import torch
from torch import nn

from ..data import keys as K
from ..data.graph import GraphSpec
from ..data.types import TypeMap
from ..nn.readout import OutputScaling
from ..so3 import rebuild_constants
from .heads import OutputInfo, build_head, normalise_head_specs


class AtomisticModel(nn.Module):
    """Atomic data in, named physical outputs out.

    Args:
        config: the family's config dataclass (kept as ``self.config``; rebuilds the model).
        type_map: atomic numbers -> type indices.
        backbone: the family's feature extractor (see the module docstring).
        heads: ``{head name: settings}`` (see :mod:`equiformers.models.heads`).
        graph_spec: the edges the backbone needs.
    """

    family: ClassVar[str] = ""
    Config: ClassVar[type] = type(None)
    #: whether the model can be built on PyTorch's meta device (no weights allocated); e3nn computes
    #: constants at construction, so families built on it cannot
    supports_meta_init: ClassVar[bool] = True

    @classmethod
    def graph_for(cls, config) -> GraphSpec:
        """The graph a model with ``config`` needs (known without building the model)."""
        raise NotImplementedError

    def __init__(self, config, type_map: TypeMap, backbone: nn.Module, heads: Dict[str, Dict[str, Any]],
                 graph_spec: GraphSpec):
        super().__init__()
        self.config = config
        self.type_map = type_map
        self.backbone = backbone
        self.graph_spec = graph_spec
        self.head_specs = normalise_head_specs(heads)
        self.heads = nn.ModuleDict({name: build_head(name, values, backbone)
                                    for name, values in self.head_specs.items()})
        self._outputs: Dict[str, OutputInfo] = {}
        for head in self.heads.values():
            self._outputs.update(head.output_info())
        self.output_scaling = nn.ModuleDict({name: OutputScaling(info.level, type_map.num_types)
                                             for name, info in self._outputs.items()})

    # --- the contract ---------------------------------------------------------------------
    @property
    def outputs(self) -> Dict[str, OutputInfo]:
        """Every output ``forward`` returns: name -> level (graph | atom) and kind (scalar | vector)."""
        return dict(self._outputs)

    @property
    def cutoff(self) -> Optional[float]:
        """The radius-graph cutoff in Å (``None`` for graphs without one)."""
        return self.graph_spec.cutoff

    @property
    def smooth_at_cutoff(self) -> bool:
        """Whether energies are continuous when a pair crosses the cutoff (matters for MD)."""
        return bool(self.backbone.smooth_at_cutoff)

    def prepare(self, record: Dict[str, torch.Tensor], max_edges: Optional[int] = None) -> Dict[str, torch.Tensor]:
        """One structure ready for this model: type indices (unknown elements are an error here)
        and the edges of :attr:`graph_spec` (built unless the record already has them; ``max_edges``
        bounds the graph's estimated size, see :meth:`GraphSpec.build`)."""
        atom_type = self.type_map(record[K.ATOMIC_NUMBERS])  # first: an unknown element is the clearer error
        record = self.graph_spec.build(record, max_edges) if K.EDGE_INDEX not in record else dict(record)
        record[K.ATOM_TYPE] = atom_type
        return record

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """``{output name: tensor}`` in physical units ([B] for graph outputs, [N, ...] for atom outputs).

        ``data`` is a batch of prepared records (:meth:`prepare`, then ``collate``). A batch
        without ``atom_type`` is typed here, with the same checks (convenient, but per call).
        """
        if K.ATOM_TYPE not in data:
            data = {**data, K.ATOM_TYPE: self.type_map(data[K.ATOMIC_NUMBERS])}
        features = self.backbone(data)
        raw: Dict[str, torch.Tensor] = {}
        for head in self.heads.values():
            raw.update(head(data, features))
        types, batch, num_graphs = data[K.ATOM_TYPE], data[K.BATCH], data[K.NUM_ATOMS].shape[0]
        return {name: self.output_scaling[name](value, types, batch, num_graphs) for name, value in raw.items()}

    # --- scaling: training's only handle on a model's outputs --------------------------------
    def set_output_statistics(self, name: str, scale=None, shift=None, atom_reference=None) -> None:
        """Set output ``name``'s scale, shift (its unit) and per-type references [num_types]."""
        self.output_scaling[name].set(scale=scale, shift=shift, atom_reference=atom_reference)

    def output_scale(self, name: str) -> torch.Tensor:
        """The scale of output ``name`` ([1], its unit per raw unit)."""
        return self.output_scaling[name].scale

    # --- numerics ------------------------------------------------------------------------
    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        rebuild_constants(self)  # declared constants (e.g. Clebsch-Gordan) exact in the new dtype, not cast
        return out

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype
