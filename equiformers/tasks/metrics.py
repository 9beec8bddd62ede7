"""Metrics with explicit units."""

from typing import Any, Dict, Sequence

import numpy as np
import torch


def mae_per_target(pred: torch.Tensor, target: torch.Tensor, names: Sequence[str]) -> Dict[str, float]:
    """Mean absolute error of each column of [M, T] predictions, by target name."""
    err = (pred - target).abs().mean(0)
    return {name: float(err[i]) for i, name in enumerate(names)}


def rmse_per_target(pred: torch.Tensor, target: torch.Tensor, names: Sequence[str]) -> Dict[str, float]:
    err = (pred - target).pow(2).mean(0).sqrt()
    return {name: float(err[i]) for i, name in enumerate(names)}


def masked_metrics(pred: np.ndarray, target: np.ndarray, train: np.ndarray, names: Sequence[str]) -> Dict[str, Any]:
    """Metrics over the labelled entries (finite targets) of each column of [M, T] arrays: ``mae``, ``rmse``,
    ``pearson`` (correlation of prediction and label), ``num_labelled``, ``baseline_mae_train_mean``
    (predicting the mean of the labelled ``train`` [M', T] entries) and ``_parity`` (labelled entries only).

    Example:
        >>> out = masked_metrics(np.array([[1.0], [2.0], [5.0]]), np.array([[1.0], [3.0], [np.nan]]),
        ...                      np.array([[0.0], [4.0]]), ["b"])
        >>> out["mae"], out["num_labelled"]
        ({'b': 0.5}, {'b': 2})
    """
    out: Dict[str, Any] = {key: {} for key in ("mae", "rmse", "pearson", "num_labelled", "baseline_mae_train_mean")}
    out["_parity"] = {}
    for i, name in enumerate(names):
        keep = np.isfinite(target[:, i])
        p, t = pred[keep, i], target[keep, i]
        err = p - t
        out["mae"][name] = float(np.abs(err).mean()) if len(t) else float("nan")
        out["rmse"][name] = float(np.sqrt((err ** 2).mean())) if len(t) else float("nan")
        out["pearson"][name] = float(np.corrcoef(p, t)[0, 1]) if len(t) > 1 and p.std() > 0 and t.std() > 0 \
            else float("nan")
        out["num_labelled"][name] = int(len(t))
        mean = train[:, i][np.isfinite(train[:, i])].mean()
        out["baseline_mae_train_mean"][name] = float(np.abs(t - mean).mean()) if len(t) else float("nan")
        out["_parity"][name] = (p, t)
    return out
