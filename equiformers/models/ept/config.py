"""Configuration of the EPT family (defaults: the paper's 6-layer, 512-wide model, Table 8)."""

from dataclasses import dataclass
from typing import List, Optional

from ...data.blocks.vocabulary import NUM_BLOCK_TYPES, OFFICIAL_NUM_BLOCK_TYPES
from ...data.elements import validate_element_spec
from ...errors import ConfigError

GRAPH_MODES = ("radial", "fully_connected")
VECTOR_ACTIVATIONS = ("layernorm", "none", "sigmoid", "tanh", "one")


@dataclass
class EPTConfig:
    """Everything that defines an EPT architecture.

    Attributes:
        elements: element symbols the model accepts (checked when data is prepared; the atom
            embedding always has EPT's 121 rows), or ``None`` for every element.
        hidden_channels: d, the width of scalar features and of the vector channels (512).
        ffn_channels: hidden width of the GVP feed-forward MLPs (512).
        num_heads: attention heads (8); ``4 * hidden_channels`` must divide by it.
        num_layers: attention + feed-forward layers (6; EPT-10: 10).
        num_rbf: Gaussians of the radial basis (64). edge_channels: width of the edge-type embedding (64).
        rbf_cutoff: Å, where the radial basis and its p = 5 envelope reach zero (10).
        graph: ``radial`` (block edges within ``block_cutoff``) or ``fully_connected`` (every block
            pair: QM9). block_cutoff, topo_cutoff: Å (10, 1.6). sparse_k: atom pairs per atom and
            block edge (4).
        num_block_types: rows of the block embedding: 150 (the whole vocabulary) or 142 (the
            official configs, to load their checkpoints; nucleotides are then refused).
        position_embedding: add the position-in-block embedding (False in the QM9 config).
        omit_small_molecule_positions: keep the position table but add nothing for small-molecule
            atoms (position ``sml``): the official ``omit_mol``, for fine-tuning a pretrained model
            on QM9 (paper Table 10, ``omit_sml_pos``).
        vector_act: the FFN's vector gate (``layernorm``, as every released config).
        local_mask: attention only over atom pairs with an edge, global atoms excepted (the LBA
            option); otherwise every atom of a structure attends to every other.
        qkv_bias: biases on the query/key/value projections (official ``attn_bias``).
        distance_bias, edge_bias: the attention's -|x_i - x_j| and learned per-layer pair terms
            (both on in the paper; off for the Table 4 ablations).
    """

    elements: Optional[List[str]] = None
    hidden_channels: int = 512
    ffn_channels: int = 512
    num_heads: int = 8
    num_layers: int = 6
    num_rbf: int = 64
    edge_channels: int = 64
    rbf_cutoff: float = 10.0
    graph: str = "radial"
    block_cutoff: float = 10.0
    topo_cutoff: float = 1.6
    sparse_k: int = 4
    num_block_types: int = NUM_BLOCK_TYPES
    position_embedding: bool = True
    omit_small_molecule_positions: bool = False
    vector_act: str = "layernorm"
    local_mask: bool = False
    qkv_bias: bool = True
    distance_bias: bool = True
    edge_bias: bool = True

    def validate(self) -> None:
        if self.elements is not None:
            validate_element_spec(self.elements)
        for name in ("hidden_channels", "ffn_channels", "num_heads", "num_layers", "num_rbf", "edge_channels",
                     "sparse_k"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.hidden_channels % self.num_heads:
            raise ConfigError(f"hidden_channels ({self.hidden_channels}) must be divisible by num_heads ({self.num_heads})")
        for name in ("rbf_cutoff", "block_cutoff", "topo_cutoff"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be a positive distance in Å, got {getattr(self, name)}")
        if self.graph not in GRAPH_MODES:
            raise ConfigError(f"graph must be one of {GRAPH_MODES}, got {self.graph!r}")
        if self.vector_act not in VECTOR_ACTIVATIONS:
            raise ConfigError(f"vector_act must be one of {VECTOR_ACTIVATIONS}, got {self.vector_act!r}")
        if self.omit_small_molecule_positions and not self.position_embedding:
            raise ConfigError("omit_small_molecule_positions needs position_embedding: true (it masks that table)")
        if self.num_block_types not in (NUM_BLOCK_TYPES, OFFICIAL_NUM_BLOCK_TYPES):
            raise ConfigError(f"num_block_types must be {NUM_BLOCK_TYPES} (the whole vocabulary) or "
                              f"{OFFICIAL_NUM_BLOCK_TYPES} (official checkpoints), got {self.num_block_types}")
