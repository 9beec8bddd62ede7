"""The suite block models pass (atoms grouped into residues or fragments, as EPT's blocks)."""

import torch

from ...data import collate, from_ase
from ...data.transforms import permute_blocks
from ..structures import heavy_atom_blocks, rattled_molecules
from .basic import BasicModelSuite
from .common import relative_error


class BlockModelSuite(BasicModelSuite):
    """Every basic check on structures with blocks (one per heavy atom and its hydrogens; override
    :meth:`blocks` for another tokenisation), plus invariance under relabelling the blocks."""

    def blocks(self, record):
        return heavy_atom_blocks(record)

    def batch(self, model, structures):
        return collate([model.prepare(self.blocks(from_ase(a))) for a in structures])

    def test_block_relabelling_invariant(self, model_spec):
        model = self.build(model_spec)
        data = self.batch(model, rattled_molecules(["CH3CONH2"]))
        perm = torch.randperm(int(data["num_blocks"]), generator=torch.Generator().manual_seed(5))
        assert not torch.equal(perm, torch.arange(len(perm)))
        moved = permute_blocks(data, perm)
        assert relative_error(self.outputs(model, moved), self.outputs(model, data)) < 1e-12
