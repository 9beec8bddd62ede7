"""Blocks for atomic-data records that lack them, so a block model takes any structure.

Policy (:func:`ensure_blocks`):

* a record without ``block_index`` (e.g. from ``from_ase``) is tokenised as a small molecule: one
  block per heavy atom with the hydrogens within bonding distance (:mod:`.molecules`);
* a record with ``block_index`` but without ``atom_token`` was blocked by another tokeniser, whose
  ``block_type`` numbering is unknown here: its blocks are kept and re-typed (a block with one heavy
  atom -> that element's block, a lone hydrogen -> ``h``, anything else -> UNK), every atom at
  position ``sml``;
* missing ``position_code`` -> ``sml``; missing ``segment`` -> 0. Records made by
  :meth:`BlockStructure.to_record` already have everything and pass unchanged.
"""

import torch

from .. import keys as K
from ..atomic_data import AtomicData
from . import vocabulary as V
from .molecules import small_molecule_blocks


def ensure_blocks(record: AtomicData) -> AtomicData:
    """``record`` with every block key EPT reads (a new dict; see the module for the policy).

    Example:
        >>> from ase.build import molecule
        >>> from equiformers.data import from_ase
        >>> out = ensure_blocks(from_ase(molecule("H2O")))
        >>> out["block_type"].tolist(), out["atom_token"].tolist(), out["position_code"].tolist()
        ([31], [10, 3, 3], [13, 13, 13])
    """
    out = dict(record)
    z = record[K.ATOMIC_NUMBERS]
    if K.BLOCK_INDEX not in out:
        blocks = small_molecule_blocks(z.cpu().numpy(), record[K.POSITIONS].detach().cpu().numpy())
        device = z.device
        out[K.BLOCK_INDEX] = torch.from_numpy(blocks.block_of_atom).to(device)
        out[K.BLOCK_TYPE] = torch.from_numpy(blocks.block_types).to(device)
        out[K.NUM_BLOCKS] = torch.tensor([blocks.num_blocks], device=device)
        out.pop(K.ATOM_TOKEN, None)
    if K.ATOM_TOKEN not in out:
        out[K.BLOCK_TYPE] = _retype(z, out[K.BLOCK_INDEX], int(out[K.NUM_BLOCKS].sum()))
        out[K.ATOM_TOKEN] = z + 2  # atom vocabulary: Z -> Z + 2
        out[K.POSITION_CODE] = torch.full_like(z, V.position_index(V.POS_SMALL_MOLECULE))
    if K.POSITION_CODE not in out:
        out[K.POSITION_CODE] = torch.full_like(z, V.position_index(V.POS_SMALL_MOLECULE))
    if K.SEGMENT not in out:
        out[K.SEGMENT] = torch.zeros_like(out[K.BLOCK_TYPE])
    return out


def _retype(z: torch.Tensor, block_index: torch.Tensor, num_blocks: int) -> torch.Tensor:
    """[Nb] element block of each block's single heavy atom (or lone hydrogen); UNK otherwise."""
    heavy = (z > 1).long()
    n_heavy = torch.zeros(num_blocks, dtype=torch.long, device=z.device).index_add(0, block_index, heavy)
    n_atoms = torch.zeros(num_blocks, dtype=torch.long, device=z.device).index_add(0, block_index, torch.ones_like(z))
    heavy_z = torch.zeros(num_blocks, dtype=torch.long, device=z.device).index_add(0, block_index, z * heavy)
    element = torch.where(n_heavy == 1, heavy_z, torch.where((n_heavy == 0) & (n_atoms == 1), torch.ones_like(heavy_z),
                                                             torch.zeros_like(heavy_z)))
    return torch.where(element > 0, V.FIRST_ELEMENT_BLOCK + element - 1,
                       torch.full_like(element, V.block_index(V.UNK)))
