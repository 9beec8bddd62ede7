"""Losses on standardised targets."""

import torch


def regression_loss(pred: torch.Tensor, target: torch.Tensor, scale: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Mean L1 or squared error of ``(pred - target) / scale`` over graphs and targets.

    ``pred``, ``target``: [B, T] in physical units; ``scale``: [T] (training std).
    """
    err = (pred - target) / scale
    return err.abs().mean() if kind == "l1" else err.pow(2).mean()
