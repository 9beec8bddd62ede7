"""Configuration of the SE(3)-Transformer family (original, NVIDIA's set-up and the Efficient variant).

The paper's Table 2 variants are switch settings of one config:

=====================================  ===========  =============  =============  ============
variant                                ``kernel``   ``attention``  ``edge_update`` ``num_degrees``
=====================================  ===========  =============  =============  ============
original SE(3)-Transformer             full         dot_product    false          3 (or 4)
Efficient SE(3)-T                      separable    edge           true           3
Efficient, dot-product attention       separable    dot_product    false          3
Efficient, scalar only                 separable    edge           true           1
=====================================  ===========  =============  =============  ============
"""

from dataclasses import dataclass, field
from typing import List, Optional, Union

from ...data.elements import validate_element_spec
from ...errors import ConfigError
from ..config import config_from_dict
from .edges import EdgeFeatureConfig
from .fiber import Fiber
from .radial import RadialConfig

#: QM9's mean number of atoms, used only by ``sum``-pooled heads of models built without data statistics.
REFERENCE_AVG_NUM_NODES = 18.03065905448718

_CHOICES = {"graph": ("fully_connected", "radius", "bonded"), "edge_types": ("bonds", "covalent"), "pooling": ("max", "mean", "sum"), "output_pool": ("mean", "sum"),
            "skip": ("cat", "sum"), "kernel": ("full", "separable"), "attention": ("dot_product", "edge"),
            "key_kernel": ("same", "full", "separable"), "key_value": ("separate", "fused"),
            "fusion": ("auto", "full", "partial", "none")}


@dataclass
class SE3TransformerConfig:
    """Everything that defines an SE(3)-Transformer.

    Attributes:
        elements: element symbols (one input channel each) or an integer N (types = atomic numbers < N).
        atomic_number_feature: append the atomic number Z as one more input scalar (Fuchs' QM9
            inputs: one-hot H, C, N, O, F plus Z = 6 features).
        num_edge_types: width of the edge-type one-hot read from ``edge_type`` [E], an input of every
            radial network (Fuchs and NVIDIA: ``edge_dim + 1`` inputs with the distance). 0: no edge
            types. With ``edge_types: bonds`` it must be 4 on a ``bonded`` graph (single, double,
            triple, aromatic) and 5 on the others (+ "no bond", Fuchs' ``--fully_connected``); with
            ``edge_types: covalent`` it must be 2.
        edge_types: where ``edge_type`` comes from (:mod:`equiformers.data.graph`): ``bonds``, the
            chemical bond of each pair (the record's ``bond_index``/``bond_type``, e.g. QM9 with
            ``data.bonds``, else perceived with RDKit from the geometry); ``covalent``, pairs closer
            than ``covalent_cutoff`` Å (the covalent/non-covalent graphs of PDBBind models).
        covalent_cutoff: Å, for ``edge_types: covalent`` (SG-CNN's 1.5 Å).
        graph: ``"fully_connected"`` (every pair of a molecule), ``"radius"`` (pairs within ``cutoff``
            Å) or ``"bonded"`` (both directions of every chemical bond; Fuchs' QM9 default).
        num_layers: attention blocks. num_degrees: hidden degrees 0 .. num_degrees - 1 (1 = scalar only).
        channels: hidden channels, one number for every degree or a list per degree.
        num_heads: attention heads. channels_div: value channels = hidden channels / channels_div.
        out_channels: scalars per atom after the final convolution (default num_degrees * channels[0], as Fuchs).
        output_pool: how the final convolution gathers its messages: ``mean`` over neighbours plus the
            self-interaction (Fuchs), or ``sum`` over edges with the self-interaction added on every edge (NVIDIA).
        pooling: ``max`` (both QM9 set-ups), ``mean`` or ``sum`` of those scalars per graph, read by the
            default head (``pooled_scalars``) as MLP(pool(h)).
        norm: norm non-linearity after every block (NVIDIA's ``--norm``; Fuchs: always).
        skip: ``cat`` (Fuchs' and NVIDIA's default) or ``sum`` residual around each block.
        kernel: ``full`` (TFN) or ``separable`` (Efficient, eqs. 16-25; every convolution, the final one too).
        attention: ``dot_product`` (keys and queries) or ``edge`` (logits A e_ij, eq. 26).
        key_kernel: kernel of the keys (dot-product attention): ``same`` as ``kernel``, or ``full`` / ``separable``.
        key_value: full kernels for both: ``separate`` convolutions for keys and values (Fuchs) or one
            ``fused`` convolution split afterwards (NVIDIA; fewer radial networks).
        edge_update: update e_ij after each attention block but the last (eq. 27; needs ``attention: edge``;
            after the last block nothing reads e_ij).
        edge_features: initial e_ij and the update MLP (:class:`~.edges.EdgeFeatureConfig`).
        radial: radial networks (:class:`~.radial.RadialConfig`).
        fusion: kernel products: ``auto`` (highest possible per convolution), or a cap ``full`` /
            ``partial`` / ``none``; ``full`` with unequal hidden channels is an error.
        low_memory: recompute every convolution in the backward pass (activation checkpointing;
            NVIDIA's ``--low_memory``): less memory, about one more forward of time.
        avg_num_nodes: normalisation of ``sum``-pooled heads (``None``: QM9's mean; training sets it).
    """

    elements: Union[List[str], int] = field(default_factory=lambda: ["H", "C", "N", "O", "F"])
    atomic_number_feature: bool = True
    num_edge_types: int = 0
    edge_types: str = "bonds"
    covalent_cutoff: float = 1.5
    graph: str = "fully_connected"
    cutoff: Optional[float] = None
    num_layers: int = 7
    num_degrees: int = 4
    channels: Union[int, List[int]] = 32
    num_heads: int = 8
    channels_div: int = 2
    out_channels: Optional[int] = None
    output_pool: str = "mean"
    pooling: str = "max"
    norm: bool = True
    skip: str = "cat"
    kernel: str = "full"
    attention: str = "dot_product"
    key_kernel: str = "same"
    key_value: str = "separate"
    edge_update: bool = False
    edge_features: EdgeFeatureConfig = field(default_factory=EdgeFeatureConfig)
    radial: RadialConfig = field(default_factory=RadialConfig)
    fusion: str = "auto"
    low_memory: bool = False
    avg_num_nodes: Optional[float] = None

    def __post_init__(self):
        # nested sections arrive as plain dicts from YAML and model files
        if isinstance(self.radial, dict):
            self.radial = config_from_dict(RadialConfig, self.radial, where="se3_transformer config: radial")
        if isinstance(self.edge_features, dict):
            self.edge_features = config_from_dict(EdgeFeatureConfig, self.edge_features,
                                                  where="se3_transformer config: edge_features")

    def validate(self) -> None:
        validate_element_spec(self.elements)
        for key, allowed in _CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"{key} must be one of {allowed}, got {getattr(self, key)!r}")
        for key in ("num_layers", "num_degrees", "num_heads", "channels_div"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be a positive integer, got {getattr(self, key)}")
        if self.num_edge_types < 0:
            raise ConfigError(f"num_edge_types must be >= 0, got {self.num_edge_types}")
        if self.num_edge_types:
            needed = {"covalent": 2, "bonds": 4 if self.graph == "bonded" else 5}[self.edge_types]
            if self.num_edge_types != needed:
                why = "covalent or not" if self.edge_types == "covalent" else (
                    "single, double, triple, aromatic" + ("" if self.graph == "bonded" else ", no bond"))
                raise ConfigError(f"num_edge_types must be {needed} for edge_types {self.edge_types!r} on a "
                                  f"{self.graph!r} graph ({why}), got {self.num_edge_types}")
        if self.edge_types == "covalent" and not self.covalent_cutoff > 0:
            raise ConfigError(f"covalent_cutoff must be a positive distance in Å, got {self.covalent_cutoff!r}")
        if self.graph == "radius" and (self.cutoff is None or self.cutoff <= 0):
            raise ConfigError(f"graph 'radius' needs a positive cutoff in Å, got {self.cutoff!r}")
        if self.graph != "radius" and self.cutoff is not None:
            raise ConfigError(f"cutoff is for graph 'radius'; a {self.graph} graph has none (set cutoff: null)")
        channels = self.channels if isinstance(self.channels, list) else [self.channels] * self.num_degrees
        if len(channels) != self.num_degrees:
            raise ConfigError(f"channels lists one count per degree: {self.num_degrees} degrees, got {self.channels}")
        hidden = self.hidden_fiber  # raises for a degree without channels
        if any(c % self.channels_div for c in hidden.channels):
            raise ConfigError(f"hidden channels {hidden} must be divisible by channels_div ({self.channels_div})")
        if self.fusion == "full" and not hidden.uniform_channels:
            raise ConfigError(f"fusion 'full' needs the same number of channels in every degree, got {hidden}; "
                              "use fusion 'auto' or 'partial'")
        separable_keys = self.attention == "dot_product" and (
            self.key_kernel == "separable" or (self.key_kernel == "same" and self.kernel == "separable"))
        if (self.kernel == "separable" or separable_keys) and not hidden.uniform_channels:
            raise ConfigError(f"kernel 'separable' needs the same channels in every degree (the depth-wise kernel "
                              f"sums degrees channel by channel), got {hidden}")
        if self.edge_update and self.attention != "edge":
            raise ConfigError("edge_update (eq. 27) updates the edge features of attention 'edge'; "
                              "set attention: edge or edge_update: false")
        if self.attention == "edge" and self.edge_feature_dim < 1:
            raise ConfigError("attention 'edge' needs edge features: edge_features.num_rbf or num_edge_types > 0")
        if self.out_channels is not None and self.out_channels < 1:
            raise ConfigError(f"out_channels must be positive, got {self.out_channels}")
        self.radial.validate()
        self.edge_features.validate()

    @property
    def hidden_fiber(self) -> Fiber:
        """Channels per hidden degree, e.g. ``{0: 32, 1: 32, 2: 32, 3: 32}``."""
        channels = self.channels if isinstance(self.channels, list) else [self.channels] * self.num_degrees
        return Fiber.of(dict(enumerate(channels)), what="hidden fiber (channels)")

    @property
    def output_channels(self) -> int:
        return self.out_channels if self.out_channels is not None else self.num_degrees * self.hidden_fiber.channels[0]

    @property
    def edge_feature_dim(self) -> int:
        """D, the width of e_ij (0 unless ``attention: edge``)."""
        return self.edge_features.num_rbf + self.num_edge_types if self.attention == "edge" else 0
