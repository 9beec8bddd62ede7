"""Configuration of the EquiformerV2 model family (Liao, Wood, Das & Smidt, ICLR 2024).

Field names follow the reference's constructor (fairchem v1 ``EquiformerV2Backbone``) where a
field has a counterpart, so a fairchem config maps key by key; see :mod:`.fairchem` for the
differences (``lmax_list``/``mmax_list`` -> ``lmax``/``mmax``, ``max_radius`` -> ``cutoff``,
``max_num_elements`` -> ``elements``).
"""

from dataclasses import dataclass
from typing import List, Optional, Tuple, Union

from ...data.elements import num_types, validate_element_spec
from ...errors import ConfigError

#: Statistics the reference hard-codes (OC20 IS2RE-100k). Used only when a model is built without
#: data statistics; training computes both from its data.
REFERENCE_AVG_NUM_NODES = 77.81317
REFERENCE_AVG_DEGREE = 23.395238876342773

#: ``merge_layer_norm`` (EquiformerV3's name) is ``rms_norm_sh``; ``merge_rms_norm`` is it without centring or bias
NORM_TYPES = ("layer_norm", "layer_norm_sh", "rms_norm_sh", "merge_layer_norm", "merge_rms_norm")
WEIGHT_INITS = ("normal", "uniform")
EDGE_ROLLS = ("fixed", "random")


@dataclass
class EquiformerV2Config:
    """Everything that defines an EquiformerV2 architecture.

    Attributes:
        elements: element symbols (one embedding row each), or an integer N to index embeddings
            directly by atomic number (0 <= Z < N; the reference uses 90).
        max_num_elements: rows of every atom-type embedding, if more than the number of types
            (EquiformerV3 allocates 128 rows for the 119 atomic numbers; the extra rows are never read).
        num_layers: transformer blocks.
        sphere_channels: channels C of every degree of the node features [N, (lmax+1)², C].
        attn_hidden_channels: channels of the edge messages between the two SO(2) convolutions.
        num_heads, attn_alpha_channels, attn_value_channels: attention heads, the width of each
            head's attention-logit vector and of its value.
        ffn_hidden_channels: hidden channels of the feed-forward networks (blocks and energy head).
        norm_type: ``layer_norm`` (per degree), ``layer_norm_sh`` (separable: LN on l = 0, one
            degree-balanced RMS over l > 0; the released models) or ``rms_norm_sh`` (one balanced RMS
            over all degrees after centring l = 0; the reference's code default); EquiformerV3's
            ``merge_layer_norm`` (= ``rms_norm_sh``) and ``merge_rms_norm`` (no centring, no bias).
        lmax, mmax: largest degree of the features and largest order kept in edge frames.
        grid_resolution: S² grid of the grid activations and the grid MLP: points per angle (a
            square grid) or ``[latitude, longitude]``; ``None`` gives the reference's coarse formula
            (equivariance error ~1e-1), or with ``use_swiglu_s2`` the smallest exact grid. 18 is what
            every released V2 model uses.
        attn_grid_resolution: the grid of the attention's edge-frame activation, if different
            (EquiformerV3: ``[3 lmax + 2, 8]``); ``None``: as ``grid_resolution``.
        edge_channels: hidden width of the radial functions (and of the atom-pair embeddings).
        num_distance_basis: Gaussians expanding each distance on [0, cutoff] (the reference
            always uses 600 and ignores its own key of this name).
        use_atom_edge_embedding: concatenate source/target atom embeddings to the distance basis.
        share_atom_edge_embedding: one such pair of embeddings for the whole model instead of one
            per block.
        cutoff: neighbour cutoff in Å (the reference's ``max_radius``).
        max_neighbors: keep only the nearest ``max_neighbors`` sources per atom (``None``: all).
        use_attn_renorm: layer norm of the attention logits (attention re-normalisation).
        use_gate_act: gate activations (exactly equivariant) instead of S² activations.
        use_grid_mlp: feed-forward networks act pointwise on the S² grid (released models) instead
            of through an activation.
        use_sep_s2_act: separable S² activation (l = 0 from its own scalars) when not gating.
        use_m_share_rad: one radial weight per (degree, channel), applied to the source and target
            features before the rotation (EquiformerV3's default) instead of one per (degree, order,
            channel) inside the first SO(2) convolution (V2). Fewer radial parameters.
        use_swiglu_s2: EquiformerV3's SwiGLU-S² activations: in the attention, the product of two grid
            signals gated by invariant sigmoids plus a SwiGLU scalar path; in the feed-forward network
            a gated bilinear grid MLP. Every true non-linearity acts on invariants and the grid
            product is exact on a large enough grid (checked), so the model is equivariant to float
            precision. ``use_sep_s2_act`` and ``use_grid_mlp`` are then ignored (``use_gate_act`` must
            be off).
        use_gate_force_head: gate activation (exact) in the direct-force head whatever the blocks use
            (EquiformerV3).
        use_envelope: EquiformerV3's smooth cutoff: a polynomial envelope u(r/r_c) (exponent
            ``envelope_exponent``) multiplies the exponentials of the attention softmax and the
            resulting weights, and the edge-degree embedding, so energies are C² in the positions
            when a pair crosses the cutoff (without ``max_neighbors``, itself discontinuous).
        alpha_drop, drop_path_rate, proj_drop: dropout of attention weights, stochastic depth per
            graph, dropout of whole channels of the block outputs.
        weight_init: ``normal`` (N(0, 1/fan_in)) or ``uniform`` (PyTorch's default) linear weights.
        avg_num_nodes: divisor of the energy sum (``None``: the reference's OC20 value; training
            fills in its data's mean atom count).
        avg_degree: divisor of the edge-degree embedding sum (``None``: the reference's value).
        edge_roll: roll of the edge frames about the edge, ``fixed`` (deterministic) or ``random``
            (redrawn on every call, as the reference).
    """

    elements: Union[List[str], int] = 90
    max_num_elements: Optional[int] = None
    num_layers: int = 12
    sphere_channels: int = 128
    attn_hidden_channels: int = 128
    num_heads: int = 8
    attn_alpha_channels: int = 32
    attn_value_channels: int = 16
    ffn_hidden_channels: int = 512
    norm_type: str = "rms_norm_sh"
    lmax: int = 6
    mmax: int = 2
    grid_resolution: Optional[Union[int, List[int]]] = 18
    attn_grid_resolution: Optional[Union[int, List[int]]] = None
    edge_channels: int = 128
    num_distance_basis: int = 600
    use_atom_edge_embedding: bool = True
    share_atom_edge_embedding: bool = False
    cutoff: float = 5.0
    max_neighbors: Optional[int] = None
    use_attn_renorm: bool = True
    use_gate_act: bool = False
    use_grid_mlp: bool = False
    use_sep_s2_act: bool = True
    use_m_share_rad: bool = False
    use_swiglu_s2: bool = False
    use_gate_force_head: bool = False
    use_envelope: bool = False
    envelope_exponent: int = 5
    alpha_drop: float = 0.1
    drop_path_rate: float = 0.05
    proj_drop: float = 0.0
    weight_init: str = "normal"
    avg_num_nodes: Optional[float] = None
    avg_degree: Optional[float] = None
    edge_roll: str = "fixed"

    def validate(self) -> None:
        validate_element_spec(self.elements)
        if self.max_num_elements is not None and self.max_num_elements < num_types(self.elements):
            raise ConfigError(f"max_num_elements ({self.max_num_elements}) must be at least the number of types "
                              f"({num_types(self.elements)}) or null")
        for key, allowed in {"norm_type": NORM_TYPES, "weight_init": WEIGHT_INITS, "edge_roll": EDGE_ROLLS}.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"{key} must be one of {allowed}, got {getattr(self, key)!r}")
        positive = ("num_layers", "sphere_channels", "attn_hidden_channels", "num_heads", "attn_alpha_channels",
                    "attn_value_channels", "ffn_hidden_channels", "edge_channels", "num_distance_basis")
        for key in positive:
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be a positive integer, got {getattr(self, key)}")
        if self.lmax < 1:
            raise ConfigError(f"lmax must be at least 1 (forces and vectors live in l = 1), got {self.lmax}")
        if not 0 <= self.mmax <= self.lmax:
            raise ConfigError(f"mmax must be between 0 and lmax ({self.lmax}), got {self.mmax}")
        if self.lmax > 12:
            raise ConfigError(f"lmax must be at most 12 (the largest degree of the Wigner-D code), got {self.lmax}")
        for key in ("grid_resolution", "attn_grid_resolution"):
            self._check_grid(key)
        if self.use_swiglu_s2 and self.use_gate_act:
            raise ConfigError("use_swiglu_s2 and use_gate_act both choose the blocks' activation: set one")
        if self.envelope_exponent < 2:
            raise ConfigError(f"envelope_exponent must be at least 2, got {self.envelope_exponent}")
        if self.share_atom_edge_embedding and not self.use_atom_edge_embedding:
            raise ConfigError("share_atom_edge_embedding needs use_atom_edge_embedding: true")
        if not self.cutoff > 0:
            raise ConfigError(f"cutoff must be positive (Å), got {self.cutoff}")
        if self.max_neighbors is not None and self.max_neighbors < 1:
            raise ConfigError(f"max_neighbors must be a positive integer or null, got {self.max_neighbors}")
        for key in ("alpha_drop", "drop_path_rate", "proj_drop"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise ConfigError(f"{key} must be in [0, 1), got {getattr(self, key)}")
        for key in ("avg_num_nodes", "avg_degree"):
            if getattr(self, key) is not None and not getattr(self, key) > 0:
                raise ConfigError(f"{key} must be positive or null, got {getattr(self, key)}")

    def embedding_rows(self) -> int:
        """Rows of the atom-type embeddings: ``max_num_elements`` or the number of types."""
        return self.max_num_elements or num_types(self.elements)

    def _check_grid(self, key: str) -> None:
        value = getattr(self, key)
        if value is None:
            return
        grid = [value, value] if isinstance(value, int) else list(value)
        if len(grid) != 2 or grid[0] < 2 * (self.lmax + 1) or grid[0] % 2 or grid[1] < 2 * self.mmax + 1:
            raise ConfigError(f"{key} must be an even number of latitudes ≥ 2 (lmax + 1) = {2 * (self.lmax + 1)} "
                              f"(with ≥ 2 mmax + 1 = {2 * self.mmax + 1} longitudes if given as [lat, long]), "
                              f"or null, got {value}")
        if self.use_swiglu_s2:
            # The product of two degree-≤ L signals is exactly rotation-equivariant on the node grid if
            # the latitude quadrature integrates degree 3L and the longitudes resolve orders up to 3L.
            # In an edge frame only rolls about the pole matter: longitudes resolving 3 mmax suffice.
            if key == "attn_grid_resolution":
                need = (2 * (self.lmax + 1), 3 * self.mmax + 1)
            else:
                need = (_even(3 * self.lmax + 1), 3 * self.lmax + 1)
            if grid[0] < need[0] or grid[1] < need[1]:
                raise ConfigError(f"{key} = {value} is too coarse for use_swiglu_s2's exact grid product: need "
                                  f"≥ {need[0]} latitudes and ≥ {need[1]} longitudes (or null to derive it)")

    def ffn_grid(self) -> Optional[Tuple[int, int]]:
        """(latitudes, longitudes) of the node-feature grid; ``None``: the reference's formula."""
        if self.grid_resolution is None:
            return (_even(3 * self.lmax + 1),) * 2 if self.use_swiglu_s2 else None
        return _pair(self.grid_resolution)

    def attn_grid(self) -> Optional[Tuple[int, int]]:
        """(latitudes, longitudes) of the edge-frame grid of the attention's activation."""
        if self.attn_grid_resolution is not None:
            return _pair(self.attn_grid_resolution)
        if self.grid_resolution is None and self.use_swiglu_s2:
            return _even(3 * self.lmax + 1), _even(3 * self.mmax + 1)
        return self.ffn_grid()


def _even(n: int) -> int:
    return n + n % 2


def _pair(value) -> Tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))
