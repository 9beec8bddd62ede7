"""Initial node features: atom-type embedding plus edge-degree embedding."""

import torch
from e3nn import o3
from torch import nn

from ...nn import DepthwiseTensorProduct, EquivariantLinear, RadialMLP
from ...ops.scatter import scatter_sum


class AtomEmbedding(nn.Module):
    """One-hot atom type -> equivariant linear map (only ``0e`` channels are non-zero).

    As in the reference, the weight is multiplied by ``sqrt(num_types)`` at
    initialisation so that embeddings have unit scale.

    Shapes: types [N] (from the model's type map) -> [N, irreps_out.dim].
    """

    def __init__(self, num_types: int, irreps_out):
        super().__init__()
        self.num_types = num_types
        self.linear = EquivariantLinear(f"{self.num_types}x0e", irreps_out)
        with torch.no_grad():
            for w in self.linear.weights:
                w.mul_(self.num_types ** 0.5)
        self.irreps_out = self.linear.irreps_out

    def forward(self, types: torch.Tensor) -> torch.Tensor:
        one_hot = nn.functional.one_hot(types, self.num_types).to(self.linear.weights[0].dtype)
        return self.linear(one_hot)


class EdgeDegreeEmbedding(nn.Module):
    """Equiformer's edge-degree embedding: gives every atom l > 0 features from its neighbourhood.

    A constant scalar feature is lifted to the node irreps, combined with the
    edge spherical harmonics in a depth-wise tensor product whose weights come
    from the radial MLP, linearly mixed, summed over incoming edges and
    divided by ``sqrt(avg_degree)``.

    Shapes: sh [E, irreps_sh.dim], edge_scalars [E, num_basis], edge_dst [E]
    -> [N, irreps_out.dim].
    """

    def __init__(self, irreps_out, irreps_sh, radial_widths, avg_degree: float):
        super().__init__()
        irreps_out = o3.Irreps(irreps_out)
        self.lift = EquivariantLinear("1x0e", irreps_out)
        self.dtp = DepthwiseTensorProduct(irreps_out, irreps_sh, irreps_out, internal_weights=False)
        self.radial = RadialMLP(list(radial_widths) + [self.dtp.weight_numel])
        self.linear = EquivariantLinear(self.dtp.irreps_out.simplify(), irreps_out)
        self.avg_degree = float(avg_degree)
        self.irreps_out = irreps_out

    def forward(self, sh, edge_scalars, edge_src, edge_dst, num_nodes: int, edge_weight=None) -> torch.Tensor:
        """``edge_weight`` [E], optional: multiplies each edge's contribution (a cutoff envelope)."""
        constant = self.lift(sh.new_ones(1, 1))  # the same feature for every atom
        edge_features = self.dtp(constant.expand(sh.shape[0], -1), sh, self.radial(edge_scalars))
        edge_features = self.linear(edge_features)
        if edge_weight is not None:
            edge_features = edge_features * edge_weight.unsqueeze(-1)
        return scatter_sum(edge_features, edge_dst, num_nodes) / self.avg_degree ** 0.5
