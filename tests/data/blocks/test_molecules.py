"""Small molecules: one heavy atom with its hydrogens per block, from ASE, RDKit, SDF, MOL2 and SMILES."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule

from equiformers.data.blocks import from_ase, from_smiles, read_mol2, read_sdf, small_molecule_blocks
from equiformers.data.blocks import vocabulary as V
from equiformers.errors import DatasetError, InvalidStructureError


def block_sizes(structure):
    return sorted(np.bincount(structure.block_of_atom).tolist())


def test_ase_molecule_blocks():
    s = from_ase(molecule("CH3CH2OH"))
    assert s.num_blocks == 3 and block_sizes(s) == [2, 3, 4]
    assert sorted(V.BLOCKS[int(b)][0] for b in s.block_types) == ["c", "c", "o"]
    assert set(s.position_codes.tolist()) == {V.position_index("sml")}
    heavy_only = from_ase(molecule("CH3CH2OH"), hydrogens=False)
    assert heavy_only.num_atoms == 3 and heavy_only.num_blocks == 3


def test_hydrogen_without_heavy_partner_is_its_own_block():
    s = from_ase(Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]]))
    assert s.num_blocks == 2 and [V.BLOCKS[int(b)][0] for b in s.block_types] == ["h", "h"]
    far = from_ase(Atoms("OH", positions=[[0, 0, 0], [0, 0, 4.0]]))  # a proton 4 Å away is not bonded
    assert far.num_blocks == 2


def test_rdkit_bonds_decide_and_agree_with_geometry():
    pytest.importorskip("rdkit")
    s = from_smiles("CC(=O)NC", seed=1)
    assert s.num_blocks == 5 and s.num_atoms == 12
    geometric = small_molecule_blocks(s.atomic_numbers, s.positions)
    assert np.array_equal(geometric.block_of_atom, s.block_of_atom)
    record = s.to_record()
    assert record["block_index"].tolist() == s.block_of_atom.tolist()
    assert record["atom_token"].tolist() == (torch.from_numpy(s.atomic_numbers) + 2).tolist()


def test_sdf_and_mol2_readers(tmp_path):
    pytest.importorskip("rdkit")
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles("c1ccccc1O"))
    AllChem.EmbedMolecule(mol, randomSeed=0)
    writer = Chem.SDWriter(str(tmp_path / "phenol.sdf"))
    writer.write(mol), writer.write(mol)
    writer.close()
    structures = read_sdf(tmp_path / "phenol.sdf")
    assert len(structures) == 2 and structures[0].num_blocks == 7 and structures[0].num_atoms == 13
    (tmp_path / "bad.sdf").write_text("not a molecule\n$$$$\n")
    with pytest.raises(InvalidStructureError, match="could not be parsed"):
        read_sdf(tmp_path / "bad.sdf")
    with pytest.raises(DatasetError, match="not found"):
        read_sdf(tmp_path / "missing.sdf")
    (tmp_path / "bad.mol2").write_text("@<TRIPOS>MOLECULE\nbroken\n")
    with pytest.raises(InvalidStructureError, match="MOL2"):
        read_mol2(tmp_path / "bad.mol2")


def test_mol2_reader_on_a_real_file():
    pytest.importorskip("rdkit")
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("MDAnalysisTests")  # optional test data
    if spec is None:
        pytest.skip("pip install mdanalysistests for this test")
    for path in sorted((Path(spec.origin).parent / "data" / "mol2").glob("*.mol2")):
        try:
            s = read_mol2(path, sanitize=False)
        except InvalidStructureError:
            continue
        lone_hydrogens = sum(1 for b in range(s.num_blocks) if V.BLOCKS[int(s.block_types[b])][0] == "h")
        assert s.num_blocks == int((s.atomic_numbers > 1).sum()) + lone_hydrogens
        return
    pytest.skip("no MOL2 file RDKit can read")


def test_invalid_smiles_is_a_clear_error():
    pytest.importorskip("rdkit")
    with pytest.raises(InvalidStructureError, match="invalid SMILES"):
        from_smiles("C1CC(")
