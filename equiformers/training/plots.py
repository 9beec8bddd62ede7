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
    """Losses and validation MAE against optimisation steps, and losses against wall time, from
    Lightning's CSV logs (one per (re)start), so that a run shorter than an epoch has a curve too."""
    import pandas as pd

    frames = [pd.read_csv(p) for p in metrics_csvs if p.is_file()]
    if not frames:
        return None
    frame = pd.concat(frames, ignore_index=True)
    clock = frame.dropna(subset=["elapsed_min"]) if "elapsed_min" in frame else frame.iloc[:0]
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5), dpi=120)
    series: Dict[str, str] = {"train/loss_step": "train loss (logged steps)", "train/loss": "train loss (epoch)",
                              "val/loss": "val loss"}
    for column, label in series.items():
        if column not in frame:
            continue
        rows = frame.dropna(subset=[column])
        style = dict(marker=".", lw=0.8 if column == "train/loss_step" else 1.5, label=label)
        axes[0].plot(rows["step"], rows[column], **style)
        if len(clock):
            minutes = np.interp(rows["step"], clock["step"], clock["elapsed_min"])
            axes[1].plot(minutes, rows[column], **style)
    axes[0].set_xlabel("optimisation step"), axes[0].set_ylabel("loss (standardised)")
    axes[1].set_xlabel("wall time (min)")
    for ax in axes[:2]:
        ax.set_yscale("log")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    column = f"val/mae_{target}"
    if column in frame:
        rows = frame.dropna(subset=[column])
        axes[2].plot(rows["step"], rows[column], marker=".", color="C2")
    axes[2].set_xlabel("optimisation step"), axes[2].set_ylabel(f"validation MAE {target} ({unit})")
    axes[2].set_yscale("log")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def parity_plots(metrics: Dict, folder: Path, prefix: str = "parity") -> List[Path]:
    """One parity plot per output of an evaluation's ``_parity`` into ``folder``; an output without any
    point is left out (e.g. the rotation term of a test split whose blocks are all single atoms, or a
    block-level target with no labelled block), instead of failing after training."""
    folder.mkdir(parents=True, exist_ok=True)
    return [parity_plot(pred, target, name, metrics["units"].get(name, ""), folder / f"{prefix}_{name}.png",
                        metrics["mae"][name]) for name, (pred, target) in metrics["_parity"].items() if len(target)]
