"""Potential-energy surfaces: energies and forces (conservative by default)."""

from dataclasses import dataclass
from typing import Any, Dict

import numpy as np
import torch

from ..data import keys as K
from ..data.batching import collate, to_device
from ..data.statistics import fit_atom_energies, force_rms
from ..errors import ConfigError
from .base import Task, metric_display
from .forces import FORCES, energy_forces_stress
from .losses import vector_loss

ENERGY = "energy"


@dataclass
class EnergyForceConfig:
    """``loss = energy_weight L((E - E_ref) / s [/ N]) + force_weight L((F - F_ref) / s)``.

    ``s`` is the energy output's scale (the force RMS of the training set with
    ``force_rms_scaling``, else the energy std), so both terms are dimensionless;
    ``per_atom_energy`` divides the energy error by the number of atoms. ``loss``: ``l1``,
    ``l2`` or ``l2mae`` (mean Euclidean norm of the per-atom force error, the MD17 reference).
    ``atom_energies``: per-element reference energies E0: ``least_squares`` (fitted to the
    training energies), ``none``, or ``{symbol: eV}``.
    """

    type: str = "energy_forces"
    loss: str = "l1"
    energy_weight: float = 1.0
    force_weight: float = 80.0
    per_atom_energy: bool = False
    atom_energies: Any = "least_squares"
    force_rms_scaling: bool = True

    def validate(self) -> None:
        if self.loss not in ("l1", "l2", "l2mae"):
            raise ConfigError(f"task.loss must be 'l1', 'l2' or 'l2mae', got {self.loss!r}")
        if not (isinstance(self.atom_energies, dict) or self.atom_energies in ("least_squares", "none")):
            raise ConfigError("task.atom_energies must be 'least_squares', 'none' or {symbol: energy in eV}")
        if self.energy_weight < 0 or self.force_weight < 0 or self.energy_weight + self.force_weight <= 0:
            raise ConfigError("task.energy_weight and task.force_weight must be >= 0, and not both 0")


class EnergyForceTask(Task):
    """Energy [B] (eV) and forces [N, 3] (eV/Å), metrics in meV and meV/Å."""

    type = "energy_forces"
    Config = EnergyForceConfig
    needs_autograd = True

    def __init__(self, config, targets):
        if list(targets) != [ENERGY]:
            raise ConfigError(f"energy/force training predicts data.targets: [energy], got {list(targets)}")
        super().__init__(config, targets)

    progress_metric = "mae_forces"

    def default_heads(self):
        return {ENERGY: {"type": "graph_scalar"}}

    def fit_output_statistics(self, model, train_set) -> None:
        """E0s per element (fitted or given), output scale from the force RMS (or energy std), no shift."""
        type_map = model.type_map
        setting = self.config.atom_energies
        if setting == "least_squares":
            e0 = fit_atom_energies(train_set, type_map.num_types, type_map)
        else:
            e0 = torch.zeros(type_map.num_types, dtype=torch.float64)
            if isinstance(setting, dict):
                from ase.data import atomic_numbers

                for symbol, value in setting.items():
                    if symbol not in atomic_numbers:
                        raise ConfigError(f"task.atom_energies: unknown element {symbol!r}")
                    row = int(type_map.type_of_z[atomic_numbers[symbol]])
                    if row < 0:
                        raise ConfigError(f"task.atom_energies: the model has no element {symbol!r}")
                    e0[row] = float(value)
        residual = train_set.target_array().double().squeeze(-1)
        scale = max(force_rms(train_set) if self.config.force_rms_scaling else float(residual.std()), 1e-6)
        model.set_output_statistics(ENERGY, scale=scale, shift=0.0, atom_reference=e0)
        if FORCES in model.outputs:  # direct forces: in units of the energy scale per Å
            model.set_output_statistics(FORCES, scale=scale)

    def predict(self, model, batch, training):
        return energy_forces_stress(model, batch, training=training)

    def loss_terms(self, model, out, batch):
        cfg = self.config
        scale = model.output_scale(ENERGY)[0]
        energy_err = (out[ENERGY] - batch[ENERGY].to(out[ENERGY].dtype)) / scale
        if cfg.per_atom_energy:
            energy_err = energy_err / batch[K.NUM_ATOMS].to(energy_err.dtype)
        force_err = (out[FORCES] - batch[FORCES].to(out[FORCES].dtype)) / scale
        return {"energy": (cfg.energy_weight, vector_loss(energy_err.unsqueeze(-1), cfg.loss)),
                "forces": (cfg.force_weight, vector_loss(force_err, cfg.loss))}

    def metrics(self, out, batch):
        factor_e, factor_f = metric_display("eV")[0], metric_display("eV/Å")[0]
        return {"mae_energy": (out[ENERGY] - batch[ENERGY]).detach().abs().mean() * factor_e,
                "mae_forces": (out[FORCES] - batch[FORCES]).detach().abs().mean() * factor_f}

    @property
    def units(self):
        return {ENERGY: metric_display("eV")[1], FORCES: metric_display("eV/Å")[1]}

    def evaluate(self, model, dataset, train_set, batch_size: int) -> Dict[str, Any]:
        """Energy MAE (meV) and force-component MAE (meV/Å), next to predicting the training-mean
        energy and zero forces."""
        device, dtype = next(model.parameters()).device, next(model.parameters()).dtype
        energies, forces = [[], []], [[], []]
        for start in range(0, len(dataset), batch_size):
            batch = collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
            out = energy_forces_stress(model, to_device(batch, device, dtype))
            energies[0].append(out[ENERGY].double().cpu()), energies[1].append(batch[ENERGY])
            forces[0].append(out[FORCES].double().cpu()), forces[1].append(batch[FORCES])
        e_pred, e_ref = (torch.cat(x).numpy() * metric_display("eV")[0] for x in energies)
        f_pred, f_ref = (torch.cat(x).numpy().reshape(-1) * metric_display("eV/Å")[0] for x in forces)
        train_mean = float(train_set.target_array().mean()) * metric_display("eV")[0]
        return {
            "num_graphs": int(len(dataset)), "units": self.units,
            "mae": {ENERGY: float(np.abs(e_pred - e_ref).mean()), FORCES: float(np.abs(f_pred - f_ref).mean())},
            "rmse": {ENERGY: float(np.sqrt(np.square(e_pred - e_ref).mean())),
                     FORCES: float(np.sqrt(np.square(f_pred - f_ref).mean()))},
            "baseline_mae_train_mean": {ENERGY: float(np.abs(e_ref - train_mean).mean()),
                                        FORCES: float(np.abs(f_ref).mean())},
            "baseline_names": {FORCES: "zero forces"},
            "_parity": {ENERGY: (e_pred, e_ref), FORCES: (f_pred, f_ref)},
        }
