"""Invariant edge features of the Efficient SE(3)-Transformer: their initial value and update (eq. 27).

The paper only says e_ij is "constructed to be SE(3)-invariant" (its PDBBind inputs follow Jones
et al.). Our default, :class:`EdgeFeatureConfig`: fixed Gaussians of the distance plus the
bond-type one-hot, no learned parameters.
"""

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from ...errors import ConfigError


@dataclass
class EdgeFeatureConfig:
    """Edge features e_ij for ``attention="edge"`` (all of this is our choice; the paper leaves it open).

    Attributes:
        num_rbf: Gaussians of the distance, centres evenly spaced on [0, rbf_cutoff] Å, width the
            spacing. D = num_rbf + num_edge_types (the bond-type one-hot is appended).
        rbf_cutoff: the last centre in Å.
        update_hidden: hidden width of the eq. 27 MLP; ``None`` means D.
        update_layers: linear layers of that MLP (2: ``Linear(D + 2 C_0 -> hidden) act Linear(hidden -> D)``).
        update_activation: ``relu`` (as the rest of the SE(3)-Transformer) or ``silu``.
        update_scalars: ``input``: the degree-0 channels entering the attention block, as eq. 27 writes
            (f_in); ``output``: those leaving it (after the norm non-linearity).
    """

    num_rbf: int = 16
    rbf_cutoff: float = 5.0
    update_hidden: Optional[int] = None
    update_layers: int = 2
    update_activation: str = "relu"
    update_scalars: str = "input"

    def validate(self) -> None:
        if self.num_rbf < 0 or self.rbf_cutoff <= 0:
            raise ConfigError(f"edge_features: num_rbf must be >= 0 and rbf_cutoff > 0 Å, got {self.num_rbf}, "
                              f"{self.rbf_cutoff}")
        if self.update_hidden is not None and self.update_hidden < 1:
            raise ConfigError(f"edge_features.update_hidden must be positive or null, got {self.update_hidden}")
        if self.update_layers < 1:
            raise ConfigError(f"edge_features.update_layers must be >= 1, got {self.update_layers}")
        for key, allowed in (("update_activation", ("relu", "silu")), ("update_scalars", ("input", "output"))):
            if getattr(self, key) not in allowed:
                raise ConfigError(f"edge_features.{key} must be one of {allowed}, got {getattr(self, key)!r}")


class EdgeEmbedding(nn.Module):
    """Initial e_ij: ``[exp(-((r - mu_k) / sigma)^2 / 2) for k] ++ one_hot(bond type)`` (no parameters).

    Shapes: distance [E] (Å), bond one-hot [E, T] or None -> [E, num_rbf + T].
    """

    def __init__(self, config: EdgeFeatureConfig, num_edge_types: int):
        super().__init__()
        self.num_rbf, self.num_edge_types = config.num_rbf, num_edge_types
        self.dim = config.num_rbf + num_edge_types
        self.rbf_cutoff = config.rbf_cutoff
        self.width = config.rbf_cutoff / max(config.num_rbf - 1, 1)

    def forward(self, distance: torch.Tensor, bond_one_hot: Optional[torch.Tensor]) -> torch.Tensor:
        parts = []
        if self.num_rbf:
            # built here in the input's dtype (no buffer: a float32 buffer cast to float64 keeps float32 rounding)
            centres = torch.linspace(0.0, self.rbf_cutoff, self.num_rbf, dtype=distance.dtype, device=distance.device)
            parts.append(torch.exp(-0.5 * ((distance.unsqueeze(-1) - centres) / self.width) ** 2))
        if bond_one_hot is not None:
            parts.append(bond_one_hot)
        return torch.cat(parts, dim=-1)


class EdgeUpdate(nn.Module):
    """Eq. 27: ``e_ij <- e_ij + MLP(e_ij, f_i^0, f_j^0)`` with degree-0 channels of the atoms (the block's input
    by default, see :class:`EdgeFeatureConfig`).

    i receives, j sends (edge j -> i). Shapes: e [E, D], scalars [N, C_0] -> [E, D].
    """

    def __init__(self, edge_dim: int, scalar_channels: int, config: EdgeFeatureConfig):
        super().__init__()
        hidden = config.update_hidden or edge_dim
        widths = [edge_dim + 2 * scalar_channels] + [hidden] * (config.update_layers - 1) + [edge_dim]
        layers = []
        for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:])):
            if i:
                layers.append(nn.ReLU() if config.update_activation == "relu" else nn.SiLU())
            layers.append(nn.Linear(w_in, w_out))
        self.mlp = nn.Sequential(*layers)

    def forward(self, e: torch.Tensor, scalars: torch.Tensor, src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
        return e + self.mlp(torch.cat([e, scalars.index_select(0, dst), scalars.index_select(0, src)], dim=-1))
