"""EPT (Equivariant Pretrained Transformer; Jiao et al.): one block-based model for small molecules
and proteins. Specification: the paper and ``shared/reference/ept.md`` (official code jiaor17/EPT)."""

import copy
from dataclasses import dataclass
from typing import Any, Dict, Optional


from ...data import keys as K
from ...data.atomic_data import AtomicData
from ...data.blocks.tokenise import ensure_blocks
from ...data.blocks.vocabulary import BlockVocabulary
from ...data.elements import MAX_Z
from ...data.types import TypeMap
from ...errors import InvalidStructureError
from ..base import AtomisticModel
from . import heads as _family_heads  # noqa: F401  (registers the ept_property/ept_vector head types)
from .backbone import EPTBackbone
from .config import EPTConfig
from .edges import build_block_graph

DEFAULT_HEADS = {"y": {"type": "ept_property", "pool": "graph"}}


@dataclass(frozen=True)
class BlockGraphSpec:
    """EPT's graph (see :mod:`.edges`): what ``AtomisticModel.prepare`` and the training data pipeline
    call ``build`` on. ``cutoff`` is None: attention is global, so no distance separates atoms."""

    block_cutoff: float
    topo_cutoff: float
    sparse_k: int
    fully_connected: bool
    kind: str = "blocks"
    cutoff: Optional[float] = None

    def build(self, record: AtomicData, max_edges: Optional[int] = None) -> AtomicData:
        """``record`` with blocks (tokenised if absent, :func:`ensure_blocks`) and EPT's edges."""
        return build_block_graph(ensure_blocks(record), self.block_cutoff, self.topo_cutoff, self.sparse_k,
                                 self.fully_connected, max_edges)


class EPT(AtomisticModel):
    """EPT: :class:`EPTBackbone` with named heads (default: one graph property ``y``, pooled as the
    reference's graph head).

    Input: a batch of prepared records (:meth:`prepare`: blocks, block edges, atom pairs), positions
    in Å. Output: ``{name: tensor}``, [B] for property heads, [N, 3] for vector heads.

    Example:
        >>> import torch, equiformers
        >>> from ase.build import molecule
        >>> model = equiformers.build_model({"model": "ept", "config": {"hidden_channels": 16, "ffn_channels": 16,
        ...     "num_heads": 2, "num_layers": 1, "num_rbf": 8, "edge_channels": 4}})
        >>> data = equiformers.data.collate([model.prepare(equiformers.data.from_ase(molecule("CH3OH")))])
        >>> model(data)["y"].shape
        torch.Size([1])
    """

    family = "ept"
    Config = EPTConfig
    supports_meta_init = True  # plain torch layers; the generic placeholder heads are built on the CPU

    @classmethod
    def graph_for(cls, config: EPTConfig) -> BlockGraphSpec:
        return BlockGraphSpec(config.block_cutoff, config.topo_cutoff, config.sparse_k,
                              config.graph == "fully_connected")

    def __init__(self, config: EPTConfig, heads: Optional[Dict[str, Dict[str, Any]]] = None):
        heads = copy.deepcopy(heads or DEFAULT_HEADS)
        type_map = TypeMap(config.elements if config.elements is not None else MAX_Z + 1)
        backbone = EPTBackbone(config)
        super().__init__(config, type_map, backbone, heads, self.graph_for(config))
        self.block_vocabulary = BlockVocabulary(config.num_block_types)

    def prepare(self, record: AtomicData, max_edges: Optional[int] = None) -> AtomicData:
        """One structure ready for EPT: element check (``config.elements``), blocks (tokenised as a
        small molecule when the record has none; see :mod:`equiformers.data.blocks.tokenise`), the
        block table check (nucleotides in the 142-row compatibility mode are an error), and block
        edges with the k nearest atom pairs (``max_edges`` bounds the candidate pairs)."""
        types = self.type_map(record[K.ATOMIC_NUMBERS])  # raises for elements outside config.elements
        if K.PBC in record and bool(record[K.PBC].any()):
            raise InvalidStructureError("EPT models molecules and proteins without periodic images; this "
                                        "structure is periodic (pbc set)")
        if K.EDGE_INDEX not in record or K.EDGE_TYPE not in record:
            record = self.graph_spec.build(record, max_edges)
        else:
            record = ensure_blocks(record)
        self.block_vocabulary.check(record[K.BLOCK_TYPE].tolist())
        record[K.ATOM_TYPE] = types
        return record
