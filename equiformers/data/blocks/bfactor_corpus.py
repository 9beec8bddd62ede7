"""A B-factor corpus: real crystal structures cut into windows, with per-residue labels, grouped by
protein so that splits never share one (``equiformers data bfactors``; served by :mod:`.bfactor_dataset`).

Built from files, folders or packaged sources (``mdanalysistests``; :func:`.corpus.resolve_source`):

1. every structure file is read by :func:`.bfactors.read_bfactors` (files it refuses are skipped,
   with their reason, in ``skipped``);
2. exact duplicates (the same blocks at the same coordinates, e.g. one entry as PDB and as mmCIF)
   are kept once;
3. structures are **grouped**: two share a group when any of their chains (of at least 10 residues)
   align with a sequence identity of at least ``group_identity`` (0.3, the usual homology threshold;
   :func:`sequence_identity`), so a protein, its homologues, mutants, fragments and other
   conformations fall together (on MDAnalysisTests' structures: 0.95-1.0 within the HIV protease,
   adenylate kinase and HLA groups, at most 0.19 between unrelated chains);
4. each structure is cut into contiguous windows of whole blocks of at most ``max_atoms`` atoms
   (:func:`.corpus.window_blocks`, 1024 by default: EPT's attention is dense); labels stay those of
   the whole chain (standardised before cutting); windows without a label are dropped.

The file is a block corpus (:mod:`.corpus`, one structure per window) plus ``block_targets``
(``{"bfactor": [Nb] float64}``, NaN for unlabelled blocks), ``groups`` [S] (group of each window),
``sources`` [S] (file of each window) and ``labelled_structures`` (per file: method, resolution,
residues, labels and mean B in Å²).
"""

import hashlib
import itertools
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from ...errors import DatasetError, EquiformersError
from .. import keys as K
from .bfactors import LabelledStructure, chain_sequences, read_bfactors
from .corpus import corpus_from_structures, structure_files, window_blocks
from .proteins import gemmi_module

DEFAULT_MAX_ATOMS = 1024
GROUP_IDENTITY = 0.3


def fingerprint(item: LabelledStructure) -> str:
    """A digest of the block types and coordinates (to 0.01 Å): equal for the same structure in two formats."""
    s = item.structure
    digest = hashlib.sha1(s.block_types.tobytes())
    digest.update(np.round(s.positions, 2).tobytes())
    return digest.hexdigest()


def sequence_identity(a: Sequence[str], b: Sequence[str]) -> float:
    """Identical residues of a BLOSUM62 global alignment of two sequences (three-letter names), over
    the alignment columns from the first to the last residue of the shorter sequence: a fragment of a
    chain scores 1, while a short sequence scattered over a long unrelated one (gaps everywhere) scores low.

    Example:
        >>> sequence_identity(["ALA", "GLY", "LYS", "TRP"], ["SER", "ALA", "GLY", "LYS", "TRP", "SER"])
        1.0
    """
    gemmi = gemmi_module()
    try:
        scoring = gemmi.AlignmentScoring("b")  # BLOSUM62
    except TypeError:  # older gemmi: its default scoring (match 1, mismatch -1) gives the same groups here
        scoring = None
    result = gemmi.align_string_sequences(list(a), list(b), [], scoring)
    shorter_ops = "MI" if len(a) <= len(b) else "MD"  # CIGAR: M both, I only a (query), D only b (target)
    columns = [op for count, op in re.findall(r"(\d+)([MID])", result.cigar_str()) for _ in range(int(count))]
    used = [k for k, op in enumerate(columns) if op in shorter_ops]
    return result.match_count / (used[-1] - used[0] + 1) if used else 0.0


def protein_groups(items: Sequence[LabelledStructure], identity: float = GROUP_IDENTITY) -> List[int]:
    """Group of each structure (0, 1, ... in order of first member): the connected components of
    "some pair of chains aligns with at least ``identity``"."""
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    sequences = [chain_sequences(item.structure) for item in items]
    for i, j in itertools.combinations(range(len(items)), 2):
        if root(i) != root(j) and any(sequence_identity(a, b) >= identity for a in sequences[i] for b in sequences[j]):
            parent[root(j)] = root(i)
    numbering: Dict[int, int] = {}
    return [numbering.setdefault(root(i), len(numbering)) for i in range(len(items))]


def build_bfactor_corpus(sources: Sequence[Union[str, Path]], max_atoms: int = DEFAULT_MAX_ATOMS,
                         group_identity: float = GROUP_IDENTITY, strict: bool = False) -> Dict[str, object]:
    """Read, deduplicate, group and cut ``sources`` (see the module docstring) into a corpus dict.

    Raises:
        DatasetError: a bad setting, no structure file, or no labelled structure at all (the skipped
            files and their reasons are named); with ``strict``, the first file refused.
    """
    if max_atoms < 1:
        raise DatasetError(f"max_atoms must be a positive number of atoms, got {max_atoms}")
    if not 0.0 < group_identity <= 1.0:
        raise DatasetError(f"group_identity must be a fraction in (0, 1], got {group_identity}")
    items, skipped, seen = [], {}, {}
    for source in sources:
        for path in structure_files(source):
            try:
                item = read_bfactors(path)
            except EquiformersError as err:
                if strict:
                    raise
                skipped[str(path)] = str(err)
                continue
            key = fingerprint(item)
            if key in seen:
                skipped[str(path)] = f"the same structure as {seen[key]}"
                continue
            seen[key] = str(path)
            items.append((str(path), item))
    if not items:
        reasons = "; ".join(f"{Path(p).name}: {r}" for p, r in list(skipped.items())[:5])
        raise DatasetError(f"no labelled structure in {[str(s) for s in sources]}"
                           + (f" ({reasons})" if reasons else ""))
    groups = protein_groups([item for _, item in items], group_identity)
    windows, labels, window_groups, window_sources, described = [], [], [], [], []
    for (path, item), group in zip(items, groups):
        parts, too_big = window_blocks(item.structure, max_atoms)
        if too_big:
            skipped[f"{path}: {item.structure.name}"] = f"{too_big} block(s) larger than max_atoms={max_atoms} left out"
        kept = [blocks for blocks in parts if np.isfinite(item.bfactor[blocks]).any()]
        for k, blocks in enumerate(kept):
            part = item.structure.select_blocks(blocks)
            part.name = f"{item.structure.name}[window {k}]" if len(kept) > 1 else item.structure.name
            windows.append(part), labels.append(item.bfactor[blocks])
            window_groups.append(group), window_sources.append(path)
        finite = np.isfinite(item.bfactor)
        described.append({"file": path, "method": item.method, "resolution": item.resolution, "group": group,
                          "atoms": item.structure.num_atoms, "blocks": item.structure.num_blocks,
                          "labelled": item.labelled, "windows": len(kept),
                          "mean_bfactor_A2": float(item.raw_bfactor[finite].mean())})
    corpus = corpus_from_structures(windows, ["protein"] * len(windows), skipped)
    corpus.update({"block_targets": {K.BFACTOR: torch.from_numpy(np.concatenate(labels))},
                   "groups": torch.tensor(window_groups, dtype=torch.long), "sources": window_sources,
                   "labelled_structures": described,
                   "settings": {"max_atoms": int(max_atoms), "group_identity": float(group_identity)}})
    return corpus


def check_labelled(corpus: Dict[str, object], targets: Optional[Sequence[str]] = None, where: str = "corpus") -> None:
    """Raise :class:`DatasetError` unless ``corpus`` is a labelled (B-factor) corpus holding ``targets``."""
    available = sorted(corpus.get("block_targets") or {})
    if not available or "groups" not in corpus:
        raise DatasetError(f"{where} is a block corpus without labels; build a B-factor corpus with "
                           "'equiformers data bfactors SOURCES --output FILE.pt'")
    missing = [t for t in (targets or []) if t not in available]
    if missing:
        raise DatasetError(f"{where} has no block target(s) {missing}; it has {available} (set data.targets: "
                           f"{available})")


def bfactor_report(corpus: Dict[str, object]) -> Dict[str, object]:
    """Size and provenance: files, groups (their files), windows, blocks, labelled residues, skipped files."""
    check_labelled(corpus)
    described = corpus["labelled_structures"]
    groups: Dict[int, List[str]] = {}
    for row in described:
        groups.setdefault(int(row["group"]), []).append(Path(row["file"]).name)
    labels = corpus["block_targets"][K.BFACTOR]
    return {"structures": len(described), "groups": {str(g): files for g, files in sorted(groups.items())},
            "windows": len(corpus["names"]), "atoms": int(corpus["atom_ptr"][-1]), "blocks": int(labels.numel()),
            "labelled_blocks": int(torch.isfinite(labels).sum()), "settings": dict(corpus["settings"]),
            "per_structure": described, "skipped": dict(corpus.get("skipped", {}))}


def describe_bfactor_report(report: Dict[str, object]) -> str:
    """The report as a few human-readable lines."""
    lines = [f"{report['structures']} crystal structures in {len(report['groups'])} protein groups, "
             f"{report['windows']} windows of <= {report['settings']['max_atoms']} atoms, {report['atoms']:,} atoms, "
             f"{report['labelled_blocks']:,} labelled residues of {report['blocks']:,} blocks"]
    for row in report["per_structure"]:
        lines.append(f"  group {row['group']}: {Path(row['file']).name}: {row['labelled']} residues labelled, "
                     f"{row['windows']} window(s), mean B {row['mean_bfactor_A2']:.1f} Å², "
                     f"{row['method'] or 'method not recorded'}"
                     + (f", {row['resolution']:.2f} Å" if row["resolution"] else ""))
    lines.append(f"  skipped: {len(report['skipped'])} file(s) (reasons in the report file)")
    return "\n".join(lines)
