"""fairchem-core 1.10's own environment, beside ours: a virtual environment (default
``.fairchem-venv`` in the repository root) with the official ``fairchem-core==1.10.0`` from PyPI
and torch kept at this environment's version (a constraints file), plus a small stand-in
(``shims/torch_scatter``) for the compiled ``torch_scatter`` that has no wheels for current torch.
Used by ``make_fixture.py``; nothing here is installed into our environment, and none of fairchem's
code is copied into this repository.

fairchem-core 1.10 pins ``torch~=2.4.0``, so it is installed with ``--no-deps`` and its runtime
dependencies are installed by hand (``DEPENDENCIES``: its own list less torch and the dev/docs
extras; ``torch_cluster`` is not needed: the graphs are built with ``otf_graph=False``).
"""

import os
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_VENV = REPO / ".fairchem-venv"
FAIRCHEM = "fairchem-core==1.10.0"
#: fairchem-core 1.10's ``Requires-Dist`` less torch (kept at ours by the constraints file); numpy
#: stays below 2 as fairchem asks. All are imported when ``fairchem.core`` is (its ``__init__``
#: imports the ASE calculator, which imports the trainers and data pipeline).
DEPENDENCIES = ["ase", "e3nn>=0.5", "huggingface-hub>=0.27.1", "hydra-core", "lmdb", "numba", "numpy>=1.26,<2",
                "orjson", "pydantic>=2.10", "pymatgen>=2023.10.3", "pyyaml", "requests", "submitit", "tensorboard",
                "torch-geometric", "torchtnt", "tqdm", "wandb", "matplotlib",
                "scipy<1.17"]  # fairchem imports scipy.special.sph_harm, removed in scipy 1.17


def torch_version() -> str:
    return torch.__version__.split("+")[0]


def ensure_venv(venv: Path = DEFAULT_VENV) -> Path:
    """Create (once) fairchem's virtual environment; returns its python."""
    venv = Path(venv)
    python = venv / "bin" / "python"
    stamp = venv / ".fairchem-ready"
    if stamp.is_file():
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    constraints = venv / "constraints.txt"
    constraints.write_text(f"torch=={torch_version()}\n")
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run(pip + [f"torch=={torch_version()}"], check=True)
    subprocess.run(pip + ["-c", str(constraints)] + DEPENDENCIES, check=True)
    subprocess.run(pip + ["-c", str(constraints), "--no-deps", FAIRCHEM], check=True)
    check = subprocess.run([str(python), "-c", "import torch; print(torch.__version__)"], capture_output=True,
                           text=True, check=True).stdout.strip()
    if check.split("+")[0] != torch_version():
        raise SystemExit(f"{venv}: torch is {check}, expected {torch_version()}")
    stamp.write_text(f"{FAIRCHEM} torch=={torch_version()}\n")
    return python


def fairchem_env(threads: int = 1) -> dict:
    """Environment of the fairchem side: the shims first on the path, one thread, quiet."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(HERE / "shims")
    env["PYTHONWARNINGS"] = "ignore"
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    env.pop("PYTHONHOME", None)
    return env
