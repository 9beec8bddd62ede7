"""Pretraining corpora of block structures: built from structure files (and QM9 molecules), stored
as one ``.pt`` file, reported on, and served as a dataset (``data: {dataset: blocks, path: ...}``).

Sources: PDB/mmCIF (``.pdb .ent .cif .mmcif``, optionally ``.gz``; :func:`.proteins.read_protein`
with its default policy), SDF (every molecule) and MOL2 through RDKit, a folder (every such file
in it, recursively, in sorted order), the name of an installed data package (``mdanalysistests``:
MDAnalysisTests' ~170 real PDB/mmCIF files; ``posebusters``: its protein-ligand complexes; the
``protein-data`` extra) and ``qm9:N`` (the first N molecules of QM9's training split, hydrogens
joined to their heavy atom). Structures above ``max_atoms`` are cut into contiguous
windows of whole blocks in file order (every residue used once; the official pretraining data crops
proteins too); a single block larger than that is skipped and reported.

The file (``torch.load(weights_only=True)``) holds flat arrays: ``positions`` [N, 3] float64 (Å),
``atomic_numbers``, ``block_of_atom`` (per structure, from 0), ``position_codes`` [N];
``block_types``, ``segments`` [Nb]; ``atom_ptr``, ``block_ptr`` [S + 1]; ``names``, ``kinds``
(``protein`` | ``small_molecule``) [S]; and ``skipped`` (file: reason).

Example:
    >>> from equiformers.data.blocks import from_ase
    >>> from ase.build import molecule
    >>> corpus = corpus_from_structures([from_ase(molecule("CH3OH")), from_ase(molecule("H2O"))])
    >>> BlockCorpus(corpus).record(1)["num_blocks"].tolist()
    [1]
"""

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ...errors import DatasetError, EquiformersError
from . import vocabulary as V
from .structure import BlockStructure

FORMAT = "equiformers-block-corpus"
PROTEIN_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif")
MOLECULE_SUFFIXES = (".sdf", ".mol2")
#: data packages usable as sources by name: name -> (module, folder inside it)
PACKAGED_SOURCES = {"mdanalysistests": ("MDAnalysisTests", "data"), "posebusters": ("posebusters", "datasets")}


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if len(suffixes) > 1 and suffixes[-1] == ".gz":
        return suffixes[-2]
    return suffixes[-1] if suffixes else ""


def resolve_source(source: Union[str, Path]) -> Path:
    """``source`` as a path: a file or folder, or the data folder of a package named in
    :data:`PACKAGED_SOURCES` (when no file of that name exists; a missing package is a
    :class:`DatasetError` naming the extra that installs it)."""
    path = Path(source)
    if not path.exists() and str(source).lower() in PACKAGED_SOURCES:
        from ...optional import package_folder

        module, folder = PACKAGED_SOURCES[str(source).lower()]
        return package_folder(module, f"the corpus source {str(source)!r}") / folder
    return path


def structure_files(source: Union[str, Path]) -> List[Path]:
    """The structure files of a file, folder or packaged source (:func:`resolve_source`; folders
    recursively, sorted); :class:`DatasetError` if none."""
    path = resolve_source(source)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DatasetError(f"corpus source not found: {path}")
    found = sorted(p for p in path.rglob("*") if p.is_file() and _suffix(p) in PROTEIN_SUFFIXES + MOLECULE_SUFFIXES)
    if not found:
        raise DatasetError(f"{path} holds no structure files ({', '.join(PROTEIN_SUFFIXES + MOLECULE_SUFFIXES)})")
    return found


def read_structure_file(path: Union[str, Path]) -> Tuple[str, List[BlockStructure]]:
    """``(kind, structures)`` of one file: ``protein`` for PDB/mmCIF, ``small_molecule`` for SDF/MOL2."""
    from .molecules import read_mol2, read_sdf
    from .proteins import read_protein

    path = Path(path)
    suffix = _suffix(path)
    if suffix in PROTEIN_SUFFIXES:
        return "protein", [read_protein(path)]
    if suffix == ".sdf":
        return "small_molecule", read_sdf(path)
    if suffix == ".mol2":
        return "small_molecule", [read_mol2(path)]
    raise DatasetError(f"{path}: unknown structure format {suffix!r}; corpora read "
                       f"{', '.join(PROTEIN_SUFFIXES + MOLECULE_SUFFIXES)} (optionally .gz for PDB/mmCIF)")


def qm9_structures(count: int, cache: Optional[str] = None) -> List[BlockStructure]:
    """The first ``count`` molecules of QM9's training split as small-molecule blocks."""
    from ..qm9 import QM9Dataset
    from .molecules import small_molecule_blocks

    dataset = QM9Dataset(["gap"], None, "train", subset=count, cache=cache)
    out = []
    for i in range(len(dataset)):
        record = dataset[i]
        out.append(small_molecule_blocks(record["atomic_numbers"].numpy(), record["pos"].numpy(),
                                         name=f"QM9 train[{i}]"))
    return out


def block_windows(structure: BlockStructure, max_atoms: int) -> Tuple[List[BlockStructure], int]:
    """Contiguous windows of whole blocks (in block order) of at most ``max_atoms`` atoms each, and
    the number of blocks skipped because they alone exceed it."""
    windows, skipped = window_blocks(structure, max_atoms)
    out = []
    for k, blocks in enumerate(windows):
        part = structure.select_blocks(blocks)
        part.name = f"{structure.name}[window {k}]" if len(windows) > 1 else structure.name
        out.append(part)
    return out, skipped


def window_blocks(structure: BlockStructure, max_atoms: int) -> Tuple[List[List[int]], int]:
    """The block indices of each window of :func:`block_windows`, and the number of blocks skipped."""
    sizes = np.bincount(structure.block_of_atom, minlength=structure.num_blocks)
    windows, current, atoms, skipped = [], [], 0, 0
    for b, size in enumerate(sizes.tolist()):
        if size > max_atoms:
            skipped += 1
            continue
        if atoms + size > max_atoms and current:
            windows.append(current)
            current, atoms = [], 0
        current.append(b)
        atoms += size
    if current:
        windows.append(current)
    return windows, skipped


def corpus_from_structures(structures: Sequence[BlockStructure], kinds: Optional[Sequence[str]] = None,
                           skipped: Optional[Dict[str, str]] = None) -> Dict[str, object]:
    """The corpus dict of ``structures`` (see the module docstring); ``kinds`` default to small_molecule."""
    if not structures:
        raise DatasetError("the corpus is empty: no structure could be read")
    kinds = list(kinds) if kinds is not None else ["small_molecule"] * len(structures)
    cat = lambda arrays, dtype: torch.from_numpy(np.concatenate(arrays).astype(dtype))  # noqa: E731
    counts = lambda values: torch.from_numpy(np.concatenate([[0], np.cumsum(values)]).astype(np.int64))  # noqa: E731
    return {"format": FORMAT, "version": 1,
            "positions": cat([s.positions for s in structures], np.float64),
            "atomic_numbers": cat([s.atomic_numbers for s in structures], np.int64),
            "block_of_atom": cat([s.block_of_atom for s in structures], np.int64),
            "position_codes": cat([s.position_codes for s in structures], np.int64),
            "block_types": cat([s.block_types for s in structures], np.int64),
            "segments": cat([s.segments for s in structures], np.int64),
            "atom_ptr": counts([s.num_atoms for s in structures]),
            "block_ptr": counts([s.num_blocks for s in structures]),
            "names": [s.name for s in structures], "kinds": kinds, "skipped": dict(skipped or {})}


def build_corpus(sources: Sequence[Union[str, Path]], qm9: int = 0, max_atoms: Optional[int] = None,
                 cache: Optional[str] = None, strict: bool = False) -> Dict[str, object]:
    """Read every source (see the module docstring) into one corpus dict. Files that cannot be read
    are skipped with their reason in ``skipped`` (``strict``: raise instead)."""
    structures, kinds, skipped = [], [], {}
    if max_atoms is not None and max_atoms < 1:
        raise DatasetError(f"max_atoms must be a positive number of atoms, got {max_atoms}")

    def add(kind: str, items: List[BlockStructure], where: str) -> None:
        for s in items:
            parts, too_big = block_windows(s, max_atoms) if max_atoms else ([s], 0)
            if too_big:
                skipped[f"{where}: {s.name}"] = f"{too_big} block(s) larger than max_atoms={max_atoms} left out"
            structures.extend(parts)
            kinds.extend([kind] * len(parts))

    for source in sources:
        for path in structure_files(source):
            try:
                kind, items = read_structure_file(path)
            except EquiformersError as err:
                if strict:
                    raise
                skipped[str(path)] = str(err)
                continue
            add(kind, items, str(path))
    if qm9:
        add("small_molecule", qm9_structures(qm9, cache), "qm9")
    return corpus_from_structures(structures, kinds, skipped)


def save_corpus(corpus: Dict[str, object], path: Union[str, Path]) -> Path:
    """Write ``corpus`` atomically to ``path`` (a ``.pt`` file)."""
    from ..cache import atomic_torch_save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(corpus, path)
    return path


def load_corpus(path: Union[str, Path]) -> Dict[str, object]:
    """Read a corpus file written by :func:`save_corpus`, checked."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"corpus file not found: {path}")
    try:
        corpus = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise DatasetError(f"{path} is not a readable corpus file ({type(err).__name__})") from None
    if not isinstance(corpus, dict) or corpus.get("format") != FORMAT:
        raise DatasetError(f"{path} is not an equiformers block corpus (build one with 'equiformers data corpus')")
    return corpus


class BlockCorpus:
    """Random access to the structures of a corpus dict: ``len``, :meth:`structure`, :meth:`record`."""

    def __init__(self, corpus: Dict[str, object]):
        self.corpus = corpus
        self.atom_ptr, self.block_ptr = corpus["atom_ptr"].tolist(), corpus["block_ptr"].tolist()

    def __len__(self) -> int:
        return len(self.atom_ptr) - 1

    def structure(self, i: int) -> BlockStructure:
        c, (a0, a1), (b0, b1) = self.corpus, self.atom_ptr[i:i + 2], self.block_ptr[i:i + 2]
        return BlockStructure(c["positions"][a0:a1].numpy(), c["atomic_numbers"][a0:a1].numpy(),
                              c["block_of_atom"][a0:a1].numpy(), c["position_codes"][a0:a1].numpy(),
                              c["block_types"][b0:b1].numpy(), c["segments"][b0:b1].numpy(), name=c["names"][i])

    def record(self, i: int):
        """The atomic-data record of structure ``i`` (block keys, no edges)."""
        return self.structure(i).to_record()


def corpus_report(corpus: Dict[str, object]) -> Dict[str, object]:
    """Size and coverage: structures, atoms and blocks per kind, atoms per structure (min, median,
    max), elements, amino acids seen (of 20), element blocks seen, and the skipped sources."""
    kinds = np.array(corpus["kinds"])
    atoms = np.diff(np.asarray(corpus["atom_ptr"]))
    blocks = np.diff(np.asarray(corpus["block_ptr"]))
    block_types = corpus["block_types"].numpy()
    amino = sorted({V.BLOCKS[t][1] for t in block_types if V.FIRST_ELEMENT_BLOCK - 20 <= t < V.FIRST_ELEMENT_BLOCK})
    element_blocks = sorted({V.BLOCKS[t][0] for t in block_types
                             if V.FIRST_ELEMENT_BLOCK <= t < V.FIRST_NUCLEOTIDE_BLOCK})
    from ase.data import chemical_symbols

    per_kind = {str(k): {"structures": int((kinds == k).sum()), "atoms": int(atoms[kinds == k].sum()),
                         "blocks": int(blocks[kinds == k].sum())} for k in sorted(set(kinds.tolist()))}
    return {"structures": int(len(atoms)), "atoms": int(atoms.sum()), "blocks": int(blocks.sum()), "per_kind": per_kind,
            "atoms_per_structure": {"min": int(atoms.min()), "median": float(np.median(atoms)),
                                    "max": int(atoms.max())},
            "elements": [chemical_symbols[int(z)] for z in np.unique(corpus["atomic_numbers"].numpy())],
            "amino_acids": {"seen": len(amino), "of": 20, "missing": [n for _, n in V.AMINO_ACIDS if n not in amino]},
            "element_blocks": element_blocks, "unknown_blocks": int((block_types == V.block_index(V.UNK)).sum()),
            "skipped": dict(corpus.get("skipped", {}))}


def describe_report(report: Dict[str, object]) -> str:
    """The report as a few human-readable lines."""
    lines = [f"{report['structures']} structures, {report['atoms']:,} atoms, {report['blocks']:,} blocks"]
    for kind, row in report["per_kind"].items():
        lines.append(f"  {kind}: {row['structures']} structures, {row['atoms']:,} atoms, {row['blocks']:,} blocks")
    size = report["atoms_per_structure"]
    lines.append(f"  atoms per structure: min {size['min']}, median {size['median']:g}, max {size['max']}")
    lines.append(f"  elements: {' '.join(report['elements'])}")
    amino = report["amino_acids"]
    lines.append(f"  amino acids: {amino['seen']} of 20" + (f" (missing {' '.join(amino['missing'])})"
                                                            if amino["missing"] else ""))
    lines.append(f"  element blocks: {' '.join(report['element_blocks']) or '-'}; "
                 f"UNK blocks: {report['unknown_blocks']}")
    for source, reason in report["skipped"].items():
        lines.append(f"  skipped {source}: {reason}")
    return "\n".join(lines)
