"""Helpers shared by the suites: relative errors and rigid motions of a batch."""

from typing import Dict

import torch

from ...data import keys as K


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """``max|a - b| / max|b|``."""
    return float(((a - b).abs().max() / b.abs().max().clamp(min=1e-30)).detach())


def transform(data: Dict[str, torch.Tensor], matrix: torch.Tensor, shift) -> Dict[str, torch.Tensor]:
    """Apply ``x -> x @ matrix.T + shift`` to positions (and the cell's lattice vectors)."""
    out = dict(data)
    out[K.POSITIONS] = data[K.POSITIONS] @ matrix.T.to(data[K.POSITIONS].dtype) + shift
    out[K.CELL] = data[K.CELL] @ matrix.T.to(data[K.CELL].dtype)
    return out
