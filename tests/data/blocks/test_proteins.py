"""PDB/mmCIF reading through gemmi: the stated policy, round trips on a real file, clear errors."""

from pathlib import Path

import numpy as np
import pytest

from equiformers.data.blocks import read_protein, write_pdb
from equiformers.data.blocks import vocabulary as V
from equiformers.errors import ConfigError, DatasetError, InvalidStructureError

gemmi = pytest.importorskip("gemmi")
FIXTURE = Path(__file__).parents[2] / "fixtures" / "blocks" / "1hvr_cut.pdb"  # cut of PDB 1HVR (MDAnalysisTests)
AMINO = {V.residue_block(a) for _, a in V.AMINO_ACIDS}


def residue_keys(structure):
    return sorted({(lab.chain, lab.number, lab.insertion, lab.name) for lab in structure.labels})


def test_real_pdb_residues_chains_and_ligands():
    s = read_protein(FIXTURE)
    keys = residue_keys(s)
    assert len(keys) == 55 and {k[0] for k in keys} == {"A", "B"}
    amino = [b for b in range(s.num_blocks) if s.block_types[b] in AMINO]
    assert len(amino) == 52  # 26 standard residues per chain
    # the modified residue CSO (x2, 7 heavy atoms) and the ligand XK2 (46 heavy atoms) are small-molecule blocks
    small = [s.labels[b].name for b in range(s.num_blocks) if s.block_types[b] not in AMINO]
    lines = [line for line in FIXTURE.read_text().splitlines() if line.startswith(("ATOM", "HETATM"))]
    heavy = [line for line in lines if line[76:78].strip() != "H"]
    assert small.count("CSO") == sum(line[17:20] == "CSO" for line in heavy) == 14
    assert small.count("XK2") == sum(line[17:20] == "XK2" for line in heavy) == 46
    assert (s.atomic_numbers > 1).all() and s.num_atoms == len(heavy) < len(lines)
    assert read_protein(FIXTURE, hydrogens=True).num_atoms == len(lines)
    ca = [i for i, n in enumerate(s.atom_names) if n == "CA" and s.block_types[s.block_of_atom[i]] in AMINO]
    assert len(ca) == 52 and all(s.position_codes[i] == V.position_index("A") for i in ca)


def test_official_unk_policy_and_errors():
    unk = read_protein(FIXTURE, unknown_residues="unk")
    assert len(residue_keys(unk)) == unk.num_blocks == 55
    assert sum(int(b == V.block_index("?")) for b in unk.block_types) == 3
    skipped = read_protein(FIXTURE, unknown_residues="skip")
    assert skipped.num_blocks == 52
    with pytest.raises(InvalidStructureError, match="CSO A67"):
        read_protein(FIXTURE, unknown_residues="error")
    with pytest.raises(ConfigError):
        read_protein(FIXTURE, unknown_residues="maybe")


def test_chain_selection_segments_and_limits():
    only_b = read_protein(FIXTURE, chains=["B"])
    assert {lab.chain for lab in only_b.labels} == {"B"} and only_b.num_blocks == 26 + 7
    by_chain = read_protein(FIXTURE, segment_by="chain")
    assert sorted(set(by_chain.segments.tolist())) == [0, 1]
    with pytest.raises(DatasetError, match=r"chain\(s\) \['C'\]"):
        read_protein(FIXTURE, chains=["C"])
    with pytest.raises(InvalidStructureError, match="above the limit"):
        read_protein(FIXTURE, max_atoms=100)
    with pytest.raises(InvalidStructureError, match="above the limit"):
        read_protein(FIXTURE).to_record(max_blocks=50)


@pytest.mark.parametrize("suffix", [".pdb", ".cif"])
def test_round_trip(tmp_path, suffix):
    s = read_protein(FIXTURE)
    path = write_pdb(s, tmp_path / "out.pdb")
    if suffix == ".cif":  # through mmCIF as well
        st = gemmi.read_structure(str(path))
        st.setup_entities()
        st.make_mmcif_document().write_file(str(tmp_path / "out.cif"))
        path = tmp_path / "out.cif"
    again = read_protein(path)
    assert residue_keys(again) == residue_keys(s) and again.num_blocks == s.num_blocks
    assert np.allclose(again.positions, s.positions, atol=1e-3)
    assert np.array_equal(again.block_types, s.block_types) and np.array_equal(again.position_codes, s.position_codes)


PDB_POLICY = """\
ATOM      1  N   ALA A   1       0.000   0.000   0.000  1.00  0.00           N
ATOM      2  CA AALA A   1       1.450   0.000   0.000  0.60  0.00           C
ATOM      3  CA BALA A   1       1.500   0.200   0.000  0.40  0.00           C
ATOM      4  C   ALA A   1       2.000   1.400   0.000  1.00  0.00           C
ATOM      5  H   ALA A   1      -0.500   0.800   0.000  1.00  0.00           H
ATOM      6  N   GLY A   1A      3.300   1.600   0.000  1.00  0.00           N
ATOM      7  CA  GLY A   1A      3.900   2.900   0.000  1.00  0.00           C
HETATM    8  O   HOH A 101       8.000   8.000   8.000  1.00  0.00           O
HETATM    9 ZN    ZN A 102       6.000   6.000   6.000  1.00  0.00          ZN
ATOM     10  P    DA B   1      10.000   0.000   0.000  1.00  0.00           P
END
"""


def test_policy_altloc_insertion_hydrogen_water_nucleotide(tmp_path):
    path = tmp_path / "policy.pdb"
    path.write_text(PDB_POLICY)
    s = read_protein(path)
    assert [(lab.number, lab.insertion, lab.name) for lab in s.labels] == [(1, "", "ALA"), (1, "A", "GLY"),
                                                                         (102, "", "ZN"), (1, "", "DA")]
    assert s.num_atoms == 7  # first altloc only, no hydrogen, no water
    assert np.allclose(s.positions[s.atom_names.index("CA")], [1.45, 0, 0])
    assert [V.BLOCKS[int(b)][0] for b in s.block_types] == ["A", "G", "zn", "DA"]
    kept = read_protein(path, hydrogens=True, waters=True)
    assert kept.num_atoms == 9 and "HOH" in {lab.name for lab in kept.labels}


def test_malformed_and_missing_files(tmp_path, monkeypatch):
    with pytest.raises(DatasetError, match="not found"):
        read_protein(tmp_path / "nope.pdb")
    (tmp_path / "empty.pdb").write_text("")
    with pytest.raises(InvalidStructureError):
        read_protein(tmp_path / "empty.pdb")
    (tmp_path / "junk.cif").write_text("data_x\n_atom_site.id\nloop_ garbage ' unterminated\n")
    with pytest.raises(InvalidStructureError):
        read_protein(tmp_path / "junk.cif")
    import sys

    monkeypatch.setitem(sys.modules, "gemmi", None)  # as if gemmi were not installed
    with pytest.raises(DatasetError, match=r"equiformers\[bio\]"):
        read_protein(FIXTURE)


def test_ase_structure_with_residue_annotations_matches_gemmi():
    import ase.io

    from equiformers.data.blocks import from_ase

    atoms = ase.io.read(FIXTURE)  # ASE's PDB reader keeps residue names/numbers and atom names, not chains
    via_ase, via_gemmi = from_ase(atoms, hydrogens=False), read_protein(FIXTURE)
    assert via_ase.num_blocks == via_gemmi.num_blocks and via_ase.num_atoms == via_gemmi.num_atoms
    # gemmi files the ligand under its chain, ASE keeps file order: compare as multisets
    def per_atom(s):
        return sorted((s.labels[s.block_of_atom[i]].number, s.labels[s.block_of_atom[i]].name, s.atom_names[i],
                       int(s.block_types[s.block_of_atom[i]]), int(s.position_codes[i])) for i in range(s.num_atoms))

    assert per_atom(via_ase) == per_atom(via_gemmi)


def test_files_without_element_columns_and_force_field_names(tmp_path):
    charmm = ("ATOM      1  N   HSD A   1       0.000   0.000   0.000  1.00  0.00\n"
              "ATOM      2  HN  HSD A   1      -0.500   0.800   0.000  1.00  0.00\n"
              "ATOM      3  CA  HSD A   1       1.450   0.000   0.000  1.00  0.00\n"
              "ATOM      4  HT1 HSD A   1       0.000  -1.000   0.000  1.00  0.00\nEND\n")
    (tmp_path / "charmm.pdb").write_text(charmm)
    s = read_protein(tmp_path / "charmm.pdb", hydrogens=True)
    assert [V.BLOCKS[int(b)][1] for b in s.block_types] == ["HIS"]
    assert s.atomic_numbers.tolist() == [7, 1, 6, 1]


def test_real_md_protein_without_element_columns():
    import importlib.util

    spec = importlib.util.find_spec("MDAnalysisTests")  # optional test data: ~170 real PDB files
    if spec is None:
        pytest.skip("pip install mdanalysistests for this test")
    s = read_protein(Path(spec.origin).parent / "data" / "adk_open.pdb")  # CHARMM names, no element column
    assert s.num_blocks == 214 and all(b in AMINO for b in s.block_types)
    assert (s.atomic_numbers > 1).all()
