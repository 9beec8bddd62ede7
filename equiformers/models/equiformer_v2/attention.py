"""Equivariant graph attention built on SO(2) convolutions (the reference's ``SO2EquivariantGraphAttention``).

For each edge s -> t (messages flow source -> target):

1. concatenate x_s and x_t along channels [E, (lmax+1)², 2C] (with ``use_m_share_rad``, times one
   radial weight per degree and channel) and rotate into the edge frame, keeping orders
   |m| ≤ mmax (m-major);
2. ``so2_conv_1`` (inputs modulated by a radial function of the edge scalars unless
   ``use_m_share_rad``) gives the hidden message and extra invariant m = 0 outputs: the attention
   logits' inputs [E, heads * alpha_channels] and the scalars of the activation;
3. the activation (separable S², S², gate or SwiGLU-S²), then ``so2_conv_2`` (no radial input) ->
   values [E, K, heads * value_channels];
4. attention: LayerNorm over each head's alpha vector (attention re-normalisation; one LN shared
   by all heads), smooth leaky ReLU, dot product with ``alpha_dot`` [heads, alpha_channels],
   softmax over the edges entering each target atom (with ``use_envelope``: exponentials weighted
   by the envelope, and the weights multiplied by it once more), dropout;
5. weighted values rotated back to the global frame, summed at the target (no degree
   normalisation), and ``proj`` (per-degree linear) to the output channels.
"""

from typing import Optional

import torch
from torch import nn

from ...nn import SmoothLeakyReLU
from ...ops.scatter import scatter_max, scatter_sum, segment_softmax
from ...so3.coefficients import degree_of_coefficients, m_major_index
from .activation import GateActivation, S2Activation, SeparableS2Activation, SphereGrid, SwiGLUS2Activation
from .config import EquiformerV2Config
from .edges import EdgeGeometry, edge_scalars, pair_embeddings
from .radial import RadialFunction
from .so2 import SO2Convolution
from .sphere import SO3Linear, ambient_device

ACTIVATIONS = ("sep_s2", "s2", "gate", "swiglu_s2")
#: added to the enveloped softmax's denominator (EquiformerV3's ``attn_eps``): an atom whose every
#: neighbour sits at the cutoff gets zero weights, not 0/0
ENVELOPE_EPS = 1e-16


def block_activation(config: EquiformerV2Config) -> str:
    """The activation the config's switches choose for attention blocks (one of :data:`ACTIVATIONS`)."""
    if config.use_swiglu_s2:
        return "swiglu_s2"
    if config.use_gate_act:
        return "gate"
    return "sep_s2" if config.use_sep_s2_act else "s2"


def enveloped_softmax(logits: torch.Tensor, index: torch.Tensor, num_atoms: int,
                      envelope: torch.Tensor) -> torch.Tensor:
    """``u_e exp(a_e) / (Σ_{e' → t} u_e' exp(a_e') + ε)`` over the edges entering each atom.

    Continuous when an edge's envelope u reaches zero at the cutoff (a plain softmax renormalises
    with a jump). Shapes: logits [E, H], index [E] (targets), envelope [E] -> [E, H].
    """
    shifted = (logits - scatter_max(logits.detach(), index, num_atoms)[index]).exp() * envelope.unsqueeze(-1)
    return shifted / (scatter_sum(shifted, index, num_atoms)[index] + ENVELOPE_EPS)


class SO2EquivariantGraphAttention(nn.Module):
    """Attention block (or the direct-force head with ``output_channels = 1``).

    ``activation``: one of :data:`ACTIVATIONS` (default: :func:`block_activation`).
    Shapes: x [N, (lmax+1)², C], edges :class:`~.edges.EdgeGeometry` -> [N, (lmax+1)², output_channels].
    Parameter names are the reference's (``source_embedding``, ``rad_func``, ``so2_conv_1``,
    ``alpha_norm``, ``alpha_dot``, ``so2_conv_2``, ``proj``).
    """

    def __init__(self, config: EquiformerV2Config, num_types: int, output_channels: int, alpha_drop: float,
                 own_pair_embedding: bool, activation: Optional[str] = None):
        super().__init__()
        c = config
        self.activation = activation or block_activation(c)
        self.lmax = c.lmax
        self.num_heads, self.alpha_channels, self.value_channels = (c.num_heads, c.attn_alpha_channels,
                                                                    c.attn_value_channels)
        hidden = c.attn_hidden_channels
        # Atom-type embeddings of source and target for the edge scalars (each block has its own pair
        # in the reference, unless share_atom_edge_embedding puts one pair on the backbone).
        self.source_embedding, self.target_embedding = (pair_embeddings(num_types, c.edge_channels)
                                                        if own_pair_embedding else (None, None))
        radial = [c.num_distance_basis + (2 * c.edge_channels if c.use_atom_edge_embedding else 0),
                  c.edge_channels, c.edge_channels]
        self.rad_func = None
        if c.use_m_share_rad:  # one weight per (degree, channel), shared by the orders: commutes with rotations
            self.rad_func = RadialFunction(radial + [(c.lmax + 1) * 2 * c.sphere_channels])
            self.register_buffer("expand_index", torch.tensor(degree_of_coefficients(c.lmax), device=ambient_device()),
                                 persistent=False)

        self.alpha_scalars = c.num_heads * c.attn_alpha_channels
        act_scalars = {"sep_s2": hidden, "s2": 0, "gate": c.lmax * hidden, "swiglu_s2": 3 * hidden}[self.activation]
        conv_channels = 2 * hidden if self.activation == "swiglu_s2" else hidden  # two factors of a product
        self.so2_conv_1 = SO2Convolution(2 * c.sphere_channels, conv_channels, c.lmax, c.mmax,
                                         radial_channels=None if c.use_m_share_rad else radial,
                                         extra_m0_channels=self.alpha_scalars + act_scalars)
        self.alpha_norm = nn.LayerNorm(c.attn_alpha_channels) if c.use_attn_renorm else nn.Identity()
        self.alpha_act = SmoothLeakyReLU(0.2)
        bound = 1.0 / c.attn_alpha_channels ** 0.5
        self.alpha_dot = nn.Parameter(torch.empty(c.num_heads, c.attn_alpha_channels).uniform_(-bound, bound))
        self.alpha_dropout = nn.Dropout(alpha_drop) if alpha_drop > 0 else None

        coefficients = m_major_index(c.lmax, c.mmax)
        if self.activation == "gate":
            self.gate_act = GateActivation(c.lmax, hidden, coefficients)
        else:
            grid = SphereGrid(c.lmax, c.mmax, c.attn_grid(), coefficients)
            if self.activation == "swiglu_s2":
                self.s2_act = SwiGLUS2Activation(grid, hidden)
            else:
                self.s2_act = SeparableS2Activation(grid) if self.activation == "sep_s2" else S2Activation(grid)
        self.so2_conv_2 = SO2Convolution(hidden, c.num_heads * c.attn_value_channels, c.lmax, c.mmax)
        if self.activation == "swiglu_s2":
            with torch.no_grad():  # EquiformerV3's initialisation quirk (its first h output rows of m = 0)
                self.so2_conv_2.fc_m0.weight[:hidden].mul_(2 ** -0.5)
        self.proj = SO3Linear(c.num_heads * c.attn_value_channels, output_channels, c.lmax)

    def forward(self, x: torch.Tensor, edges: EdgeGeometry, shared_pair: Optional[torch.Tensor] = None) -> torch.Tensor:
        src, dst = edges.index[0], edges.index[1]
        scalars = edge_scalars(edges, self.source_embedding, self.target_embedding, shared_pair)

        message = torch.cat([x.index_select(0, src), x.index_select(0, dst)], dim=-1)  # [E, (lmax+1)², 2C]
        if self.rad_func is not None:
            weights = self.rad_func(scalars).reshape(message.shape[0], self.lmax + 1, message.shape[2])  # (l, 2C)
            message = message * weights.index_select(1, self.expand_index)
        message = edges.to_edge @ message  # [E, K, 2C] in the edge frame, m-major
        message, extra = self.so2_conv_1(message, None if self.rad_func is not None else scalars)
        alpha_in, act_scalars = extra[:, :self.alpha_scalars], extra[:, self.alpha_scalars:]
        if self.activation == "gate":
            message = self.gate_act(act_scalars, message)
        elif self.activation == "s2":
            message = self.s2_act(message)
        else:
            message = self.s2_act(act_scalars, message)
        values, _ = self.so2_conv_2(message)  # [E, K, heads * value_channels]

        logits = self.alpha_act(self.alpha_norm(alpha_in.reshape(-1, self.num_heads, self.alpha_channels)))
        logits = torch.einsum("ehc,hc->eh", logits, self.alpha_dot)
        if edges.envelope is None:
            alpha = segment_softmax(logits, dst, x.shape[0])  # [E, heads]
        else:
            # Inside the sum: a continuous normaliser; outside: a lone neighbour fades out smoothly.
            alpha = enveloped_softmax(logits, dst, x.shape[0], edges.envelope) * edges.envelope.unsqueeze(-1)
        if self.alpha_dropout is not None:
            alpha = self.alpha_dropout(alpha)
        values = values.reshape(values.shape[0], values.shape[1], self.num_heads, self.value_channels)
        values = (values * alpha[:, None, :, None]).flatten(2)
        messages = edges.from_edge @ values  # [E, (lmax+1)², heads * value_channels], global frame
        return self.proj(scatter_sum(messages, dst, x.shape[0]))
