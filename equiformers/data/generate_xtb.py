"""MD17-style reference data, generated offline with GFN2-xTB (tblite) and ASE Langevin dynamics.

The published MD17 files cannot be downloaded here, so ``equiformers data md17-xtb MOLECULE``
builds the molecule from SMILES (RDKit, ETKDG), relaxes it with xTB, runs Langevin MD at 500 K
(0.5 fs steps, friction 0.01/fs, ``fixcm=False``) and keeps every ``interval``-th frame with
its energy (eV) and forces (eV/Å). Frames are appended to ``<name>.extxyz`` as they come, so
an interrupted run resumes from its last complete frame; at the end ``<name>.npz`` is written
in the revised-MD17 layout (kcal/mol).

The settings that determine the trajectory are stored next to the frames in
``<name>.settings.json`` (written before the first frame), so that a rerun with other settings
into the same folder stops with an error instead of appending to, or returning, frames of
another trajectory. ``steps`` is not one of them: asking for more steps extends the same run.
"""

import io
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import DatasetError
from ..optional import require
from .frames import KCAL_PER_MOL_TO_EV

#: The eight MD17 molecules.
MD17_SMILES = {
    "aspirin": "CC(=O)OC1=CC=CC=C1C(=O)O",
    "benzene": "c1ccccc1",
    "ethanol": "CCO",
    "malonaldehyde": "O=CCC=O",
    "naphthalene": "c1ccc2ccccc2c1",
    "salicylic_acid": "O=C(O)c1ccccc1O",
    "toluene": "Cc1ccccc1",
    "uracil": "O=C1C=CNC(=O)N1",
}


@dataclass
class MDSettings:
    steps: int = 20_000
    interval: int = 10
    timestep_fs: float = 0.5
    temperature_K: float = 500.0
    friction_per_fs: float = 0.01
    seed: int = 0


METHOD = "GFN2-xTB"


def trajectory_identity(name: str, smiles: str, settings: MDSettings) -> dict:
    """Everything that determines the frames; two runs may share a file only if all of it agrees.

    ``steps`` is left out on purpose: a longer run of the same trajectory resumes and extends it."""
    fields = {key: value for key, value in asdict(settings).items() if key != "steps"}
    return {"molecule": name, "smiles": smiles, "method": METHOD, **fields}


def settings_path(xyz: Path) -> Path:
    return xyz.with_name(xyz.stem + ".settings.json")


def write_settings(path: Path, identity: dict) -> None:
    """Atomically (temp file in the same folder, then ``os.replace``): a crash never leaves half a file."""
    from .. import __version__

    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(handle, "w") as stream:
        json.dump({**identity, "equiformers_version": __version__}, stream, indent=1)
        stream.write("\n")
    os.replace(tmp, path)


def check_existing_frames(xyz: Path, identity: dict) -> None:
    """Refuse to resume (or return) frames whose settings differ from ``identity`` or are unknown."""
    sidecar = settings_path(xyz)
    present = [str(path) for path in (xyz, sidecar, xyz.with_suffix(".npz")) if path.is_file()]
    start_over = f"choose another output folder (--output), or delete {' '.join(present)} to regenerate them"
    if not sidecar.is_file():
        raise DatasetError(f"{xyz} holds frames without a settings file {sidecar.name} (written by an older "
                           f"equiformers), so their temperature, seed and timestep are unknown; {start_over}")
    try:
        stored = json.loads(sidecar.read_text())
    except (OSError, ValueError) as err:
        raise DatasetError(f"cannot read {sidecar}: {err}; {start_over}") from None
    differences = [f"{key}: {stored.get(key, 'missing')} in {sidecar}, {value} requested"
                   for key, value in identity.items() if stored.get(key) != value]
    if differences:
        raise DatasetError(f"{xyz} holds frames of other settings ({'; '.join(differences)}); {start_over}")


def _require(module: str):
    return require(module, "xTB data generation")


def molecule_from_smiles(smiles: str, seed: int = 0):
    """ASE ``Atoms`` with hydrogens, 3D coordinates from RDKit's ETKDG embedding."""
    _require("rdkit")
    from ase import Atoms
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise DatasetError(f"RDKit cannot parse the SMILES {smiles!r}")
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise DatasetError(f"RDKit could not embed {smiles!r} in 3D")
    AllChem.MMFFOptimizeMolecule(mol)
    positions = mol.GetConformer().GetPositions()
    return Atoms(numbers=[a.GetAtomicNum() for a in mol.GetAtoms()], positions=positions)


def xtb_calculator():
    _require("tblite")
    from tblite.ase import TBLite

    return TBLite(method="GFN2-xTB", verbosity=0)


def _frame_text(atoms, energy: float, forces: np.ndarray) -> str:
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    frame = atoms.copy()
    frame.set_momenta(atoms.get_momenta())
    frame.calc = SinglePointCalculator(frame, energy=energy, forces=forces)
    buffer = io.StringIO()
    write(buffer, frame, format="extxyz")
    return buffer.getvalue()


def _complete_frames(path: Path, num_atoms: int):
    """Frames already written; a torn last frame (interrupted write) is cut off the file."""
    from ase.io import read

    if not path.is_file():
        return []
    lines = path.read_text().splitlines(keepends=True)
    per_frame = num_atoms + 2
    keep = len(lines) // per_frame * per_frame
    if keep != len(lines):
        with open(path, "w") as handle:
            handle.writelines(lines[:keep])
    return read(str(path), index=":") if keep else []


def generate_md17_xtb(name: str, output_dir="data", settings: Optional[MDSettings] = None,
                      smiles: Optional[str] = None, progress: bool = True) -> Path:
    """Run (or resume) the xTB Langevin trajectory of ``name``; returns the extxyz path."""
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.optimize import BFGS
    from tqdm.auto import tqdm

    settings = settings or MDSettings()
    smiles = smiles or MD17_SMILES.get(name)
    if smiles is None:
        raise DatasetError(f"unknown molecule {name!r}; built in: {sorted(MD17_SMILES)} (or pass a SMILES)")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    xyz = out / f"{name}.extxyz"
    identity = trajectory_identity(name, smiles, settings)
    if xyz.is_file() and xyz.stat().st_size > 0:
        check_existing_frames(xyz, identity)
    else:  # no frames yet: any older settings file describes nothing, so it is replaced
        write_settings(settings_path(xyz), identity)
    atoms = molecule_from_smiles(smiles, settings.seed)
    atoms.calc = xtb_calculator()
    done = _complete_frames(xyz, len(atoms))
    rng = np.random.default_rng(settings.seed + len(done))
    if done:  # resume from the last frame's positions and momenta
        atoms.set_positions(done[-1].get_positions())
        atoms.set_momenta(done[-1].get_momenta())
    else:
        BFGS(atoms, logfile=None).run(fmax=0.05, steps=200)
        MaxwellBoltzmannDistribution(atoms, temperature_K=settings.temperature_K, rng=rng)
    total_frames = settings.steps // settings.interval
    dyn = Langevin(atoms, timestep=settings.timestep_fs * units.fs, temperature_K=settings.temperature_K,
                   friction=settings.friction_per_fs / units.fs, fixcm=False, rng=rng)
    with open(xyz, "a") as handle, tqdm(total=total_frames, initial=min(len(done), total_frames),
                                        desc=f"xTB MD {name}", unit="frame", disable=not progress) as bar:
        for _ in range(len(done), total_frames):
            dyn.run(settings.interval)
            handle.write(_frame_text(atoms, atoms.get_potential_energy(), atoms.get_forces()))
            handle.flush()
            os.fsync(handle.fileno())
            bar.update(1)
    write_rmd17_npz(xyz, out / f"{name}.npz")
    return xyz


def write_rmd17_npz(xyz: Path, path: Path) -> Path:
    """Write the frames of ``xyz`` in the revised-MD17 ``.npz`` layout (kcal/mol, kcal/mol/Å)."""
    from ase.io import read

    frames = read(str(xyz), index=":")
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, nuclear_charges=frames[0].get_atomic_numbers(),
             coords=np.stack([f.get_positions() for f in frames]),
             energies=np.array([f.get_potential_energy() for f in frames]) / KCAL_PER_MOL_TO_EV,
             forces=np.stack([f.get_forces() for f in frames]) / KCAL_PER_MOL_TO_EV)
    os.replace(tmp, path)
    return path
