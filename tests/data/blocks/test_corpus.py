"""Block corpora: building from files (real protein fixture, SDF), windows, report, storage, the dataset."""

from pathlib import Path

import numpy as np
import pytest
import torch

from equiformers.data.blocks import from_smiles, read_protein
from equiformers.data.blocks.corpus import (BlockCorpus, block_windows, build_corpus, corpus_report, describe_report,
                                            load_corpus, save_corpus)
from equiformers.data.blocks.dataset import BlocksDataset, corpus_split
from equiformers.errors import DatasetError, InvalidStructureError

FIXTURE = Path(__file__).parents[2] / "fixtures" / "blocks" / "1hvr_cut.pdb"


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    pytest.importorskip("gemmi")
    pytest.importorskip("rdkit")
    from rdkit import Chem

    folder = tmp_path_factory.mktemp("structures")
    (folder / "protein.pdb").write_text(FIXTURE.read_text())
    writer = Chem.SDWriter(str(folder / "ligands.sdf"))
    for i, smiles in enumerate(["CCO", "c1ccccc1O"]):
        mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
        from rdkit.Chem import AllChem

        AllChem.EmbedMolecule(mol, randomSeed=i)
        writer.write(mol)
    writer.close()
    (folder / "broken.pdb").write_text("this is not a PDB file\n")
    return folder


def test_windows_cover_every_block_once_and_respect_the_limit():
    pytest.importorskip("gemmi")
    protein = read_protein(FIXTURE)
    windows, skipped = block_windows(protein, 60)
    assert skipped == 0 and all(w.num_atoms <= 60 for w in windows)
    assert sum(w.num_blocks for w in windows) == protein.num_blocks
    joined = np.concatenate([w.positions for w in windows])
    assert np.array_equal(joined, np.concatenate([protein.positions[protein.atoms_of_block(b)]
                                                  for b in range(protein.num_blocks)]))
    _, skipped = block_windows(protein, 3)  # residues of more than 3 heavy atoms cannot fit
    assert skipped > 0


def test_corpus_from_a_folder_with_report_and_round_trip(sources, tmp_path):
    corpus = build_corpus([sources], max_atoms=150)
    report = corpus_report(corpus)
    assert report["per_kind"]["small_molecule"]["structures"] == 2
    assert report["per_kind"]["protein"]["structures"] >= 3  # the 430-atom fixture cut into windows
    assert report["atoms_per_structure"]["max"] <= 150
    assert report["amino_acids"]["seen"] == 12 and "TRP" in report["amino_acids"]["missing"]
    assert list(report["skipped"]) == [str(sources / "broken.pdb")]
    assert "skipped" in describe_report(report) and "amino acids: 12 of 20" in describe_report(report)
    path = save_corpus(corpus, tmp_path / "corpus.pt")
    loaded = BlockCorpus(load_corpus(path))
    assert len(loaded) == report["structures"]
    record = loaded.record(0)
    assert int(record["num_blocks"]) == int(record["block_index"].max()) + 1
    assert record["pos"].dtype == torch.float64 and "block_type" in record
    with pytest.raises(InvalidStructureError, match="broken.pdb"):
        build_corpus([sources / "broken.pdb"], strict=True)
    (tmp_path / "other.pt").write_bytes(b"")
    with pytest.raises(DatasetError, match="corpus"):
        load_corpus(tmp_path / "other.pt")


def test_dataset_splits_are_disjoint_and_cover_the_corpus(sources, tmp_path):
    path = save_corpus(build_corpus([sources], max_atoms=100), tmp_path / "corpus.pt")
    splits = {s: BlocksDataset(str(path), s, val_size=1, test_size=2, split_seed=3) for s in ("train", "val", "test")}
    indices = np.concatenate([d.indices for d in splits.values()])
    assert len(splits["val"]) == 1 and len(splits["test"]) == 2
    assert sorted(indices.tolist()) == list(range(len(BlocksDataset(str(path), "all"))))
    assert len(BlocksDataset(str(path), "train", train_size=2, val_size=1, test_size=2)) == 2
    assert int(splits["train"].num_atoms_array().sum()) == sum(len(r["pos"]) for r in splits["train"])
    with pytest.raises(DatasetError, match="no labels"):
        splits["train"].target_array()
    with pytest.raises(DatasetError, match="too few"):
        corpus_split(3, 2, 1, 0)
    from_folder = BlocksDataset(str(sources), "all")  # files read on the fly, no cropping
    assert len(from_folder) == 3


def test_smiles_molecules_are_small_molecule_blocks():
    pytest.importorskip("rdkit")
    from equiformers.data.blocks.corpus import corpus_from_structures

    corpus = corpus_from_structures([from_smiles("CCO")])
    assert corpus_report(corpus)["element_blocks"] == ["c", "o"]
