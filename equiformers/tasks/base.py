"""What is learnt, apart from how it is optimised: the task contract and the task registry.

A task names the outputs it needs, sets a model's output scaling from training data, turns a
batch into named loss terms (summed with their weights by the Lightning module) and metrics
(in display units), and evaluates a model on a whole dataset. It is chosen by the ``task:``
section of a run config, never by a dataset's name.

    task: {type: regression, loss: l1}                      # graph-level targets (QM9)
    task: {type: energy_forces, force_weight: 80, loss: l2mae}
"""

import sys
from typing import Any, ClassVar, Dict, Iterator, List, Tuple

import torch

from ..errors import ConfigError
from ..models.config import config_from_dict

#: task type -> "module:Class" (imported when used)
TASKS: Dict[str, str] = {
    "regression": "equiformers.tasks.regression:RegressionTask",
    "energy_forces": "equiformers.tasks.energy_force:EnergyForceTask",
    "denoising": "equiformers.tasks.denoising:DenoisingTask",
}


class Task:
    """Base class. Subclasses set ``type``, ``Config`` and implement the methods below."""

    type: ClassVar[str] = ""
    Config: ClassVar[Any] = None
    #: validation/test need autograd (forces as -dE/dx), so Lightning must not use inference mode
    needs_autograd: ClassVar[bool] = False

    def __init__(self, config, targets: List[str]):
        self.config, self.targets = config, list(targets)

    def default_heads(self) -> Dict[str, Dict[str, Any]]:
        """Heads to build when the model spec declares none."""
        raise NotImplementedError

    def check_model(self, model) -> None:
        """Raise :class:`ConfigError` unless ``model`` writes every output this task reads."""
        missing = [t for t in self.required_outputs() if t not in model.outputs]
        if missing:
            raise ConfigError(f"the {self.type} task needs model output(s) {missing}, but the model's heads write "
                              f"{sorted(model.outputs)}; declare them under model: heads: (or leave heads out "
                              "to get the task's defaults)")

    @property
    def progress_metric(self) -> str:
        """The metric shown on the progress bar during validation."""
        return f"mae_{self.targets[0]}"

    def required_outputs(self) -> List[str]:
        return list(self.targets)

    def fit_output_statistics(self, model, train_set) -> None:
        """Set ``model``'s output scaling (and references) from the training set."""
        raise NotImplementedError

    def predict(self, model, batch: Dict[str, torch.Tensor], training: bool) -> Dict[str, torch.Tensor]:
        return model(batch)

    def loss_terms(self, model, out, batch) -> Dict[str, Tuple[float, torch.Tensor]]:
        """``{term name: (weight, value)}``; the loss is the weighted sum."""
        raise NotImplementedError

    def metrics(self, out, batch) -> Dict[str, torch.Tensor]:
        """Per-batch metrics for logging, named ``mae_<output>``, in :attr:`units`."""
        raise NotImplementedError

    @property
    def units(self) -> Dict[str, str]:
        """Display unit of each metric's output."""
        raise NotImplementedError

    def evaluate(self, model, dataset, train_set, batch_size: int, progress: bool = False) -> Dict[str, Any]:
        """Metrics on a whole dataset: ``num_graphs``, ``units``, ``mae``, ``rmse``,
        ``baseline_mae_train_mean`` and ``_parity`` (name -> (predicted, reference) arrays).
        ``progress`` shows a progress bar on stderr."""
        raise NotImplementedError


def build_task(raw: Dict[str, Any], targets: List[str]) -> Task:
    """The task a ``task:`` mapping describes (``type`` picks the class, the rest its config)."""
    import importlib

    if not isinstance(raw, dict) or "type" not in raw:
        raise ConfigError(f"task must be a mapping with a 'type' (one of {sorted(TASKS)}), got {raw!r}")
    kind = raw["type"]
    if kind not in TASKS:
        raise ConfigError(f"unknown task type {kind!r}; available: {sorted(TASKS)}")
    module, name = TASKS[kind].split(":")
    cls = getattr(importlib.import_module(module), name)
    return cls(config_from_dict(cls.Config, dict(raw), where="task config"), targets)


def task_config_class(kind: str) -> type:
    import importlib

    module, name = TASKS[kind].split(":")
    return getattr(importlib.import_module(module), name).Config


def metric_display(unit: str) -> Tuple[float, str]:
    """Factor and unit metrics are shown in: energies in meV (and meV/Å), other units as they are."""
    if unit.startswith("eV"):
        return 1000.0, "m" + unit
    return 1.0, unit


def batches(dataset, batch_size: int, progress: bool = False, description: str = "evaluating",
            device=None, dtype=None) -> Iterator[Dict[str, torch.Tensor]]:
    """Collated batches of ``dataset`` in order (moved to ``device``/``dtype`` if given), with an
    optional progress bar on stderr, so that a long evaluation is never a silent wait."""
    from ..data.batching import collate, to_device

    starts = range(0, len(dataset), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=f"{description} ({len(dataset)} structures)", unit="batch", file=sys.stderr,
                      leave=False)
    for start in starts:
        batch = collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        yield batch if device is None else to_device(batch, device, dtype)
