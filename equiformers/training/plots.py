"""PNG plots written at the end of training: parity and learning curve."""

from pathlib import Path
from typing import Dict, List, Optional

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt


def parity_plot(pred: np.ndarray, target: np.ndarray, name: str, unit: str, path: Path, mae: float) -> Path:
    """Predicted vs reference scatter with the y = x line and the MAE in the title."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    ax.scatter(target, pred, s=4, alpha=0.5)
    lo, hi = float(min(target.min(), pred.min())), float(max(target.max(), pred.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xlabel(f"reference {name} ({unit})")
    ax.set_ylabel(f"predicted {name} ({unit})")
    ax.set_title(f"{name}: test MAE {mae:.4g} {unit} (n={len(target)})")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def learning_curve(metrics_csvs: List[Path], path: Path, target: str, unit: str) -> Optional[Path]:
    """Training loss and validation MAE per epoch, from Lightning's CSV logs (one per (re)start)."""
    import pandas as pd

    frames = [pd.read_csv(p) for p in metrics_csvs if p.is_file()]
    if not frames:
        return None
    frame = pd.concat(frames, ignore_index=True)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), dpi=120)
    series: Dict[str, str] = {"train/loss": "train loss (standardised)", "val/loss": "val loss (standardised)"}
    for column, label in series.items():
        if column in frame:
            rows = frame.dropna(subset=[column])
            axes[0].plot(rows["epoch"], rows[column], marker=".", label=label)
    axes[0].set_xlabel("epoch"), axes[0].set_yscale("log"), axes[0].legend()
    column = f"val/mae_{target}"
    if column in frame:
        rows = frame.dropna(subset=[column])
        axes[1].plot(rows["epoch"], rows[column], marker=".", color="C2")
    axes[1].set_xlabel("epoch"), axes[1].set_ylabel(f"validation MAE {target} ({unit})"), axes[1].set_yscale("log")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
