"""Virtual environments for reference implementations run beside ours (the official Equiformer,
fairchem): created once, with torch held at our version by a constraints file, and checked.

``benchmarks/shims/`` holds stand-ins for compiled packages that have no wheels for current torch
(``torch_scatter``), shared by every reference environment; each reference adds its own shims.
"""

import subprocess
import sys
from pathlib import Path
from typing import Sequence

import torch

SHARED_SHIMS = Path(__file__).resolve().parent / "shims"


def torch_version() -> str:
    return torch.__version__.split("+")[0]


def ensure_venv(venv: Path, packages: Sequence[str], no_deps: Sequence[str] = (), name: str = "reference") -> Path:
    """Create (once) ``venv`` with torch == ours, then ``packages`` (constrained), then ``no_deps``
    (installed without their pinned dependencies); returns its python. A stamp file marks it done."""
    venv = Path(venv)
    python = venv / "bin" / "python"
    stamp = venv / f".{name}-ready"
    if stamp.is_file():
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    constraints = venv / "constraints.txt"
    constraints.write_text(f"torch=={torch_version()}\n")
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run(pip + [f"torch=={torch_version()}"], check=True)
    subprocess.run(pip + ["-c", str(constraints)] + list(packages), check=True)
    if no_deps:
        subprocess.run(pip + ["-c", str(constraints), "--no-deps"] + list(no_deps), check=True)
    installed = subprocess.run([str(python), "-c", "import torch; print(torch.__version__)"], capture_output=True,
                               text=True, check=True).stdout.strip()
    if installed.split("+")[0] != torch_version():
        raise SystemExit(f"{venv}: torch is {installed}, expected {torch_version()}")
    stamp.write_text(" ".join([*packages, *no_deps]) + f" torch=={torch_version()}\n")
    return python
