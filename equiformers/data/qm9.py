"""QM9 (Ramakrishnan et al. 2014) from the ``qm9pack`` package, offline.

All 130,831 characterised molecules with the 12 standard targets, converted
at load time to the units the literature reports:

========  ===================================  =========  ==================
name      quantity                             unit       source column
========  ===================================  =========  ==================
mu        dipole moment                        D          Dipole_debye
alpha     isotropic polarisability             a0^3       Polarizability_bohr3
homo      HOMO energy                          meV        HOMO_au (Ha)
lumo      LUMO energy                          meV        LUMO_au (Ha)
gap       HOMO-LUMO gap                        meV        HOMO_LUMO_gap_au (Ha)
r2        electronic spatial extent <R^2>      a0^2       R2_bohr2
zpve      zero-point vibrational energy        meV        ZPVE_au (Ha)
u0        atomisation internal energy, 0 K     meV        InternalEnergy_0K_au
u         atomisation internal energy, 298 K   meV        InternalEnergy_298K_au
h         atomisation enthalpy, 298 K          meV        Enthalphy_298K_au
g         atomisation free energy, 298 K       meV        GibbsFreeEnergy_298K_au
cv        heat capacity, 298 K                 cal/mol/K  Heatcapacity_Cv_cal_mol_K
========  ===================================  =========  ==================

Atomisation energies subtract the standard per-element atom energies
(:data:`ATOM_REFERENCES`) from the total energies. Positions are in Å.

Splits (``split_scheme``), by position in the molecules sorted by their QM9 index:

* ``standard`` (default): the one of TorchMD-Net, Equiformer and EPT: a random permutation from
  ``numpy.random.default_rng(1)``, 110,000 train, 10,000 validation, the rest (10,831) test.
* ``nvidia``: NVIDIA's SE(3)-Transformer set-up, ``torch.utils.data.random_split`` with
  ``torch.Generator().manual_seed(0)`` into 100,000 train, the rest validation (17,748) and
  ``int(0.1 * 130,831)`` = 13,083 test (train, val, test in that order). It picks the same molecules
  as NVIDIA's only if DGL's ``QM9EdgeDataset`` lists them in QM9-index order too (not checkable
  offline). NVIDIA reports the best *validation* MAE.

With ``bonds=True`` each record also carries its chemical bonds (``bond_index``, ``bond_type``:
single, double, triple, aromatic), perceived with RDKit with the molecule's SMILES as the bond-order
template (:mod:`.bonds`; ~0.4 ms per molecule, done when a record is read). The parsed dataset is
cached on disk (``$EQUIFORMERS_CACHE``, default ``~/.cache/equiformers``).
"""

import importlib.util
import logging
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from ..errors import DatasetError
from . import keys as K
from .atomic_data import AtomicData, from_arrays
from .bonds import perceive_bonds
from .cache import atomic_torch_save, cache_dir
from .keys import register_field

log = logging.getLogger(__name__)

HARTREE_TO_MEV = 27211.386245988  # CODATA 2018: 1 Ha = 27.211386245988 eV
TARGETS = ("mu", "alpha", "homo", "lumo", "gap", "r2", "zpve", "u0", "u", "h", "g", "cv")
UNITS = {"mu": "D", "alpha": "a0^3", "homo": "meV", "lumo": "meV", "gap": "meV", "r2": "a0^2", "zpve": "meV",
         "u0": "meV", "u": "meV", "h": "meV", "g": "meV", "cv": "cal/mol/K"}
_COLUMNS = {"mu": "Dipole_debye", "alpha": "Polarizability_bohr3", "homo": "HOMO_au", "lumo": "LUMO_au",
            "gap": "HOMO_LUMO_gap_au", "r2": "R2_bohr2", "zpve": "ZPVE_au", "u0": "InternalEnergy_0K_au",
            "u": "InternalEnergy_298K_au", "h": "Enthalphy_298K_au", "g": "GibbsFreeEnergy_298K_au",
            "cv": "Heatcapacity_Cv_cal_mol_K"}
_QUANTITIES = {"mu": "dipole moment", "alpha": "isotropic polarisability", "homo": "HOMO energy",
               "lumo": "LUMO energy", "gap": "HOMO-LUMO gap", "r2": "electronic spatial extent <R^2>",
               "zpve": "zero-point vibrational energy", "u0": "atomisation internal energy, 0 K",
               "u": "atomisation internal energy, 298 K", "h": "atomisation enthalpy, 298 K",
               "g": "atomisation free energy, 298 K", "cv": "heat capacity, 298 K"}
for _name in TARGETS:  # graph-level data keys, so records carrying them batch (idempotent on re-import)
    register_field(_name, "graph", "float", unit=UNITS[_name], description=f"QM9 {_QUANTITIES[_name]}")
del _name
_HARTREE_TARGETS = {"homo", "lumo", "gap", "zpve", "u0", "u", "h", "g"}
#: Energies of the free atoms (Ha) for U0, U, H, G; the standard QM9 ``atomref`` table.
ATOM_REFERENCES = {
    "u0": {1: -0.500273, 6: -37.846772, 7: -54.583861, 8: -75.064579, 9: -99.718730},
    "u": {1: -0.498857, 6: -37.845355, 7: -54.582445, 8: -75.063162, 9: -99.717314},
    "h": {1: -0.497912, 6: -37.844411, 7: -54.581501, 8: -75.062219, 9: -99.716370},
    "g": {1: -0.510927, 6: -37.861317, 7: -54.598897, 8: -75.079532, 9: -99.733544},
}
SPLIT_SIZES = {"train": 110_000, "val": 10_000}
SPLIT_SEED = 1
SPLIT_SCHEMES = ("standard", "nvidia")
_CACHE_NAME = "qm9_v1.pt"
_SMILES_CACHE_NAME = "qm9_smiles_v1.pt"
_SYMBOL_Z = {"H": 1, "C": 6, "N": 7, "O": 8, "F": 9}



def qm9pack_csv_files() -> List[Path]:
    """The three QM9 CSV parts shipped by ``qm9pack`` (located without importing it:
    its ``__init__`` needs ``pkg_resources``, which recent setuptools dropped)."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("QM9 needs the 'qm9pack' package: pip install qm9pack")
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    files = [folder / f"qm9_part{i}.csv" for i in (1, 2, 3)]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise DatasetError(f"qm9pack is installed but its data files are missing: {missing}")
    return files


def _parse_flat(column: Sequence[str], dtype) -> np.ndarray:
    text = ",".join(column).replace("[", "").replace("]", "").replace("'", "")
    return np.array(text.split(","), dtype=dtype)


def parse_qm9(files: Sequence[Path]) -> Dict[str, torch.Tensor]:
    """Parse the qm9pack CSVs into flat tensors (positions Å, atomic numbers, targets in library units)."""
    import pandas as pd

    columns = ["Index", "N_atoms", "Elements", "XYZ_Ang"] + list(_COLUMNS.values())
    try:
        frame = pd.concat([pd.read_csv(f, usecols=columns) for f in files], ignore_index=True)
    except ValueError as err:
        raise DatasetError(f"QM9 CSV files lack an expected column: {err}") from None
    frame = frame.sort_values("Index", kind="stable").reset_index(drop=True)
    num_atoms = frame["N_atoms"].to_numpy(np.int64)
    pos = _parse_flat(frame["XYZ_Ang"], np.float64).reshape(-1, 3)
    z = np.array([_SYMBOL_Z[s] for s in _parse_flat(frame["Elements"], str)], dtype=np.int64)
    if pos.shape[0] != num_atoms.sum() or z.shape[0] != num_atoms.sum():
        raise DatasetError("QM9 CSV: atom counts do not match the coordinates/elements columns")
    ptr = np.concatenate([[0], np.cumsum(num_atoms)])
    targets = np.stack([frame[_COLUMNS[t]].to_numpy(np.float64) for t in TARGETS], axis=1)
    for name, refs in ATOM_REFERENCES.items():
        ref_per_atom = np.vectorize(refs.get)(z)
        targets[:, TARGETS.index(name)] -= np.add.reduceat(ref_per_atom, ptr[:-1])
    for name in _HARTREE_TARGETS:
        targets[:, TARGETS.index(name)] *= HARTREE_TO_MEV
    return {"pos": torch.from_numpy(pos), "z": torch.from_numpy(z), "ptr": torch.from_numpy(ptr),
            "targets": torch.from_numpy(targets), "index": torch.from_numpy(np.array(frame["Index"], dtype=np.int64))}


def load_qm9_arrays(cache: Optional[str] = None) -> Dict[str, torch.Tensor]:
    """Parsed QM9 as flat tensors, from the on-disk cache when present (a second load takes ~1 s)."""
    path = cache_dir(cache) / _CACHE_NAME
    if path.is_file():
        try:
            return torch.load(path, weights_only=True)
        except Exception as err:  # a corrupt cache is rebuilt, not fatal
            log.warning("QM9 cache %s is unreadable (%s); rebuilding it", path, err)
    start = time.time()
    arrays = parse_qm9(qm9pack_csv_files())
    atomic_torch_save(arrays, path)
    log.info("parsed QM9 (%d molecules) in %.1f s; cached at %s", len(arrays["index"]), time.time() - start, path)
    return arrays


def load_qm9_smiles(cache: Optional[str] = None) -> List[str]:
    """The SMILES of every molecule, in the order of :func:`load_qm9_arrays` (cached beside it)."""
    import pandas as pd

    path = cache_dir(cache) / _SMILES_CACHE_NAME
    if path.is_file():
        try:
            return torch.load(path, weights_only=True)
        except Exception as err:
            log.warning("QM9 SMILES cache %s is unreadable (%s); rebuilding it", path, err)
    frame = pd.concat([pd.read_csv(f, usecols=["Index", "SMILES"]) for f in qm9pack_csv_files()], ignore_index=True)
    smiles = frame.sort_values("Index", kind="stable")["SMILES"].astype(str).tolist()
    atomic_torch_save(smiles, path)
    return smiles


def split_indices(num_molecules: int, seed: int = SPLIT_SEED, scheme: str = "standard") -> Dict[str, np.ndarray]:
    """The positions 0..num_molecules-1 of each split of ``scheme`` (see the module docstring)."""
    if scheme not in SPLIT_SCHEMES:
        raise DatasetError(f"unknown QM9 split scheme {scheme!r}; choose from {list(SPLIT_SCHEMES)}")
    if scheme == "nvidia":
        num_train, num_test = 100_000, int(0.1 * num_molecules)
        if num_molecules <= num_train + num_test:
            raise DatasetError(f"the nvidia QM9 split needs more than {num_train + num_test} molecules")
        perm = torch.randperm(num_molecules, generator=torch.Generator().manual_seed(0)).numpy()
        num_val = num_molecules - num_train - num_test
        return {"train": perm[:num_train], "val": perm[num_train:num_train + num_val],
                "test": perm[num_train + num_val:]}
    perm = np.random.default_rng(seed).permutation(num_molecules)
    n_train, n_val = SPLIT_SIZES["train"], SPLIT_SIZES["val"]
    if num_molecules <= n_train + n_val:
        raise DatasetError(f"QM9 split needs more than {n_train + n_val} molecules, got {num_molecules}")
    return {"train": perm[:n_train], "val": perm[n_train:n_train + n_val], "test": perm[n_train + n_val:]}


class QM9Dataset(torch.utils.data.Dataset):
    """One split of QM9 as atomic-data dicts with the requested targets.

    Args:
        targets: names from :data:`TARGETS` (e.g. ``["gap"]``).
        cutoff: radius-graph cutoff in Å, or ``None`` for records without edges (a model's
            ``prepare`` then builds the graph it declares).
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        subset: keep only the first ``subset`` molecules of the split (the split
            is already a random permutation, so this is a random subset).
        cache: cache folder override.
        split_scheme: ``standard`` or ``nvidia`` (module docstring).
        bonds: add ``bond_index`` / ``bond_type`` from each molecule's SMILES (needs RDKit).

    Example:
        >>> ds = QM9Dataset(["gap"], cutoff=5.0, split="test", subset=2)
        >>> len(ds), sorted(ds[0])[:3]
        (2, ['atomic_numbers', 'cell', 'edge_cell_shift'])
    """

    def __init__(self, targets: Sequence[str], cutoff: Optional[float] = None, split: str = "train",
                 subset: Optional[int] = None, cache: Optional[str] = None, split_scheme: str = "standard",
                 bonds: bool = False):
        unknown = [t for t in targets if t not in TARGETS]
        if unknown or not targets:
            raise DatasetError(f"unknown QM9 target(s) {unknown or targets}; choose from {list(TARGETS)}")
        arrays = load_qm9_arrays(cache)
        n = len(arrays["index"])
        if split == "all":
            indices = np.arange(n)
        else:
            splits = split_indices(n, scheme=split_scheme)
            if split not in splits:
                raise DatasetError(f"unknown split {split!r}; choose train, val, test or all")
            indices = splits[split]
        if subset is not None:
            if subset < 1:
                raise DatasetError(f"subset must be a positive number of molecules, got {subset}")
            indices = indices[:subset]
        self.indices = indices
        self.targets, self.split = list(targets), split
        self.cutoff = None if cutoff is None else float(cutoff)
        self.units = {t: UNITS[t] for t in self.targets}
        self._pos, self._z, self._ptr = arrays["pos"], arrays["z"], arrays["ptr"]
        columns = [TARGETS.index(t) for t in self.targets]
        self._targets = arrays["targets"][:, columns]
        self._qm9_index = arrays["index"]
        self._smiles = load_qm9_smiles(cache) if bonds else None
        if self._smiles is not None and len(self._smiles) != n:
            raise DatasetError(f"QM9: {len(self._smiles)} SMILES for {n} molecules; clear the cache {cache_dir(cache)}")

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> AtomicData:
        i = int(self.indices[item])
        start, stop = int(self._ptr[i]), int(self._ptr[i + 1])
        values = {t: float(self._targets[i, k]) for k, t in enumerate(self.targets)}
        record = from_arrays(self._pos[start:stop].numpy(), self._z[start:stop].numpy(), self.cutoff,
                             targets=values, name=f"QM9 molecule {int(self._qm9_index[i])}")
        if self._smiles is not None:
            record[K.BOND_INDEX], record[K.BOND_TYPE] = perceive_bonds(
                self._z[start:stop].numpy(), self._pos[start:stop].numpy(), self._smiles[i])
        return record

    def target_array(self) -> torch.Tensor:
        """Targets of this split, [len(self), len(targets)] (no structures built)."""
        return self._targets[torch.from_numpy(self.indices)]

    def num_atoms_array(self) -> torch.Tensor:
        idx = torch.from_numpy(self.indices)
        return self._ptr[idx + 1] - self._ptr[idx]
