"""Lightning task for potential-energy surfaces: energy and conservative-force losses."""

from ..data import keys as K
from ..tasks.forces import energy_forces_stress
from ..tasks.losses import vector_loss
from .module import TaskBase

EV_TO_MEV = 1000.0


class EnergyForceTask(TaskBase):
    """``loss = w_E L((E - E_ref) / s [/ N]) + w_F L((F - F_ref) / s)`` with forces ``-dE/dx``.

    ``s`` is the model's output scale (the force RMS of the training set, or the
    energy std), so both terms are dimensionless; ``per_atom_energy`` divides the
    energy error by the number of atoms. Metrics: energy MAE in meV and force
    MAE (per component) in meV/Å.
    """

    def step(self, batch, stage: str):
        cfg = self.training_config
        out = energy_forces_stress(self.model, batch, training=stage == "train")
        scale = self.model.head.scale[0]
        energy_err = out["energy"] - batch["energy"].to(out["energy"].dtype)
        force_err = out["forces"] - batch["forces"].to(out["forces"].dtype)
        energy_scaled = energy_err / scale
        if cfg.per_atom_energy:
            energy_scaled = energy_scaled / batch[K.NUM_ATOMS].to(energy_scaled.dtype)
        loss = cfg.energy_weight * vector_loss(energy_scaled.unsqueeze(-1), cfg.loss) \
            + cfg.force_weight * vector_loss(force_err / scale, cfg.loss)
        self.log_metric(f"{stage}/loss", loss.detach(), batch, prog_bar=stage != "test")
        self.log_metric(f"{stage}/mae_energy", energy_err.detach().abs().mean() * EV_TO_MEV, batch)
        self.log_metric(f"{stage}/mae_forces", force_err.detach().abs().mean() * EV_TO_MEV, batch,
                        prog_bar=stage == "val")
        return loss

