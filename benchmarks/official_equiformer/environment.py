"""The official Equiformer's own environment, beside ours: a virtual environment with e3nn 0.4.4 and
torch kept at 2.13.0 (a constraints file), the checkout at the pinned commit, and small stand-ins
(``benchmarks/shims/`` for ``torch_scatter``, ``shims/`` here for ``torch_cluster`` and the one OCP class the
official code imports. Used by ``make_fixture.py`` and ``race.py``; nothing here is installed into
our environment, and none of the official code is copied into this repository.
"""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import reference_venv  # noqa: E402
#: the commit the reference notes (../shared/reference/equiformer.md) and the fixtures were made at
OFFICIAL_COMMIT = "64cb786"
PACKAGES = ["e3nn==0.4.4", "torch_geometric"]


def check_checkout(path: Path) -> str:
    """The checkout's commit (must be the pinned one, when it is a git checkout)."""
    if not (path / "nets" / "graph_attention_transformer.py").is_file():
        raise SystemExit(f"{path} is not a checkout of atomicarchitects/equiformer (no nets/graph_attention_transformer.py)")
    if (path / ".git").exists():
        commit = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
        if not commit.startswith(OFFICIAL_COMMIT):
            raise SystemExit(f"{path} is at {commit[:7]}; check out {OFFICIAL_COMMIT} (git -C {path} checkout {OFFICIAL_COMMIT})")
        return commit.strip()
    return OFFICIAL_COMMIT + " (not a git checkout: assumed)"


def ensure_venv(venv: Path) -> Path:
    """Create (once) the official code's virtual environment; returns its python."""
    return reference_venv.ensure_venv(venv, PACKAGES, name="official")


def official_command(python: Path, checkout: Path, *args) -> list:
    return [str(python), str(HERE / "official_side.py"), *map(str, args)]


def official_env(checkout: Path, threads: int = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(reference_venv.SHARED_SHIMS), str(HERE / "shims"), str(checkout)])
    # e3nn 0.4.4 pickles its constants with Python objects that torch >= 2.6 refuses by default
    env["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    env["PYTHONWARNINGS"] = "ignore"
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env
