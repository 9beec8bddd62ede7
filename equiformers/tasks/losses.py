"""Losses on standardised errors."""

from typing import Optional

import torch


def regression_loss(pred: torch.Tensor, target: torch.Tensor, scale: torch.Tensor, kind: str = "l1",
                    mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean L1 or squared error of ``(pred - target) / scale`` over graphs (or blocks) and targets.

    ``pred``, ``target``: [B, T] in physical units; ``scale``: [T] (training std). ``mask`` [B, T] bool:
    the entries that have a label (unlabelled blocks are False; their target may be NaN); the mean is
    then over the labelled entries (zero, with zero gradient, when there are none).
    """
    if mask is not None:
        target = torch.where(mask, target, pred.detach())  # no NaN enters the graph: zero error, zero gradient
    err = (pred - target) / scale
    if mask is None:
        return err.abs().mean() if kind == "l1" else err.pow(2).mean()
    total = err.abs().sum() if kind == "l1" else err.pow(2).sum()
    return total / mask.sum().clamp(min=1)


def vector_loss(error: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Loss of row-wise errors [M, D] (D = 1 for energies, 3 for forces).

    ``l1``: mean absolute component; ``l2``: mean squared component; ``l2mae``: mean over rows of
    the Euclidean norm of each row (the Equiformer MD17 reference's ``L2MAELoss``).
    """
    if kind == "l1":
        return error.abs().mean()
    if kind == "l2":
        return error.pow(2).mean()
    return error.norm(dim=-1).mean()
