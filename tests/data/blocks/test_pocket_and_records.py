"""Pocket cropping, complexes, records, the official flat format, and block-aware batching."""

from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import molecule

from equiformers.data import collate, from_ase as record_from_ase
from equiformers.data.blocks import (concatenate, crop_pocket, ensure_blocks, from_ase, pocket_complex,
                                     read_protein)
from equiformers.data.blocks import vocabulary as V
from equiformers.data.transforms import permute_blocks
from equiformers.errors import InvalidStructureError

FIXTURE = Path(__file__).parents[2] / "fixtures" / "blocks" / "1hvr_cut.pdb"


@pytest.fixture(scope="module")
def protein_and_ligand():
    pytest.importorskip("gemmi")
    s = read_protein(FIXTURE)
    ligand_blocks = [b for b in range(s.num_blocks) if s.labels[b].name == "XK2"]
    protein_blocks = [b for b in range(s.num_blocks) if s.labels[b].name != "XK2"]
    return s.select_blocks(protein_blocks), s.select_blocks(ligand_blocks)


def test_pocket_is_exactly_the_residues_within_the_cutoff(protein_and_ligand):
    protein, ligand = protein_and_ligand
    pocket = crop_pocket(protein, ligand, cutoff=6.0)
    assert 0 < pocket.num_blocks < protein.num_blocks
    for b in range(protein.num_blocks):
        atoms = protein.positions[protein.atoms_of_block(b)]
        near = np.linalg.norm(atoms[:, None] - ligand.positions[None], axis=-1).min() <= 6.0
        key = (protein.labels[b], tuple(protein.positions[protein.atoms_of_block(b)][0]))
        kept = {(pocket.labels[c], tuple(pocket.positions[pocket.atoms_of_block(c)][0])) for c in range(pocket.num_blocks)}
        assert (key in kept) == near
    far_ligand = ligand.select_blocks(range(ligand.num_blocks))
    far_ligand.positions = far_ligand.positions + 100.0
    with pytest.raises(InvalidStructureError, match="same frame"):
        crop_pocket(protein, far_ligand)


def test_complex_segments_record_and_official_format(protein_and_ligand):
    protein, ligand = protein_and_ligand
    complex_ = pocket_complex(protein, ligand, cutoff=6.0)
    assert sorted(set(complex_.segments.tolist())) == [0, 1]
    record = complex_.to_record()
    assert record["segment"].shape == (complex_.num_blocks,) and int(record["num_blocks"]) == complex_.num_blocks
    official = complex_.to_official()
    assert official["B"].count(V.block_index("&")) == 2 and len(official["B"]) == complex_.num_blocks + 2
    assert len(official["X"]) == len(official["A"]) == complex_.num_atoms + 2 == sum(official["block_lengths"])
    first_ligand_global = official["segment_ids"].index(1)
    glb = official["X"][sum(official["block_lengths"][:first_ligand_global])]
    assert np.allclose(glb, ligand.positions.mean(axis=0))
    with pytest.raises(InvalidStructureError, match="above the limit"):
        pocket_complex(protein, ligand, cutoff=6.0, max_atoms=10)


def test_records_batch_and_relabel():
    a = from_ase(molecule("CH3CH2OH")).to_record()
    b = concatenate([from_ase(molecule("H2O")), from_ase(molecule("CH4"))]).to_record()
    batch = collate([a, b])
    assert batch["num_blocks"].tolist() == [3, 2]
    assert batch["block_index"][a["num_atoms"].item():].min() == 3  # offset by the first graph's blocks
    assert batch["segment"].tolist() == [0, 0, 0, 0, 1]  # segments are not offset
    moved = permute_blocks(b, torch.tensor([1, 0]))
    assert moved["block_type"].tolist() == b["block_type"].flip(0).tolist()


def test_foreign_records_are_tokenised_or_retyped():
    plain = ensure_blocks(record_from_ase(molecule("CH3CONH2")))
    assert int(plain["num_blocks"]) == 4 and plain["segment"].tolist() == [0, 0, 0, 0]
    foreign = record_from_ase(molecule("CH3OH"))
    # blocked by another tokeniser (block_type = atomic numbers, as testing.heavy_atom_blocks): re-typed
    foreign.update(block_index=torch.tensor([0, 1, 0, 1, 0, 0]), block_type=torch.tensor([6, 8]),
                   num_blocks=torch.tensor([2]))
    retyped = ensure_blocks(foreign)
    assert retyped["block_type"].tolist() == [V.block_index("c"), V.block_index("o")]
    assert retyped["atom_token"].tolist() == (foreign["atomic_numbers"] + 2).tolist()
    merged = ensure_blocks({**foreign, "block_index": torch.zeros(6, dtype=torch.long), "block_type": torch.tensor([0]),
                            "num_blocks": torch.tensor([1])})
    assert merged["block_type"].tolist() == [V.block_index("?")]  # two heavy atoms: no element block fits
