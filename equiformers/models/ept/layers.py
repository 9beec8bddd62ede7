"""EPT's layers on scalar + Cartesian vector features (the ``vector`` layout).

Scalars h are [..., d]; vectors V are [..., 3, d]: one 3-vector (x, y, z in Å-frame coordinates)
per channel. Linear maps act on the channel dimension of V only and have no bias, so they commute
with rotations; only norms over the xyz axis enter the scalar path.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ...nn import PolynomialCutoff



def safe_norm(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Euclidean norm over ``dim``, exact, with zero (not NaN) first and second derivatives at zero
    vectors. Self pairs (x_i - x_i) and isolated atoms' features are exact zeros, and torch's norm has
    a NaN second derivative there, which would poison force training (double backward)."""
    sq = x.pow(2).sum(dim=dim)
    nonzero = sq > 0
    return torch.where(nonzero, torch.where(nonzero, sq, torch.ones_like(sq)).sqrt(), torch.zeros_like(sq))


class EnvelopedGaussians(nn.Module):
    """``num_basis`` fixed Gaussians of s = d / cutoff, centred uniformly on [0, 1] with width equal
    to their spacing, times the p = 5 polynomial envelope u(s) (EPT's RBF).

    Shapes: distances [E] (Å) -> [E, num_basis].
    """

    def __init__(self, num_basis: int, cutoff: float):
        super().__init__()
        self.num_basis, self.cutoff = int(num_basis), float(cutoff)
        self.spacing = 1.0 / max(num_basis - 1, 1)
        self.envelope = PolynomialCutoff(1.0, 5)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        s = d / self.cutoff
        centres = torch.linspace(0.0, 1.0, self.num_basis, dtype=d.dtype, device=d.device)
        gauss = torch.exp(-0.5 * ((s.unsqueeze(-1) - centres) / self.spacing) ** 2)
        return self.envelope(s).unsqueeze(-1) * gauss


class VectorLinear(nn.Module):
    """Channel mixing of vector features without bias: [..., 3, c_in] -> [..., 3, c_out]."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.linear = nn.Linear(c_in, c_out, bias=False)

    def forward(self, V: torch.Tensor) -> torch.Tensor:
        return self.linear(V)


class GVPFeedForward(nn.Module):
    """GVP-like feed-forward layer (paper eqs. 10-12).

    [V1, V2] = W_F V (d -> d + d_out, no bias); [dh, g] = MLP([h, |V1|]) (Linear(2d, ffn) - SiLU -
    Linear(ffn, d + d_out)); dV = act(g) * V2, the gate applied to all three components.

    Shapes: h [..., d], V [..., 3, d] -> dh [..., d], dV [..., 3, d_out].
    """

    def __init__(self, channels: int, ffn_channels: int, out_channels: int = None, vector_act: str = "none"):
        super().__init__()
        self.channels = channels
        self.out_channels = channels if out_channels is None else out_channels
        self.linear_v = VectorLinear(channels, channels + self.out_channels)
        self.mlp = nn.Sequential(nn.Linear(2 * channels, ffn_channels), nn.SiLU(),
                                 nn.Linear(ffn_channels, channels + self.out_channels))
        self.vector_act = vector_act
        self.gate_norm = nn.LayerNorm(self.out_channels) if vector_act == "layernorm" else None

    def gate(self, g: torch.Tensor) -> torch.Tensor:
        if self.vector_act == "layernorm":
            return self.gate_norm(g)
        if self.vector_act == "sigmoid":
            return torch.sigmoid(g)
        if self.vector_act == "tanh":
            return torch.tanh(g)
        if self.vector_act == "one":
            return torch.ones_like(g)
        return g

    def forward(self, h: torch.Tensor, V: torch.Tensor):
        V1, V2 = self.linear_v(V).split([self.channels, self.out_channels], dim=-1)
        norm = safe_norm(V1, dim=-2)
        dh, g = self.mlp(torch.cat([h, norm], dim=-1)).split([self.channels, self.out_channels], dim=-1)
        return dh, self.gate(g).unsqueeze(-2) * V2


class EquivariantSelfAttention(nn.Module):
    """Self-attention over all atoms of a structure on scalars and vectors at once (eqs. 6-9).

    q, k = W h (d -> 4d); values = [W_V h  |  W_VV V (x, y, z)] of width d + 3d = 4d, so one
    ``scaled_dot_product_attention`` call with an additive bias [B, 1, M, M] serves both; its default
    scale 1/sqrt(4d/H) equals the paper's 0.5/sqrt(d/H). Outputs: dh = W_O (attended scalars),
    dV = W_VO (attended vectors) (no bias on the vector maps).

    Shapes: h [B, M, d], V [B, M, 3, d], bias [B, 1, M, M] (-inf on padded keys) -> dh, dV alike.
    """

    def __init__(self, channels: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        self.channels, self.num_heads = channels, num_heads
        self.head_channels = channels // num_heads
        self.q = nn.Linear(channels, 4 * channels, bias=qkv_bias)
        self.k = nn.Linear(channels, 4 * channels, bias=qkv_bias)
        self.v = nn.Linear(channels, channels, bias=qkv_bias)
        self.vector_v = VectorLinear(channels, channels)
        self.out = nn.Linear(channels, channels)
        self.vector_out = VectorLinear(channels, channels)

    def forward(self, h: torch.Tensor, V: torch.Tensor, bias: torch.Tensor):
        B, M, d = h.shape
        H, c = self.num_heads, self.head_channels
        q = self.q(h).view(B, M, H, 4 * c).transpose(1, 2)
        k = self.k(h).view(B, M, H, 4 * c).transpose(1, 2)
        vs = self.v(h).view(B, M, H, c)
        vv = self.vector_v(V).view(B, M, 3, H, c).transpose(2, 3).reshape(B, M, H, 3 * c)
        value = torch.cat([vs, vv], dim=-1).transpose(1, 2)  # [B, H, M, 4c]
        out = F.scaled_dot_product_attention(q, k, value, attn_mask=bias.to(q.dtype))
        out = out.transpose(1, 2)  # [B, M, H, 4c]
        dh = self.out(out[..., :c].reshape(B, M, d))
        dV = self.vector_out(out[..., c:].reshape(B, M, H, 3, c).transpose(2, 3).reshape(B, M, 3, d))
        return dh, dV


class EPTLayer(nn.Module):
    """Pre-norm attention then pre-norm GVP feed-forward, both residual on h and V (the LayerNorm
    acts on h only: a norm over vector channels would not be equivariant unless taken over xyz too).

    Shapes: h [B, M, d], V [B, M, 3, d], bias [B, 1, M, M] -> h, V alike.
    """

    def __init__(self, channels: int, ffn_channels: int, num_heads: int, vector_act: str, qkv_bias: bool):
        super().__init__()
        self.attention_norm = nn.LayerNorm(channels)
        self.attention = EquivariantSelfAttention(channels, num_heads, qkv_bias)
        self.ffn_norm = nn.LayerNorm(channels)
        self.ffn = GVPFeedForward(channels, ffn_channels, vector_act=vector_act)

    def forward(self, h: torch.Tensor, V: torch.Tensor, bias: torch.Tensor):
        dh, dV = self.attention(self.attention_norm(h), V, bias)
        h, V = h + dh, V + dV
        dh, dV = self.ffn(self.ffn_norm(h), V)
        return h + dh, V + dV
