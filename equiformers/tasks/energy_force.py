"""Potential-energy surfaces: energies and forces (conservative by default)."""

from dataclasses import dataclass
from typing import Any, Dict

import numpy as np
import torch

from ..data import keys as K
from ..data.statistics import fit_atom_energies, force_rms
from ..errors import ConfigError
from .base import Task, batches, metric_display
from .forces import FORCES, energy_forces_stress
from .losses import vector_loss

ENERGY, STRESS = K.ENERGY, K.STRESS


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

    def evaluate(self, model, dataset, train_set, batch_size: int, progress: bool = False) -> Dict[str, Any]:
        """Energy MAE (meV), force-component MAE (meV/Å; also per element) and, when the data has
        stresses, stress MAE (meV/Å^3), next to predicting the training-mean energy and zero forces."""
        device, dtype = next(model.parameters()).device, next(model.parameters()).dtype
        pred, ref, numbers = {ENERGY: [], FORCES: [], STRESS: []}, {ENERGY: [], FORCES: [], STRESS: []}, []
        for batch in batches(dataset, batch_size, progress, "testing", device, dtype):
            with_stress = STRESS in batch
            out = energy_forces_stress(model, batch, compute_stress=with_stress)
            for key in (ENERGY, FORCES) + ((STRESS,) if with_stress else ()):
                pred[key].append(out[key].double().cpu().reshape(-1))
                ref[key].append(batch[key].double().cpu().reshape(-1))
            numbers.append(batch[K.ATOMIC_NUMBERS].cpu().repeat_interleave(3))
        names = [k for k in (ENERGY, FORCES, STRESS) if pred[k]]
        units = {ENERGY: "eV", FORCES: "eV/Å", STRESS: "eV/Å^3"}
        factor = {k: metric_display(units[k])[0] for k in names}
        p = {k: torch.cat(pred[k]).numpy() * factor[k] for k in names}
        r = {k: torch.cat(ref[k]).numpy() * factor[k] for k in names}
        train_mean = float(train_set.target_array().mean()) * factor[ENERGY]
        z = torch.cat(numbers).numpy()
        from ase.data import chemical_symbols

        force_error = np.abs(p[FORCES] - r[FORCES])
        per_element = {chemical_symbols[int(e)]: float(force_error[z == e].mean()) for e in np.unique(z)}
        return {
            "num_graphs": int(len(dataset)), "units": {k: metric_display(units[k])[1] for k in names},
            "mae": {k: float(np.abs(p[k] - r[k]).mean()) for k in names},
            "rmse": {k: float(np.sqrt(np.square(p[k] - r[k]).mean())) for k in names},
            "baseline_mae_train_mean": {ENERGY: float(np.abs(r[ENERGY] - train_mean).mean()),
                                        **{k: float(np.abs(r[k]).mean()) for k in names if k != ENERGY}},
            "baseline_names": {FORCES: "zero forces", STRESS: "zero stress"},
            "force_mae_per_element": per_element,
            "_parity": {k: (p[k], r[k]) for k in names},
        }
