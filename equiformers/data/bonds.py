"""Chemical bonds of molecules: perceived with RDKit, stored in a record, read as edge types.

A record may carry its bonds as ``bond_index`` [2, Nbond] (each bond once, first atom < second)
and ``bond_type`` [Nbond] (:data:`BOND_TYPES`: 0 single, 1 double, 2 triple, 3 aromatic). Models
with bond-type inputs (the SE(3)-Transformer QM9 set-ups) declare it in their
:class:`~equiformers.data.graph.GraphSpec`; the graph then gives every edge the type of its bond,
or :data:`NO_BOND` (4) for a pair that is not bonded (fully connected and radius graphs).

Perception (:func:`perceive_bonds`): connectivity from the geometry (RDKit's connect-the-dots, then
its van der Waals method with covalent-radius factors 1.2, 1.1, 1.3, 1.0), and bond orders

* from a SMILES template when one is given (QM9: the molecule's SMILES from ``qm9pack``; the
  first connectivity onto which the template maps wins — strained cages such as
  bicyclo[1.1.1]pentanes need the tighter factors), else
* from the geometry alone (RDKit's xyz2mol, neutral molecule).

Aromatic bonds are those RDKit's aromaticity model marks after sanitisation (the Kekulé double and
single bonds of benzene become 4 aromatic bonds).
"""

from typing import Dict, Optional, Tuple

import numpy as np
import torch

from ..errors import InvalidStructureError
from ..optional import require
from . import keys as K

BOND_TYPES = ("single", "double", "triple", "aromatic")
NO_BOND = len(BOND_TYPES)  #: edge type of a pair of atoms that is not bonded
_VDW_FACTORS = (1.2, 1.1, 1.3, 1.0)


def _rdkit():
    chem = require("rdkit.Chem", "bond perception")
    require("rdkit.Chem.rdDetermineBonds", "bond perception")
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")  # failed attempts are expected; the final failure is our own error
    return chem


def _bare_molecule(chem, atomic_numbers: np.ndarray, positions: np.ndarray):
    editable = chem.RWMol()
    for z in atomic_numbers:
        editable.AddAtom(chem.Atom(int(z)))
    conformer = chem.Conformer(len(atomic_numbers))
    for i, xyz in enumerate(positions):
        conformer.SetAtomPosition(i, [float(v) for v in xyz])
    editable.AddConformer(conformer)
    return editable.GetMol()


def _connectivities(chem, bare):
    """Candidate bond graphs from the geometry, most standard first."""
    from rdkit.Chem import rdDetermineBonds

    mol = chem.Mol(bare)
    rdDetermineBonds.DetermineConnectivity(mol)
    yield mol
    for factor in _VDW_FACTORS:
        mol = chem.Mol(bare)
        rdDetermineBonds.DetermineConnectivity(mol, useVdw=True, covFactor=factor)
        yield mol


def _with_orders(chem, bare, smiles: Optional[str]):
    from rdkit.Chem import AllChem, rdDetermineBonds

    if smiles is not None:
        template = chem.MolFromSmiles(smiles)
        if template is None:
            raise InvalidStructureError(f"bond perception: RDKit cannot parse the SMILES {smiles!r}")
        template = chem.AddHs(template)
        for mol in _connectivities(chem, bare):
            try:
                out = AllChem.AssignBondOrdersFromTemplate(template, mol)
                chem.SanitizeMol(out)
                return out
            except Exception:  # this connectivity does not match the template; try the next
                continue
    mol = chem.Mol(bare)
    try:
        rdDetermineBonds.DetermineBonds(mol, charge=0)
        chem.SanitizeMol(mol)
        return mol
    except Exception as err:
        what = f"the SMILES {smiles!r} nor the geometry" if smiles else "the geometry"
        raise InvalidStructureError(f"bond perception failed: no valid neutral molecule fits {'neither ' if smiles else ''}{what} "
                                    f"({str(err).strip().splitlines()[0]})") from None


def perceive_bonds(atomic_numbers, positions, smiles: Optional[str] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Bonds of one molecule: ``bond_index`` [2, Nbond] (first < second) and ``bond_type`` [Nbond].

    Args:
        atomic_numbers: [N] ints. positions: [N, 3] in Å.
        smiles: the molecule's SMILES, used as the bond-order template (its connectivity must match
            the geometry's); ``None``: bond orders from the geometry.

    Raises:
        InvalidStructureError: no valid neutral molecule fits (or RDKit missing: DatasetError).

    Example:
        >>> from ase.build import molecule
        >>> co2 = molecule("CO2")
        >>> index, kind = perceive_bonds(co2.numbers, co2.positions)
        >>> index.tolist(), [BOND_TYPES[k] for k in kind.tolist()]
        ([[0, 0], [1, 2]], ['double', 'double'])
    """
    chem = _rdkit()
    numbers = np.asarray(atomic_numbers, dtype=np.int64)
    xyz = np.asarray(positions, dtype=np.float64)
    mol = _with_orders(chem, _bare_molecule(chem, numbers, xyz), smiles)
    order = {chem.BondType.SINGLE: 0, chem.BondType.DOUBLE: 1, chem.BondType.TRIPLE: 2, chem.BondType.AROMATIC: 3}
    pairs, kinds = [], []
    for bond in mol.GetBonds():
        kind = order.get(bond.GetBondType())
        if kind is None:
            raise InvalidStructureError(f"bond perception: bond type {bond.GetBondType()} is not one of {BOND_TYPES}")
        i, j = sorted((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
        pairs.append((i, j))
        kinds.append(kind)
    index = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T.contiguous()
    return index, torch.tensor(kinds, dtype=torch.long)


def with_bonds(record: Dict[str, torch.Tensor], smiles: Optional[str] = None) -> Dict[str, torch.Tensor]:
    """``record`` with ``bond_index`` and ``bond_type`` (a new dict; unchanged if it has them)."""
    if K.BOND_INDEX in record:
        return record
    if bool(record[K.PBC].any()):
        raise InvalidStructureError("chemical bonds are perceived for molecules, not periodic cells")
    out = dict(record)
    out[K.BOND_INDEX], out[K.BOND_TYPE] = perceive_bonds(record[K.ATOMIC_NUMBERS].cpu().numpy(),
                                                         record[K.POSITIONS].detach().cpu().numpy(), smiles)
    return out


def bond_edges(bond_index: torch.Tensor, bond_type: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Both directions of every bond: ``edge_index`` [2, 2 Nbond] and ``edge_type`` [2 Nbond]."""
    edge_index = torch.cat([bond_index, bond_index.flip(0)], dim=1)
    return edge_index, torch.cat([bond_type, bond_type])


def edge_bond_types(edge_index: torch.Tensor, bond_index: torch.Tensor, bond_type: torch.Tensor,
                    num_atoms: int) -> torch.Tensor:
    """The bond type of each edge's atom pair, :data:`NO_BOND` where they are not bonded ([E] int64).

    Example:
        >>> edges = torch.tensor([[0, 1, 0, 2], [1, 0, 2, 0]])
        >>> edge_bond_types(edges, torch.tensor([[0], [1]]), torch.tensor([1]), 3).tolist()
        [1, 1, 4, 4]
    """
    src, dst = edge_index
    edge_key = torch.minimum(src, dst) * num_atoms + torch.maximum(src, dst)
    bond_key = bond_index[0] * num_atoms + bond_index[1]
    order = torch.argsort(bond_key)
    sorted_keys = bond_key[order]
    where = torch.searchsorted(sorted_keys, edge_key).clamp(max=max(len(sorted_keys) - 1, 0))
    out = torch.full_like(src, NO_BOND)
    if len(sorted_keys):
        found = sorted_keys[where] == edge_key
        out[found] = bond_type[order[where[found]]]
    return out
