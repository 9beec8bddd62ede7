"""Initial node features: atom-type embedding plus edge-degree embedding."""

import torch
from e3nn import o3
from torch import nn

from ...nn import DepthwiseTensorProduct, EquivariantLinear, RadialMLP
from ...nn.frame_product import FramedProductLinear
from ...ops.irreps import SCALAR
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

    Shapes: sh [E, irreps_sh.dim] (or ``frame``, an :class:`~equiformers.so3.irreps_frame.EdgeFrame`,
    where only the lifted scalars' paths are computed), edge_scalars [E, num_basis], edge_dst [E]
    -> [N, irreps_out.dim].
    """

    def __init__(self, irreps_out, irreps_sh, radial_widths, avg_degree: float):
        super().__init__()
        irreps_out = o3.Irreps(irreps_out)
        self.lift = EquivariantLinear("1x0e", irreps_out)
        self.dtp = DepthwiseTensorProduct(irreps_out, irreps_sh, irreps_out, internal_weights=False)
        self.radial = RadialMLP(list(radial_widths) + [self.dtp.weight_numel])
        self.linear = EquivariantLinear(self.dtp.irreps_out.simplify(), irreps_out)
        # the lifted constant is zero outside its 0e entries (a linear map from 1x0e)
        self.zero_entries = [i for i, (_, ir) in enumerate(irreps_out) if ir != SCALAR]
        self.in_frame = FramedProductLinear(self.dtp, [self.linear], zero_inputs=self.zero_entries)
        self.avg_degree = float(avg_degree)
        self.irreps_out = irreps_out

    def unused_parameters(self):
        """Names of the weights that only ever multiply the constant's zero entries (with
        ``symmetry: e3``, e.g. the 0o outputs: no path from 0e reaches them, in the reference too):
        their gradient is always zero (the e3nn path) or absent (the edge-frame path skips them)."""
        return [f"linear.weights.{index}" for _, index in self.in_frame.unused_consumer_weights]

    def forward(self, sh, edge_scalars, edge_src, edge_dst, num_nodes: int, edge_weight=None,
                frame=None) -> torch.Tensor:
        """``edge_weight`` [E], optional: multiplies each edge's contribution (a cutoff envelope)."""
        num_edges = edge_scalars.shape[0]
        constant = self.lift(edge_scalars.new_ones(1, 1))  # the same feature for every atom
        if frame is None:
            edge_features = self.dtp(constant.expand(num_edges, -1), sh, self.radial(edge_scalars))
            edge_features = self.linear(edge_features)
        else:
            # the constant is invariant: the same blocks in every frame (l = 0 entries only)
            blocks = [None if i in self.zero_entries else chunk.reshape(1, 1, -1).expand(num_edges, 1, -1)
                      for i, chunk in enumerate(constant.split([mul * ir.dim for mul, ir in self.irreps_out], -1))]
            blocks = self.in_frame(blocks, [self.linear], self.radial(edge_scalars))[0]
            edge_features = frame.rotate_out(blocks, self.irreps_out)
        if edge_weight is not None:
            edge_features = edge_features * edge_weight.unsqueeze(-1)
        return scatter_sum(edge_features, edge_dst, num_nodes) / self.avg_degree ** 0.5
