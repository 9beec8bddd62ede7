"""Rotations of irreps-layout edge features into and out of edge frames.

Irreps features (e3nn's flat "mul_ir" layout: each entry ``mul x l`` is [mul, 2l+1]) are rotated
into each edge's frame (:func:`~equiformers.so3.frames.edge_frames`: the edge along +y) by the
degree-l Wigner matrices D_l(R). In the frame each entry is kept as a block [E, 2l+1, mul]
("order-major": one contiguous [E, mul] slice per order m), the layout in which the edge-frame
tensor products of :mod:`equiformers.nn.frame_product` read and write single orders. A block may
be ``None``: an entry known to be zero (no work is spent on it).

Frames are proper rotations, so odd-parity entries rotate like even ones. Everything is
differentiable in the edge vectors (no ``.detach()``): forces differentiate through the frames.
"""

from typing import List, NamedTuple, Optional, Sequence

import torch
from e3nn import o3

from .frames import edge_frames
from .wigner import wigner_D_blocks

FrameBlocks = List[Optional[torch.Tensor]]


class EdgeFrame(NamedTuple):
    """Wigner matrices of every edge's frame, ``wigner[l]`` [E, 2l+1, 2l+1] for l = 0..lmax.

    Built once per forward pass (:meth:`from_vectors`) and shared by every layer.

    Example:
        >>> frame = EdgeFrame.from_vectors(torch.tensor([[0.3, -1.0, 2.0]]), lmax=1)
        >>> x = torch.tensor([[2.0, 0.3, -1.0, 2.0]])  # 1x0e + the edge vector as 1x1o
        >>> blocks = frame.rotate_in(x, "1x0e+1x1o")
        >>> [tuple(b.shape) for b in blocks], round(float(blocks[1][0, 1, 0]), 4)  # all along +y
        ([(1, 1, 1), (1, 3, 1)], 2.2561)
        >>> torch.allclose(frame.rotate_out(blocks, "1x0e+1x1o"), x, atol=1e-6)
        True
    """

    wigner: Sequence[torch.Tensor]

    @classmethod
    def from_vectors(cls, vectors: torch.Tensor, lmax: int, roll: str = "fixed") -> "EdgeFrame":
        """Frames of edge vectors [E, 3] (non-zero), with Wigner matrices up to degree ``lmax``."""
        return cls(tuple(wigner_D_blocks(lmax, edge_frames(vectors, roll))))

    @property
    def lmax(self) -> int:
        return len(self.wigner) - 1

    def rotate_in(self, x: torch.Tensor, irreps) -> FrameBlocks:
        """Flat global features [E, irreps.dim] -> one block [E, 2l+1, mul] per irreps entry."""
        irreps = o3.Irreps(irreps)
        blocks = []
        for (mul, ir), chunk in zip(irreps, x.split([mul * ir.dim for mul, ir in irreps], dim=-1)):
            field = chunk.reshape(x.shape[0], mul, ir.dim).transpose(1, 2)
            blocks.append(field if ir.l == 0 else torch.bmm(self.wigner[ir.l], field))
        return blocks

    def rotate_out(self, blocks: FrameBlocks, irreps) -> torch.Tensor:
        """Blocks [E, 2l+1, mul] (``None``: zero) -> flat global features [E, irreps.dim]."""
        irreps = o3.Irreps(irreps)
        pieces = []
        for (mul, ir), block in zip(irreps, blocks):
            if block is None:
                pieces.append(self.wigner[0].new_zeros(self.wigner[0].shape[0], mul * ir.dim))
                continue
            field = block.transpose(1, 2)  # [E, mul, 2l+1]
            if ir.l > 0:
                field = torch.bmm(field, self.wigner[ir.l])  # (Dᵀ y)ᵀ = yᵀ D
            pieces.append(field.reshape(block.shape[0], mul * ir.dim))
        return torch.cat(pieces, dim=-1) if len(pieces) > 1 else pieces[0]
