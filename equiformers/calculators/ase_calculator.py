"""ASE calculator: energies, forces (and stress for periodic cells) from a saved model.

Example:
    >>> import equiformers, torch
    >>> from ase.build import molecule
    >>> from equiformers.calculators import EquiformerCalculator
    >>> model = equiformers.build_model("equiformer-md17-l2", num_layers=1, channels=[8, 4], num_heads=2)
    >>> atoms = molecule("H2O")
    >>> atoms.calc = EquiformerCalculator(model)
    >>> atoms.get_forces().shape
    (3, 3)
"""

from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes

from ..data import collate, from_ase, to_device
from ..data.domain import StructureChecks, TrainingDomain, emit_warnings
from ..errors import ConfigError
from ..tasks.forces import energy_forces_stress


class EquiformerCalculator(Calculator):
    """Energy (eV), forces (eV/Å) and, for periodic structures, stress (eV/Å^3, Voigt order).

    Args:
        model: a model, or the path of a model file (``model.pt`` or a training ``.ckpt``).
        device: ``"cpu"``, ``"cuda"``... (default: CUDA when available).
        dtype: run the model in this precision (``torch.float64`` for tight energy conservation).
        energy_key: which model output is the energy.
        domain: the model's :class:`~equiformers.data.domain.TrainingDomain` (read from the model
            file when ``model`` is a path; ``None`` for a model object: only overlaps are checked).
        min_distance, allow_overlap, allow_new_elements: see :class:`~equiformers.data.domain.StructureChecks`.
        max_edges: refuse a structure whose graph would exceed this many edges (checked when the
            atoms, cell or periodicity change; default :func:`~equiformers.data.graph_size.max_edges_limit`).

    Structures outside the model's domain raise :class:`~equiformers.errors.InvalidStructureError`
    (or, where allowed, give one :class:`~equiformers.errors.EquiformersWarning` per kind). The
    model's outputs must include ``energy_key``; the calculator changes no global torch state.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, model: Union[torch.nn.Module, str, Path], device: Optional[str] = None,
                 dtype: torch.dtype = torch.float32, energy_key: str = "energy",
                 domain: Optional[TrainingDomain] = None, min_distance: float = 0.5, allow_overlap: bool = False,
                 allow_new_elements: bool = False, max_edges: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(model, (str, Path)):
            from ..training.checkpoint import load_model

            model, metadata = load_model(model)
            domain = domain or TrainingDomain.from_dict(metadata.get("domain"))
        self.checks = StructureChecks(domain, min_distance, allow_overlap, allow_new_elements)
        self.max_edges, self._warned, self._system = max_edges, set(), None
        if energy_key not in model.outputs:
            raise ConfigError(f"the model predicts {sorted(model.outputs)}, not {energy_key!r}: "
                              "an ASE calculator needs an energy model")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(device=self.device, dtype=dtype).eval()
        self.energy_key = energy_key

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        periodic = bool(self.atoms.pbc.any())
        # the graph-size estimate only when the system itself changes (not at every MD step)
        system = (self.atoms.numbers.tobytes(), self.atoms.pbc.tobytes(), np.round(self.atoms.cell.array, 1).tobytes())
        record = self.model.prepare(from_ase(self.atoms), max_edges=self.max_edges if system != self._system else 0)
        self._system = system
        emit_warnings(self.checks.check(record), self._warned)
        data = to_device(collate([record]), self.device, self.model.dtype)
        out = energy_forces_stress(self.model, data, self.energy_key, compute_stress=periodic and self.atoms.pbc.all())
        energy = float(out[self.energy_key][0])
        forces = out["forces"].detach()
        emit_warnings(self.checks.check_prediction(energy, len(self.atoms), float(forces.norm(dim=1).max())
                                                   if len(forces) else None), self._warned)
        self.results = {"energy": energy, "free_energy": energy,
                        "forces": forces.double().cpu().numpy()}
        if "stress" in out:
            s = out["stress"][0].double().cpu().numpy()
            self.results["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
