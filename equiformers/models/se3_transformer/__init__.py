"""SE(3)-Transformer (Fuchs et al. 2020) and the Efficient SE(3)-Transformer (Qiu, Nisonoff et al.).

Modules: :mod:`.fiber` (channels per degree, layouts), :mod:`.basis` (kernel basis from e3nn's
``wigner_3j`` x spherical harmonics, fused groups), :mod:`.radial` (coefficient networks),
:mod:`.convolution` (TFN and depth-wise kernels as batched products, fusion levels, checkpointing),
:mod:`.attention` (the attention block and the Efficient switches), :mod:`.edges` (e_ij and eq. 27),
:mod:`.layers` (self-interaction, norm non-linearity, pooling), :mod:`.config`, :mod:`.model`.

Where this implementation differs from Fuchs' code, NVIDIA's code or the Efficient paper, and why:

* Basis: ``o3.wigner_3j`` instead of Fuchs' SVD of the Sylvester equation with a disk cache (exact,
  no cache to invalidate); harmonics normalised as NVIDIA (``integral``). The constant (0, 0) kernel
  Y_00 = 1/sqrt(4 pi) is kept (NVIDIA drops it in unfused products but keeps it in fused ones), so
  every fusion level computes the same function.
* Fusion is computation only: the radial-network grouping (``radial.sharing``: Fuchs' one per
  degree pair, one per convolution, or NVIDIA's grouping) is a separate setting, so all fusion
  levels give identical outputs for identical weights. Fused groups need not span degrees 0..L.
* Edge vectors are x_j - x_i (the library's convention); the papers write x_i - x_j. Odd-J kernels
  change sign, which the radial coefficients absorb.
* Final convolution: ``output_pool`` offers both codes' aggregation: Fuchs' mean over neighbours
  plus the self-interaction once per atom (default) and NVIDIA's sum over edges with the
  self-interaction added on every edge (i.e. times the in-degree; the NVIDIA preset).
* Head: the library's shared ``graph_scalar`` MLP (e3nn-normalised SiLU) reads the pooled scalars,
  i.e. MLP(pool(h)) as both codes, but with SiLU where they use ReLU. Bare ``graph_scalar`` heads
  (as tasks declare by default) are given this readout (``model.with_paper_readout``).
* Efficient heads: heads split U's output channels (as SE(3)-T splits value channels) and the
  neighbour sum is kept per head before U, which equals eq. 19 exactly; the paper does not say
  how heads and U interact. Keys of the dot-product variant use separable kernels too.
* Efficient open choices (paper section 7.4 of the reference), each configurable: e_ij = Gaussians
  of the distance plus the bond one-hot; eq. 27 MLP width D, 2 layers, ReLU, reading the block's
  input scalars; no edge update after the last block (nothing reads it); U per output degree; the
  final convolution is separable too; radial networks read (bond one-hot, distance), not e_ij.
* QM9 inputs: bond orders come from RDKit with each molecule's qm9pack SMILES as the template
  (Fuchs and DGL read them from preprocessed files of undocumented origin); aromatic bonds are
  RDKit's aromaticity model. NVIDIA's split is reproduced by procedure (``random_split``, seed 0),
  which selects the same molecules only if DGL orders QM9 as qm9pack does. PDBBind inputs: element
  one-hot, not SG-CNN's 20 features (no loader for them yet); the 1.5 Å covalent graph is an edge
  type on the 4.5 Å graph (``edge_types: covalent``), not a second message-passing graph.
* Not implemented: NVIDIA's AMP/TF32 "pad trick", edge features of degree > 0, precomputed bases
  on disk; Fuchs' ``GAttentiveSelfInt``; a per-channel (uvu) depth-wise kernel.
"""

from .attention import AttentionBlock
from .basis import BasisGroup, KernelBases
from .config import SE3TransformerConfig
from .convolution import EquivariantConvolution
from .fiber import Fiber
from .model import SE3Transformer

__all__ = ["AttentionBlock", "BasisGroup", "EquivariantConvolution", "Fiber", "KernelBases", "SE3Transformer",
           "SE3TransformerConfig"]
