"""fairchem-core 1.10's own environment, beside ours: a virtual environment (default
``.fairchem-venv`` in the repository root) with the official ``fairchem-core==1.10.0`` from PyPI
and torch kept at this environment's version (a constraints file), plus a small stand-in
(``benchmarks/shims/torch_scatter``) for the compiled ``torch_scatter`` that has no wheels for current torch.
Used by ``make_fixture.py``; nothing here is installed into our environment, and none of fairchem's
code is copied into this repository.

fairchem-core 1.10 pins ``torch~=2.4.0``, so it is installed with ``--no-deps`` and its runtime
dependencies are installed by hand (``DEPENDENCIES``: its own list less torch and the dev/docs
extras; ``torch_cluster`` is not needed: the graphs are built with ``otf_graph=False``).
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import reference_venv  # noqa: E402
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


def ensure_venv(venv: Path = DEFAULT_VENV) -> Path:
    """Create (once) fairchem's virtual environment; returns its python."""
    return reference_venv.ensure_venv(venv, DEPENDENCIES, no_deps=[FAIRCHEM], name="fairchem")


def fairchem_env(threads: int = 1) -> dict:
    """Environment of the fairchem side: the shims first on the path, one thread, quiet."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(reference_venv.SHARED_SHIMS), str(HERE / "shims")])
    env["PYTHONWARNINGS"] = "ignore"
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    env.pop("PYTHONHOME", None)
    return env
