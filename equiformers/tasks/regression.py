"""Regression of graph-level targets (QM9 properties and the like) or block-level ones (per-residue
properties such as B-factors: :mod:`equiformers.data.blocks.bfactors`).

The level of a target is its key's level in the field registry (:mod:`equiformers.data.keys`); all
targets of one task share it, and the model's outputs must have it. Block-level targets may be NaN
(unlabelled blocks: ligands, short chains), which the loss and the metrics leave out; their output
scaling is a scale only (the model library's block and atom outputs have no shift), so the head's
bias learns their mean (0 for per-chain z-scores).
"""

import logging
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence

import numpy as np
import torch

from ..data import keys as K
from ..data.keys import unit_of
from ..data.statistics import target_statistics
from ..errors import ConfigError, DatasetError
from .base import Task, batches
from .losses import regression_loss
from .metrics import mae_per_target, masked_metrics, rmse_per_target

log = logging.getLogger(__name__)
LEVELS = ("graph", "block")


def target_level(name: str) -> str:
    """``graph`` or ``block``: the level of a target's registered key (unregistered names: graph).

    Example:
        >>> target_level("bfactor"), target_level("gap")
        ('block', 'graph')
    """
    try:
        return K.field(name).level
    except DatasetError:
        return "graph"


@dataclass
class RegressionConfig:
    """``loss``: ``l1`` or ``l2`` on standardised errors. ``standardize``: the model predicts
    ``raw * std + mean`` of the training targets; if false, ``raw * output_scale + output_shift``
    (default 1 and 0, in the target's unit).

    ``auxiliary_denoising``: EPT's QM9 fine-tuning ("noisy nodes", the official ``PredictorNNDModel``):
    during training only, a noised copy of each batch also goes through the model and the denoising
    loss (:class:`~.denoising.DenoisingTask`, its settings given here) is added with ``weight``
    (official: 0.1), e.g. ``{weight: 0.1, noise: block_rotation, output: noise}``; the model needs the
    denoising output (EPT's ``ept_vector`` head). The official code batches the clean and noised copies
    together; two forward passes give the same result (no batch-wide normalisation in EPT).
    """

    type: str = "regression"
    loss: str = "l1"
    standardize: bool = True
    output_scale: Optional[float] = None
    output_shift: Optional[float] = None
    auxiliary_denoising: Optional[Dict[str, Any]] = None

    def validate(self) -> None:
        if self.loss not in ("l1", "l2"):
            raise ConfigError(f"task.loss must be 'l1' or 'l2' for regression, got {self.loss!r}")
        if self.standardize and (self.output_scale is not None or self.output_shift is not None):
            raise ConfigError("task.output_scale/output_shift only apply with task.standardize: false")
        if self.auxiliary_denoising is not None:
            auxiliary_task(self.auxiliary_denoising)  # checks its keys and values


def auxiliary_task(settings: Dict[str, Any]):
    """(weight, :class:`~.denoising.DenoisingTask`) of a ``task.auxiliary_denoising`` mapping."""
    from ..models.config import config_from_dict
    from .denoising import DenoisingConfig, DenoisingTask

    if not isinstance(settings, dict):
        raise ConfigError(f"task.auxiliary_denoising must be a mapping (e.g. {{weight: 0.1}}), got {settings!r}")
    settings = dict(settings)
    weight = settings.pop("weight", 0.1)
    if not isinstance(weight, (int, float)) or not weight >= 0:
        raise ConfigError(f"task.auxiliary_denoising.weight must be a number >= 0, got {weight!r}")
    config = config_from_dict(DenoisingConfig, {"type": "denoising", **settings}, where="task.auxiliary_denoising")
    config.validate()
    return float(weight), DenoisingTask(config)


class RegressionTask(Task):
    """Graph-level targets in physical units, one L1/L2 loss term on standardised errors, MAE per target."""

    type = "regression"
    Config = RegressionConfig

    def __init__(self, config: RegressionConfig, targets):
        super().__init__(config, targets)
        self.auxiliary = auxiliary_task(config.auxiliary_denoising) if config.auxiliary_denoising else None
        levels = {t: target_level(t) for t in self.targets}
        wrong = {t: level for t, level in levels.items() if level not in LEVELS}
        if wrong:
            raise ConfigError(f"regression targets are graph- or block-level; {wrong} (use the energy_forces task "
                              "for forces)")
        if len(set(levels.values())) > 1:
            raise ConfigError(f"the targets of one regression must share a level, got {levels}; train graph- and "
                              "block-level targets in separate runs")
        self.level = next(iter(levels.values()), "graph")

    def required_outputs(self):
        return list(self.targets) + ([self.auxiliary[1].config.output] if self.auxiliary else [])

    def check_model(self, model) -> None:
        super().check_model(model)
        wrong = {t: model.outputs[t].level for t in self.targets if model.outputs[t].level != self.level}
        if wrong:
            hint = " (EPT: {type: ept_property, pool: per_block})" if self.level == "block" else ""
            raise ConfigError(f"the targets {sorted(wrong)} are {self.level}-level but the model's outputs for them "
                              f"are {sorted(set(wrong.values()))}-level; declare {self.level}-level heads{hint}")
        if self.auxiliary:
            self.auxiliary[1].check_model(model)

    def predict(self, model, batch, training):
        out = model(batch)
        if training and self.auxiliary:  # the noised copy, training only (as the official code)
            out = {**out, "auxiliary": self.auxiliary[1].predict(model, batch, True)}
        return out

    def default_heads(self) -> Dict[str, Dict[str, Any]]:
        if self.level == "block":  # no family-independent head writes per-block values
            example = f"{{{self.targets[0]}: {{type: ept_property, pool: per_block}}}}"
            raise ConfigError(f"the targets {self.targets} are per block: declare a block-level head under "
                              f"model: heads:, e.g. {example} (EPT)")
        if len(self.targets) == 1:
            return {self.targets[0]: {"type": "graph_scalar"}}
        return {"graph": {"type": "graph_scalar", "outputs": list(self.targets)}}

    def fit_output_statistics(self, model, train_set) -> None:
        if self.level == "block":
            self._fit_block_statistics(model, train_set.target_array().double())
            return
        stats = target_statistics(train_set.target_array().double())
        for i, name in enumerate(self.targets):
            if self.config.standardize:
                model.set_output_statistics(name, scale=stats["std"][i], shift=stats["mean"][i])
            else:
                model.set_output_statistics(name, scale=self.config.output_scale or 1.0,
                                            shift=self.config.output_shift or 0.0)

    def _fit_block_statistics(self, model, values: torch.Tensor) -> None:
        """Scale only (block outputs have no shift): the std of the labelled training blocks."""
        if self.config.output_shift:
            raise ConfigError("task.output_shift does not apply to block-level targets (their outputs are only scaled)")
        for i, name in enumerate(self.targets):
            column = values[:, i][torch.isfinite(values[:, i])]
            if column.numel() < 2:
                raise DatasetError(f"the training split has {column.numel()} labelled blocks for {name!r}; "
                                   "at least 2 are needed")
            scale = float(column.std()) if self.config.standardize else (self.config.output_scale or 1.0)
            model.set_output_statistics(name, scale=scale)
            log.info("%s: %d labelled training blocks, mean %.4g, std %.4g; output scale %.4g (no shift: the head's "
                     "bias learns the mean)", name, column.numel(), float(column.mean()), float(column.std()), scale)

    def _mask(self, target: torch.Tensor) -> Optional[torch.Tensor]:
        return torch.isfinite(target) if self.level == "block" else None

    def _stack(self, out, batch):
        pred = torch.stack([out[t] for t in self.targets], dim=1)
        target = torch.stack([batch[t].to(pred.dtype) for t in self.targets], dim=1)
        return pred, target

    def loss_terms(self, model, out, batch):
        pred, target = self._stack(out, batch)
        scale = torch.cat([model.output_scale(t) for t in self.targets])
        terms = {"targets": (1.0, regression_loss(pred, target, scale, self.config.loss, self._mask(target)))}
        if "auxiliary" in out:
            weight, denoiser = self.auxiliary
            for name, (w, value) in denoiser.loss_terms(model, out["auxiliary"], batch).items():
                terms[f"denoising_{name}"] = (weight * w, value)
        return terms

    def metrics(self, out, batch):
        pred, target = self._stack(out, batch)
        mask = self._mask(target)
        if mask is not None:  # mean over labelled blocks
            err = torch.where(mask, pred - target, torch.zeros_like(pred)).abs()
            return {f"mae_{name}": err[:, i].sum() / mask[:, i].sum().clamp(min=1)
                    for i, name in enumerate(self.targets)}
        return {f"mae_{name}": (pred[:, i] - target[:, i]).abs().mean() for i, name in enumerate(self.targets)}

    @property
    def units(self) -> Dict[str, str]:
        return {t: unit_of(t) for t in self.targets}

    def evaluate(self, model, dataset, train_set, batch_size: int, progress: bool = False) -> Dict[str, Any]:
        pred, target = predict_graphs(model, dataset, self.targets, batch_size, progress)
        if target is None:
            raise DatasetError(f"the data has no {self.targets} targets to evaluate against")
        if self.level == "block":
            return {"num_graphs": int(len(dataset)), "units": self.units,
                    **masked_metrics(pred, target, train_set.target_array().double().numpy(), self.targets)}
        baseline = target_statistics(train_set.target_array().double())["mean"].numpy()
        pred_t, tgt = torch.from_numpy(pred), torch.from_numpy(target)
        return {
            "num_graphs": int(len(dataset)), "units": self.units,
            "mae": mae_per_target(pred_t, tgt, self.targets), "rmse": rmse_per_target(pred_t, tgt, self.targets),
            "baseline_mae_train_mean": mae_per_target(
                torch.from_numpy(np.broadcast_to(baseline, pred.shape).copy()), tgt, self.targets),
            "_parity": {name: (pred[:, i], target[:, i]) for i, name in enumerate(self.targets)},
        }


@torch.no_grad()
def predict_graphs(model, graphs: Sequence[Dict[str, torch.Tensor]], names: Sequence[str], batch_size: int = 64,
                   progress: bool = False):
    """Predictions and (if every graph has them) targets of prepared ``graphs`` (a dataset or a
    list): two [M, T] float64 arrays (targets ``None`` otherwise); M counts graphs, or blocks for
    block-level outputs."""
    device, dtype = next(model.parameters()).device, next(model.parameters()).dtype
    preds, targets = [], []
    for data in batches(graphs, batch_size, progress, "predicting", device, dtype):
        out = model(data)
        preds.append(torch.stack([out[n] for n in names], 1).double().cpu())
        if all(n in data for n in names):
            targets.append(torch.stack([data[n] for n in names], 1).double().cpu())
    pred = torch.cat(preds).numpy() if preds else np.zeros((0, len(names)))
    target = torch.cat(targets).numpy() if targets and len(targets) == len(preds) else None
    return pred, target
