"""Up-front time estimate and a plain account of how training ended."""

import logging
import time
from typing import Any, Dict, Optional

from lightning.pytorch.callbacks import Callback

log = logging.getLogger(__name__)


class TimeEstimate(Callback):
    """After the first ``measure_steps`` optimisation steps, log how long the rest will take.

    The first ``skip_steps`` steps are not timed (allocator warm-up); the estimate
    covers training steps only, on this machine at its current load.
    """

    def __init__(self, measure_steps: int = 30, skip_steps: int = 5):
        self.measure_steps, self.skip_steps = measure_steps, skip_steps
        self._resumed_at: Optional[int] = None
        self._start: Optional[float] = None
        self._timed_from = 0
        self.seconds_per_step: Optional[float] = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.seconds_per_step is not None or not trainer.is_global_zero:
            return
        step = trainer.global_step
        if self._resumed_at is None:
            self._resumed_at = step
        if self._start is None:
            if step - self._resumed_at >= self.skip_steps:
                self._start, self._timed_from = time.monotonic(), step
            return
        if step - self._timed_from >= self.measure_steps:
            self.seconds_per_step = (time.monotonic() - self._start) / (step - self._timed_from)
            total = int(trainer.estimated_stepping_batches)
            remaining = max(total - step, 0)
            log.info("training: %d of %d steps to go, about %s on this machine (%.2f s per step)", remaining,
                     total, format_minutes(remaining * self.seconds_per_step), self.seconds_per_step)


def format_minutes(seconds: float) -> str:
    """``"about N minutes"``-style text: ``"12 s"``, ``"3.4 min"``, ``"2.1 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def training_summary(trainer, task) -> Dict[str, Any]:
    """How training ended: steps done and planned, and what stopped it (``steps``, ``epochs`` or
    ``time_budget``)."""
    planned = int(trainer.estimated_stepping_batches)
    if task.time_budget_spent():
        stopped_by = "time_budget"
    elif trainer.max_steps not in (None, -1) and trainer.global_step >= trainer.max_steps:
        stopped_by = "steps"
    else:
        stopped_by = "epochs"
    steps_per_epoch = max(int(trainer.num_training_batches), 1)
    return {"steps": int(trainer.global_step), "planned_steps": planned,
            "epochs": round(trainer.global_step / steps_per_epoch, 2), "stopped_by": stopped_by}


def describe_summary(summary: Dict[str, Any], max_time_minutes: Optional[float]) -> str:
    """One line for the end of a run; says plainly when a time budget cut training short."""
    if summary["stopped_by"] == "time_budget":
        return (f"training stopped early by the time budget (training.max_time_minutes = {max_time_minutes:g}) "
                f"after {summary['steps']} of {summary['planned_steps']} planned steps")
    return f"training finished: {summary['steps']} steps ({summary['stopped_by']} budget reached)"
