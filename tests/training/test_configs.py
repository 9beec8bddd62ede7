"""Every run config shipped in configs/ parses, validates and names a buildable model."""

from pathlib import Path

import pytest

from equiformers.models.registry import resolve_model_spec
from equiformers.training.config import load_run_config

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").rglob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_is_valid(path):
    run = load_run_config(path)
    spec = resolve_model_spec(run.model)
    assert spec["model"] == "equiformer"


def test_all_twelve_qm9_targets_have_a_paper_config():
    targets = {load_run_config(p).data.targets[0] for p in CONFIGS if p.parent.name == "qm9"}
    assert targets == {"mu", "alpha", "homo", "lumo", "gap", "r2", "zpve", "u0", "u", "h", "g", "cv"}
