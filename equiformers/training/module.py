"""The Lightning module: any model, any task; the loss is the task's weighted sum of terms."""

import time
from typing import Any, Dict, List, Optional

import lightning as L
import torch
from torch import nn

from ..data import keys as K
from ..errors import TrainingError
from ..nn import EquivariantLayerNorm
from ..nn.radial import RADIAL_BASES
from ..tasks.base import Task
from .checkpoint import model_record, seal
from .config import TrainingConfig
from .schedule import warmup_cosine_lr

_NO_DECAY_MODULES = (nn.LayerNorm, EquivariantLayerNorm) + tuple(RADIAL_BASES.values())


def parameter_groups(model: nn.Module, weight_decay: float) -> List[Dict[str, Any]]:
    """AdamW groups: no weight decay on norms, radial bases and ``nn.Linear`` biases (as the reference)."""
    no_decay = set()
    for module in model.modules():
        if isinstance(module, _NO_DECAY_MODULES):
            no_decay.update(id(p) for p in module.parameters(recurse=False))
        elif isinstance(module, nn.Linear) and module.bias is not None:
            no_decay.add(id(module.bias))
    decay = [p for p in model.parameters() if id(p) not in no_decay]
    rest = [p for p in model.parameters() if id(p) in no_decay]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


class TaskModule(L.LightningModule):
    """Trains ``model`` on ``task``: ``loss = sum_k w_k * term_k`` over the task's loss terms (each
    logged as ``<stage>/loss_<term>``), the task's metrics logged per stage; AdamW with the
    warm-up + cosine schedule over the step or time budget; checkpoints carry a self-contained
    model record."""

    def __init__(self, model: nn.Module, task: Task, training: TrainingConfig, run_config: Dict[str, Any],
                 domain: Optional[Dict[str, Any]] = None):
        super().__init__()
        self.model, self.task, self.domain = model, task, domain
        self.targets, self.units = list(task.targets), dict(task.units)
        self.training_config, self.run_config = training, run_config
        self._clock_start = None  # monotonic time of this (re)start's first step
        self._elapsed_before = 0.0  # training seconds of earlier runs (from the checkpoint)

    def forward(self, batch):
        return self.model(batch)

    def log_metric(self, name: str, value, batch, prog_bar: bool = False) -> None:
        # sync_dist: with DDP, epoch metrics are averaged over all processes' batches
        self.log(name, value, batch_size=batch[K.NUM_ATOMS].shape[0], on_step=False, on_epoch=True,
                 prog_bar=prog_bar, sync_dist=True)

    def training_step(self, batch, batch_idx):
        self._update_lr()
        return self.step(batch, "train")

    def validation_step(self, batch, batch_idx):
        return self.step(batch, "val")

    def test_step(self, batch, batch_idx):
        return self.step(batch, "test")

    def step(self, batch, stage: str):
        out = self.task.predict(self.model, batch, training=stage == "train")
        terms = self.task.loss_terms(self.model, out, batch)
        loss = sum(weight * value for weight, value in terms.values())
        if stage == "train" and not torch.isfinite(loss):
            # stop before the optimiser step spreads NaN into every weight; checkpoints written so far
            # (and no model.pt) are all that remain, so nothing good is overwritten by a NaN model
            values = ", ".join(f"{name} {float(value.detach()):.4g}" for name, (_, value) in terms.items())
            raise TrainingError(f"non-finite training loss at step {self.global_step} ({values}); stopped without "
                                "saving. Check the data for extreme values, or lower training.lr / set "
                                "training.grad_clip; the last good checkpoint is in output_dir/checkpoints")
        self.log_metric(f"{stage}/loss", loss.detach(), batch, prog_bar=stage != "test")
        if stage == "train":  # per logged step too, so that a run shorter than an epoch has a curve
            self.log("train/loss_step", loss.detach(), on_step=True, on_epoch=False, batch_size=1)
        if len(terms) > 1:
            for name, (_, value) in terms.items():
                self.log_metric(f"{stage}/loss_{name}", value.detach(), batch)
        for name, value in self.task.metrics(out, batch).items():
            self.log_metric(f"{stage}/{name}", value.detach(), batch,
                            prog_bar=stage == "val" and name == self.task.progress_metric)
        return loss

    # --- schedule: progress through whichever budget (steps or time) runs out first ---
    def elapsed_s(self) -> float:
        """Wall-clock seconds of training so far, across resumes."""
        return self._elapsed_before + (time.monotonic() - self._clock_start if self._clock_start else 0.0)

    def _progress(self) -> float:
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        progress = self.global_step / total
        budget = self.training_config.max_time_minutes
        if budget:
            progress = max(progress, self.elapsed_s() / (60.0 * budget))
        return progress

    def _update_lr(self) -> None:
        if self._clock_start is None:
            self._clock_start = time.monotonic()
        cfg = self.training_config
        steps_per_epoch = max(self.trainer.num_training_batches, 1)
        warmup_fraction = min(cfg.warmup_epochs * steps_per_epoch / max(self.trainer.estimated_stepping_batches, 1),
                              0.5)
        lr = warmup_cosine_lr(self._progress(), warmup_fraction, cfg.lr, cfg.warmup_lr, cfg.min_lr)
        for group in self.trainer.optimizers[0].param_groups:
            group["lr"] = lr
        self.log("lr", lr, on_step=True, on_epoch=False, batch_size=1)
        self.log("elapsed_min", self.elapsed_s() / 60.0, on_step=True, on_epoch=False, batch_size=1)

    def time_budget_spent(self) -> bool:
        budget = self.training_config.max_time_minutes
        return bool(budget) and self._clock_start is not None and self._progress() >= 1.0

    def on_train_batch_end(self, outputs, batch, batch_idx):
        # Stopping through should_stop (not only Lightning's own max_steps check) makes Lightning
        # validate once more when a step or time budget ends mid-epoch, so the last weights are scored.
        max_steps = self.training_config.max_steps
        if self.time_budget_spent() or (max_steps and self.global_step >= max_steps):
            self.trainer.should_stop = True

    def configure_optimizers(self):
        cfg = self.training_config
        return torch.optim.AdamW(parameter_groups(self.model, cfg.weight_decay), lr=cfg.warmup_lr)

    # --- checkpoints carry a self-contained model record and the time spent so far ---
    def on_save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        elapsed = self.elapsed_s()
        record = model_record(self.model, targets=self.targets, units=self.units, run_config=self.run_config,
                              domain=self.domain)
        # Callbacks run first: with EMA, checkpoint["state_dict"] already holds the averaged weights,
        # which are the ones to deploy.
        record["state_dict"] = {k[len("model."):]: v.detach().cpu() for k, v in checkpoint["state_dict"].items()
                                if k.startswith("model.")}
        checkpoint["equiformers"] = seal(record)
        checkpoint["equiformers_elapsed_s"] = elapsed

    def on_load_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        self._elapsed_before = float(checkpoint.get("equiformers_elapsed_s", 0.0))
        self._clock_start = None
