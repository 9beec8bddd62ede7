"""Per-residue B-factor labels from real crystal structures: the reading policy, per-chain z-scores,
refusals, the corpus (deduplication, protein groups, windows), the group split and the dataset."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from equiformers.data import collate, keys as K
from equiformers.errors import ConfigError, DatasetError, InvalidStructureError

FIXTURES = Path(__file__).parents[2] / "fixtures" / "blocks" / "bfactors"  # cuts of PDB 4E43, 1A28, 1OSM


@pytest.fixture(autouse=True)
def _gemmi():
    pytest.importorskip("gemmi")


def residue_means(path: Path):
    """{(chain, residue number): mean B (Å²) of its heavy atoms}, parsed from the PDB columns directly."""
    values = {}
    for line in path.read_text().splitlines():
        if line.startswith("ATOM") and line[76:78].strip() != "H":
            values.setdefault((line[21], int(line[22:26])), []).append(float(line[60:66]))
    return {key: float(np.mean(v)) for key, v in values.items()}


def test_labels_are_per_chain_z_scores_of_residue_means():
    from equiformers.data.blocks.bfactors import read_bfactors

    item = read_bfactors(FIXTURES / "4e43_cut.pdb")
    s, means = item.structure, residue_means(FIXTURES / "4e43_cut.pdb")
    assert item.method == "X-RAY DIFFRACTION" and item.resolution == pytest.approx(1.54)
    chains = np.array([label.chain for label in s.labels])
    names = [label.name for label in s.labels]
    for chain in ("A", "B"):  # 20 residues each: labelled, standardised within the chain
        rows = np.nonzero((chains == chain) & np.array([n != "GOL" for n in names]))[0]
        raw = np.array([means[(chain, s.labels[b].number)] for b in rows])
        assert np.allclose(item.raw_bfactor[rows], raw)
        assert np.allclose(item.bfactor[rows], (raw - raw.mean()) / raw.std())
    assert np.isnan(item.bfactor[chains == "C"]).all()  # a 6-residue peptide: too short to standardise
    assert np.isnan(item.bfactor[[b for b, n in enumerate(names) if n == "GOL"]]).all()  # ligands have no label
    assert item.labelled == 40


def edited(tmp_path, name, edit):
    path = tmp_path / name
    path.write_text("\n".join(edit(line) for line in (FIXTURES / "1a28_cut.pdb").read_text().splitlines()) + "\n")
    return path


def test_files_without_crystallographic_b_factors_are_refused(tmp_path):
    from equiformers.data.blocks.bfactors import read_bfactors

    constant = edited(tmp_path, "constant.pdb", lambda l: l[:60] + " 20.00" + l[66:] if l.startswith("ATOM") else l)
    with pytest.raises(InvalidStructureError, match="no labels.*B-factors all equal"):
        read_bfactors(constant)
    em = edited(tmp_path, "em.pdb", lambda l: "EXPDTA    ELECTRON MICROSCOPY" if l.startswith("EXPDTA") else l)
    with pytest.raises(InvalidStructureError, match="ELECTRON MICROSCOPY.*X-ray"):
        read_bfactors(em)
    atoms = [l for l in (FIXTURES / "1a28_cut.pdb").read_text().splitlines() if l.startswith("ATOM")]
    (tmp_path / "nmr.pdb").write_text("\n".join(["MODEL        1", *atoms, "ENDMDL", "MODEL        2", *atoms, "ENDMDL",
                                                 "END"]) + "\n")
    with pytest.raises(InvalidStructureError, match="2 models"):
        read_bfactors(tmp_path / "nmr.pdb")
    with pytest.raises(DatasetError, match="not found"):
        read_bfactors(tmp_path / "missing.pdb")


def test_sequence_identity_groups_fragments_but_not_unrelated_chains():
    from equiformers.data.blocks.bfactor_corpus import sequence_identity
    from equiformers.data.blocks.bfactors import chain_sequences, read_bfactors

    (a,) = chain_sequences(read_bfactors(FIXTURES / "1a28_cut.pdb").structure)
    (b,) = chain_sequences(read_bfactors(FIXTURES / "1osm_cut.pdb").structure)
    assert sequence_identity(a[5:20], a) == 1.0 and sequence_identity(a, a[5:20]) == 1.0
    assert sequence_identity(a, b) < 0.3


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    """The three fixtures, an exact copy of one (dropped) and a moved copy of another (kept, same group)."""
    pytest.importorskip("gemmi")
    from equiformers.data.blocks.bfactor_corpus import build_bfactor_corpus
    from equiformers.data.blocks.corpus import save_corpus

    folder = tmp_path_factory.mktemp("bfactors")
    for path in FIXTURES.glob("*.pdb"):
        shutil.copy(path, folder / path.name)
    shutil.copy(FIXTURES / "1a28_cut.pdb", folder / "1a28_copy.pdb")
    moved = [l[:30] + f"{float(l[30:38]) + 1.0:8.3f}" + l[38:] if l.startswith("ATOM") else l
             for l in (FIXTURES / "1osm_cut.pdb").read_text().splitlines()]
    (folder / "1osm_moved.pdb").write_text("\n".join(moved) + "\n")
    (folder / "broken.pdb").write_text("not a PDB file\n")
    corpus = build_bfactor_corpus([folder], max_atoms=150)
    return folder, corpus, save_corpus(corpus, folder.parent / f"{folder.name}.pt")


def test_corpus_deduplicates_groups_by_protein_and_keeps_labels_per_window(corpus_file):
    from equiformers.data.blocks.bfactor_corpus import bfactor_report, describe_bfactor_report
    from equiformers.data.blocks.bfactors import read_bfactors

    folder, corpus, _ = corpus_file
    report = bfactor_report(corpus)
    # files are read in sorted order: the copy comes first, the original is the duplicate
    assert report["skipped"][str(folder / "1a28_cut.pdb")] == f"the same structure as {folder / '1a28_copy.pdb'}"
    assert "broken.pdb" in " ".join(report["skipped"])
    files = {Path(row["file"]).name: row["group"] for row in report["per_structure"]}
    assert set(files) == {"1a28_copy.pdb", "1osm_cut.pdb", "1osm_moved.pdb", "4e43_cut.pdb"}
    assert files["1osm_cut.pdb"] == files["1osm_moved.pdb"] and len(set(files.values())) == 3
    assert max(np.diff(corpus["atom_ptr"].numpy())) <= 150 and report["windows"] == len(corpus["groups"])
    labels, ptr = corpus["block_targets"][K.BFACTOR], corpus["block_ptr"].tolist()
    assert all(torch.isfinite(labels[ptr[i]:ptr[i + 1]]).any() for i in range(len(ptr) - 1))  # no label-free window
    whole = read_bfactors(folder / "4e43_cut.pdb").bfactor
    from_windows = np.concatenate([labels[ptr[i]:ptr[i + 1]].numpy() for i, source in enumerate(corpus["sources"])
                                   if source.endswith("4e43_cut.pdb")])
    assert np.allclose(from_windows, whole[:len(from_windows)], equal_nan=True)  # the chain's own standardisation
    assert "4 crystal structures in 3 protein groups" in describe_bfactor_report(report)


def test_dataset_splits_whole_groups_and_serves_block_targets(corpus_file):
    from equiformers.data.blocks.bfactor_dataset import ProteinBFactorDataset

    _, corpus, path = corpus_file
    splits = {s: ProteinBFactorDataset(str(path), split=s, val_size=1, test_size=1) for s in ("train", "val", "test")}
    groups = {s: set(corpus["groups"][d.indices].tolist()) for s, d in splits.items()}
    assert groups["train"].isdisjoint(groups["val"] | groups["test"]) and groups["val"].isdisjoint(groups["test"])
    assert sum(len(d) for d in splits.values()) == len(corpus["groups"])
    train = splits["train"]
    batch = collate([train[i] for i in range(len(train))])
    assert batch[K.BFACTOR].shape == (int(batch[K.NUM_BLOCKS].sum()),)
    assert torch.equal(train.target_array()[:, 0].nan_to_num(99.0), batch[K.BFACTOR].nan_to_num(99.0))
    assert len(ProteinBFactorDataset(str(path), split="train", val_size=1, test_size=1, train_size=1)) == 1


def test_bad_data_is_a_clear_error(corpus_file, tmp_path):
    from equiformers.data.blocks.bfactor_dataset import ProteinBFactorDataset
    from equiformers.data.blocks.bfactor_corpus import build_bfactor_corpus
    from equiformers.data.blocks.corpus import build_corpus, save_corpus
    from equiformers.data.datasets import build_dataset
    from equiformers.training.config import DataConfig

    _, _, path = corpus_file
    with pytest.raises(DatasetError, match="too few for 2 validation and 2 test"):
        ProteinBFactorDataset(str(path), val_size=2, test_size=2)
    with pytest.raises(DatasetError, match=r"no block target\(s\) \['gap'\].*data.targets"):
        ProteinBFactorDataset(str(path), targets=["gap"])
    plain = save_corpus(build_corpus([FIXTURES / "1osm_cut.pdb"]), tmp_path / "plain.pt")
    with pytest.raises(DatasetError, match="without labels.*equiformers data bfactors"):
        ProteinBFactorDataset(str(plain))
    with pytest.raises(DatasetError, match="not found"):
        ProteinBFactorDataset(str(tmp_path / "missing.pt"))
    with pytest.raises(ConfigError, match="data.path is required for dataset 'protein_bfactors'"):
        build_dataset(DataConfig(dataset="protein_bfactors", targets=["bfactor"]), "train")
    (tmp_path / "constant").mkdir()
    (tmp_path / "constant" / "a.pdb").write_text(
        "\n".join(l[:60] + " 20.00" + l[66:] if l.startswith("ATOM") else l
                  for l in (FIXTURES / "1osm_cut.pdb").read_text().splitlines()) + "\n")
    with pytest.raises(DatasetError, match="no labelled structure.*B-factors all equal"):
        build_bfactor_corpus([tmp_path / "constant"])


def test_packaged_sources_name_the_extra_that_installs_them(monkeypatch):
    import importlib.util

    from equiformers.data.blocks.corpus import resolve_source

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "MDAnalysisTests" else real(name, *a))
    with pytest.raises(DatasetError, match=r"pip install 'equiformers\[protein-data\]'"):
        resolve_source("mdanalysistests")
    assert resolve_source(FIXTURES) == FIXTURES  # a path is a path
