"""Losses on standardised errors."""

import torch


def regression_loss(pred: torch.Tensor, target: torch.Tensor, scale: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Mean L1 or squared error of ``(pred - target) / scale`` over graphs and targets.

    ``pred``, ``target``: [B, T] in physical units; ``scale``: [T] (training std).
    """
    err = (pred - target) / scale
    return err.abs().mean() if kind == "l1" else err.pow(2).mean()


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
