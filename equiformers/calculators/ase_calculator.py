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
from ..errors import ConfigError
from ..tasks.forces import energy_forces_stress


class EquiformerCalculator(Calculator):
    """Energy (eV), forces (eV/Å) and, for periodic structures, stress (eV/Å^3, Voigt order).

    Args:
        model: a model, or the path of a model file (``model.pt`` or a training ``.ckpt``).
        device: ``"cpu"``, ``"cuda"``... (default: CUDA when available).
        dtype: run the model in this precision (``torch.float64`` for tight energy conservation).
        energy_key: which model output is the energy.

    The model's outputs must include ``energy_key``; the calculator does not
    change any global torch state.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, model: Union[torch.nn.Module, str, Path], device: Optional[str] = None,
                 dtype: torch.dtype = torch.float32, energy_key: str = "energy", **kwargs):
        super().__init__(**kwargs)
        if isinstance(model, (str, Path)):
            from ..training.checkpoint import load_model

            model, _ = load_model(model)
        if energy_key not in model.outputs:
            raise ConfigError(f"the model predicts {sorted(model.outputs)}, not {energy_key!r}: "
                              "an ASE calculator needs an energy model")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(device=self.device, dtype=dtype).eval()
        self.energy_key = energy_key

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        periodic = bool(self.atoms.pbc.any())
        data = to_device(collate([self.model.prepare(from_ase(self.atoms))]), self.device, self.model.dtype)
        out = energy_forces_stress(self.model, data, self.energy_key, compute_stress=periodic and self.atoms.pbc.all())
        energy = float(out[self.energy_key][0])
        self.results = {"energy": energy, "free_energy": energy,
                        "forces": out["forces"].double().cpu().numpy()}
        if "stress" in out:
            s = out["stress"][0].double().cpu().numpy()
            self.results["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
