"""Energy/force datasets of frames: MD17, revised MD17 and MD22 ``.npz`` files, and anything ASE reads.

Units are converted at load time to eV and eV/Å (and logged):

* MD17 / MD22 ``.npz`` (sGDML layout): ``R`` [M, N, 3] Å, ``z`` [N], ``E`` [M] or [M, 1] kcal/mol,
  ``F`` [M, N, 3] kcal/mol/Å.
* revised MD17 ``.npz``: ``coords``, ``nuclear_charges``, ``energies``, ``forces`` (kcal/mol).
* extended XYZ, ASE databases and every other format ``ase.io.read`` knows: energies and forces
  in eV and eV/Å, read from ``atoms.info[energy_key]`` / ``atoms.arrays[forces_key]`` or from
  the frame's single-point calculator.

The standard MD17 protocol draws 950 training and 50 validation frames at random and tests on
the rest (:func:`frame_split`).
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch

from ..errors import DatasetError
from .atomic_data import AtomicData, from_arrays
from .keys import ENERGY, FORCES, STRESS, unit_of

log = logging.getLogger(__name__)

KCAL_PER_MOL_TO_EV = 0.0433641042  # 1 kcal/mol = 4.184 kJ/mol / 96.4853321 kJ/mol per eV
NPZ_LAYOUTS = {
    "md17": {"positions": "R", "numbers": "z", "energy": "E", "forces": "F"},
    "rmd17": {"positions": "coords", "numbers": "nuclear_charges", "energy": "energies", "forces": "forces"},
}


@dataclass
class Frames:
    """Frames of structures with energies (eV) and forces (eV/Å); cell/pbc per frame when periodic."""

    positions: list  # M arrays [N_i, 3]
    numbers: list  # M arrays [N_i]
    energy: np.ndarray  # [M]
    forces: list  # M arrays [N_i, 3]
    cells: Optional[list] = None
    pbc: Optional[list] = None
    stress: Optional[list] = None  # M arrays [3, 3] eV/Å^3, when every frame has one

    def __len__(self) -> int:
        return len(self.positions)

    def check_finite(self, source) -> "Frames":
        """Raise :class:`DatasetError` naming ``source``, the first bad frame and the key when a
        position, energy or force is NaN or infinite (one such value would turn a model into NaN)."""
        for name, values in (("positions", self.positions), ("energy", self.energy), ("forces", self.forces),
                             ("stress", self.stress or [])):
            for i, value in enumerate(values):
                if not np.all(np.isfinite(value)):
                    bad = int(np.sum(~np.isfinite(value)))
                    raise DatasetError(f"{source}, frame {i}: {name} contains {bad} NaN or infinite value(s); "
                                       "remove or fix that frame")
        return self


def read_npz_frames(path, layout: str = "auto") -> Frames:
    """Frames of an MD17/MD22 (``layout="md17"``) or revised-MD17 (``"rmd17"``) ``.npz`` file, in eV."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"dataset file not found: {path}")
    with np.load(path, allow_pickle=False) as npz:
        keys = set(npz.files)
        if layout == "auto":
            layout = next((name for name, k in NPZ_LAYOUTS.items() if set(k.values()) <= keys), None)
            if layout is None:
                raise DatasetError(f"{path}: neither the MD17 keys (R, z, E, F) nor the revised-MD17 keys "
                                   f"(coords, nuclear_charges, energies, forces) are present; found {sorted(keys)}")
        if layout not in NPZ_LAYOUTS:
            raise DatasetError(f"unknown npz layout {layout!r}; choose md17, rmd17 or auto")
        names = NPZ_LAYOUTS[layout]
        missing = [k for k in names.values() if k not in keys]
        if missing:
            raise DatasetError(f"{path}: missing key(s) {missing} of the {layout} layout")
        positions = np.asarray(npz[names["positions"]], dtype=np.float64)
        numbers = np.asarray(npz[names["numbers"]]).astype(np.int64).reshape(-1)
        energy = np.asarray(npz[names["energy"]], dtype=np.float64).reshape(-1) * KCAL_PER_MOL_TO_EV
        forces = np.asarray(npz[names["forces"]], dtype=np.float64) * KCAL_PER_MOL_TO_EV
    if positions.ndim != 3 or positions.shape[1:] != (len(numbers), 3) or forces.shape != positions.shape \
            or energy.shape[0] != positions.shape[0]:
        raise DatasetError(f"{path}: inconsistent shapes: positions {positions.shape}, numbers {numbers.shape}, "
                           f"energies {energy.shape}, forces {forces.shape}")
    log.info("%s: %d frames of %d atoms (%s layout); energies and forces converted from kcal/mol to eV",
             path, len(energy), len(numbers), layout)
    return Frames(list(positions), [numbers] * len(energy), energy, list(forces)).check_finite(path)


def read_ase_frames(path, energy_key: str = "energy", forces_key: str = "forces", index: str = ":") -> Frames:
    """Frames of any file ASE reads; energies (eV) and forces (eV/Å) from the given keys or the calculator."""
    import ase.io

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"dataset file not found: {path}")
    try:
        images = ase.io.read(str(path), index=index)
    except Exception as err:
        raise DatasetError(f"ASE cannot read {path}: {type(err).__name__}: {err}") from None
    images = images if isinstance(images, list) else [images]
    if not images:
        raise DatasetError(f"{path} contains no structures")
    energies, forces = [], []
    for i, atoms in enumerate(images):
        energies.append(_frame_value(atoms, energy_key, "info", path, i))
        forces.append(np.asarray(_frame_value(atoms, forces_key, "arrays", path, i), dtype=np.float64))
    periodic = [bool(a.pbc.any()) for a in images]
    return Frames([a.get_positions() for a in images], [a.get_atomic_numbers() for a in images],
                  np.asarray(energies, dtype=np.float64), forces,
                  cells=[a.cell.array if p else None for a, p in zip(images, periodic)],
                  pbc=[a.pbc.copy() for a in images], stress=_stresses(images)).check_finite(path)


def _stresses(images) -> Optional[list]:
    """Each periodic frame's stress as [3, 3] eV/Å^3 (from ``info["stress"]`` or the calculator, Voigt
    or full), or ``None`` unless every frame is periodic and has one."""
    out = []
    for atoms in images:
        value = atoms.info.get("stress")
        if value is None and atoms.calc is not None:
            value = getattr(atoms.calc, "results", {}).get("stress")
        if value is None or not atoms.pbc.all():
            return None
        value = np.asarray(value, dtype=np.float64).reshape(-1)
        if value.size == 6:  # Voigt order xx, yy, zz, yz, xz, xy
            xx, yy, zz, yz, xz, xy = value
            value = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
        out.append(value.reshape(3, 3))
    return out


def _frame_value(atoms, key: str, where: str, path, i: int):
    store = atoms.info if where == "info" else atoms.arrays
    if key in store:
        return store[key]
    calc = atoms.calc
    if calc is not None and key in getattr(calc, "results", {}):
        return calc.results[key]
    raise DatasetError(f"{path}, frame {i}: no {'energy' if where == 'info' else 'forces'} under key {key!r} "
                       f"(info keys: {sorted(atoms.info)}, array keys: {sorted(atoms.arrays)}); "
                       "set data.energy_key / data.forces_key")


def frame_split(num_frames: int, train: int = 950, val: int = 50, seed: int = 0) -> Dict[str, np.ndarray]:
    """Random ``train`` / ``val`` / rest split of frame indices (the MD17 protocol: 950 / 50 / rest)."""
    if train + val >= num_frames:
        raise DatasetError(f"cannot take {train} training and {val} validation frames from {num_frames}")
    perm = np.random.default_rng(seed).permutation(num_frames)
    return {"train": perm[:train], "val": perm[train:train + val], "test": perm[train + val:]}


class FramesDataset(torch.utils.data.Dataset):
    """Atomic-data dicts with ``energy`` [1] (eV), ``forces`` [N, 3] (eV/Å) and, when the frames have
    it, ``stress`` [1, 3, 3] (eV/Å^3) for selected frames."""

    units = {ENERGY: unit_of(ENERGY), FORCES: unit_of(FORCES)}

    def __init__(self, frames: Frames, cutoff: Optional[float] = None, indices=None, name: str = "frame"):
        """``cutoff``: radius-graph edges in Å, or ``None`` for records without edges."""
        self.frames, self.name = frames, name
        self.cutoff = None if cutoff is None else float(cutoff)
        self.indices = np.arange(len(frames)) if indices is None else np.asarray(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> AtomicData:
        i = int(self.indices[item])
        f = self.frames
        targets = {ENERGY: f.energy[i], FORCES: f.forces[i]}
        record = from_arrays(f.positions[i], f.numbers[i], self.cutoff,
                             cell=f.cells[i] if f.cells else None, pbc=f.pbc[i] if f.pbc else None,
                             targets=targets, name=f"{self.name} {i}")
        if f.stress is not None:
            record[STRESS] = torch.as_tensor(f.stress[i], dtype=torch.float64).reshape(1, 3, 3)
        return record

    def target_array(self) -> torch.Tensor:
        return torch.from_numpy(self.frames.energy[self.indices]).reshape(-1, 1)
