"""Metrics with explicit units."""

from typing import Dict, Sequence

import torch


def mae_per_target(pred: torch.Tensor, target: torch.Tensor, names: Sequence[str]) -> Dict[str, float]:
    """Mean absolute error of each column of [M, T] predictions, by target name."""
    err = (pred - target).abs().mean(0)
    return {name: float(err[i]) for i, name in enumerate(names)}


def rmse_per_target(pred: torch.Tensor, target: torch.Tensor, names: Sequence[str]) -> Dict[str, float]:
    err = (pred - target).pow(2).mean(0).sqrt()
    return {name: float(err[i]) for i, name in enumerate(names)}
