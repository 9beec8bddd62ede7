"""Direct stress of fairchem's OMat24 ``eqV2_*`` models: the rank-2 symmetric head, decomposed into an
isotropic (l = 0) and an anisotropic (l = 2) part. Declared in a model spec as::

    heads:
      stress: {type: eqv2_stress, source_target_embedding: true}    # [B, 3, 3], eV/Å³

Per edge (source j -> target i, vector r = x_j - x_i + shift): the node sphere features of i (and of
j, ``source_target_embedding``) are contracted with the layer-normalised spherical harmonics of the
*unnormalised* r over all coefficients, then layer-normalised: a scalar edge feature e [E, C']. Atom i
averages e (isotropic path) and Y₂(r̂) ⊗ e (anisotropic path) over its incoming edges; a
Linear-SiLU-Linear network maps each to one number (one per l = 2 component); the graph averages
over atoms. The two parts are then scaled by the checkpoint's normalizers (``stress_isotropic``,
``stress_anisotropic``: ``raw * rmsd + mean``) and assembled into the Cartesian tensor with the
fixed l = 0 ⊕ l = 2 change of basis (:data:`IRREPS_TO_CARTESIAN`; the antisymmetric l = 1 part is
zero). Equivariant because every non-linearity acts on invariants and Y₂ carries the direction.

fairchem's variants that no released model uses (no decomposition, edge-level MLPs, extensive
pooling, other MLP depths) are refused by the checkpoint converter.
"""

import math
from typing import Dict

import torch
from e3nn import o3
from torch import nn

from ...data import keys as K
from ...ops.scatter import scatter_mean
from ..geometry import edge_vectors
from ..heads import OutputInfo
from .norm import build_norm
from .sphere import constant_buffer

_R2, _R3, _R6 = 1 / math.sqrt(2), 1 / math.sqrt(3), 1 / math.sqrt(6)
#: rows: l = 0 (1), l = 1 (3, antisymmetric), l = 2 (5) in e3nn's order; columns: xx xy xz yx yy yz zx zy zz
IRREPS_TO_CARTESIAN = (
    (_R3, 0, 0, 0, _R3, 0, 0, 0, _R3),
    (0, 0, 0, 0, 0, _R2, 0, -_R2, 0),
    (0, 0, -_R2, 0, 0, 0, _R2, 0, 0),
    (0, _R2, 0, -_R2, 0, 0, 0, 0, 0),
    (0, 0, _R2, 0, 0, 0, _R2, 0, 0),
    (0, _R2, 0, _R2, 0, 0, 0, 0, 0),
    (-_R6, 0, 0, 0, 2 * _R6, 0, 0, 0, -_R6),
    (0, 0, 0, 0, 0, _R2, 0, _R2, 0),
    (-_R2, 0, 0, 0, 0, 0, 0, 0, _R2),
)


def _mlp(channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(channels, channels), nn.SiLU(), nn.Linear(channels, 1))


class _Rank2Block(nn.Module):
    """The two networks (names as fairchem's, so checkpoints map one to one)."""

    def __init__(self, channels: int):
        super().__init__()
        self.scalar_MLP, self.irrep2_MLP = _mlp(channels), _mlp(channels)


class StressHead(nn.Module):
    """Shapes: features["node_sphere"] [N, (lmax+1)², C] -> {output: [B, 3, 3]} (eV/Å³)."""

    def __init__(self, spec, backbone):
        super().__init__()
        c = backbone.config
        self.output, self.lmax = spec.outputs[0], c.lmax
        self.source_target = spec.source_target_embedding
        channels = 2 * c.sphere_channels if self.source_target else c.sphere_channels
        self.sphharm_norm = build_norm(c.norm_type, c.lmax, 1)
        self.xedge_layer_norm = nn.LayerNorm(channels)
        self.block = _Rank2Block(channels)
        # normalizers of the two parts (raw * scale + shift), set from a checkpoint; identity by default
        self.register_buffer("part_scale", torch.ones(2))
        self.register_buffer("part_shift", torch.zeros(2))
        # a derived constant, rebuilt exactly by model.double() (not float32 values cast up)
        constant_buffer(self, "irreps_to_cartesian",
                        lambda dtype, device: torch.tensor(IRREPS_TO_CARTESIAN, dtype=dtype, device=device))

    def output_info(self) -> Dict[str, OutputInfo]:
        return {self.output: OutputInfo("graph", "tensor")}

    def set_normalizers(self, isotropic=(0.0, 1.0), anisotropic=(0.0, 1.0)) -> None:
        """(mean, rmsd) of fairchem's ``stress_isotropic`` and ``stress_anisotropic`` normalizers."""
        with torch.no_grad():
            self.part_shift.copy_(torch.tensor([isotropic[0], anisotropic[0]]))
            self.part_scale.copy_(torch.tensor([isotropic[1], anisotropic[1]]))

    def forward(self, data: Dict[str, torch.Tensor], features) -> Dict[str, torch.Tensor]:
        x = features["node_sphere"]
        vectors = edge_vectors(data, x.dtype)
        source, target = data[K.EDGE_INDEX]
        n_atoms, n_graphs = x.shape[0], data[K.NUM_ATOMS].shape[0]
        weights = o3.spherical_harmonics(list(range(self.lmax + 1)), vectors, normalize=False)
        weights = self.sphharm_norm(weights.unsqueeze(-1)).squeeze(-1)  # [E, (lmax+1)²]
        x_edge = x[target] if not self.source_target else torch.cat([x[source], x[target]], dim=2)
        x_edge = self.xedge_layer_norm(torch.einsum("ekc,ek->ec", x_edge, weights))  # [E, C']
        y2 = o3.spherical_harmonics(2, vectors, normalize=True)  # [E, 5]
        node_scalar = self.block.scalar_MLP(scatter_mean(x_edge, target, n_atoms))  # [N, 1]
        node_irrep2 = self.block.irrep2_MLP(scatter_mean(y2.unsqueeze(-1) * x_edge.unsqueeze(1), target, n_atoms))
        isotropic = scatter_mean(node_scalar, data[K.BATCH], n_graphs)  # [B, 1]
        anisotropic = scatter_mean(node_irrep2.squeeze(-1), data[K.BATCH], n_graphs)  # [B, 5]
        isotropic = isotropic * self.part_scale[0] + self.part_shift[0]
        anisotropic = anisotropic * self.part_scale[1] + self.part_shift[1]
        irreps = torch.cat([isotropic, anisotropic.new_zeros(n_graphs, 3), anisotropic], dim=1)  # [B, 9]
        stress = irreps @ self.irreps_to_cartesian.to(irreps.dtype)
        return {self.output: stress.view(n_graphs, 3, 3)}
