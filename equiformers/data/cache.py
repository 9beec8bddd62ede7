"""Where processed datasets are cached, and crash-safe writes."""

import os
import tempfile
from pathlib import Path
from typing import Any, Optional

import torch


def cache_dir(override: Optional[str] = None) -> Path:
    """``override``, else ``$EQUIFORMERS_CACHE``, else ``~/.cache/equiformers``."""
    path = Path(override or os.environ.get("EQUIFORMERS_CACHE") or Path.home() / ".cache" / "equiformers")
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``.

    An interrupted write leaves the old file (or none), never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
