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


def test_version_0_1_config_with_task_settings_under_training_still_loads():
    from equiformers.training.config import run_config_from_dict

    run = run_config_from_dict({"model": "equiformer-md17-l2", "data": {"dataset": "frames", "path": "x.npz",
                                                                        "targets": ["energy"]},
                                "training": {"lr": 1e-3, "loss": "l2mae", "force_weight": 100.0}})
    assert run.task == {"type": "energy_forces", "loss": "l2mae", "force_weight": 100.0}
    assert run.training.lr == 1e-3


def test_task_settings_in_both_places_say_what_to_change():
    import pytest

    from equiformers.errors import ConfigError
    from equiformers.training.config import run_config_from_dict

    with pytest.raises(ConfigError, match="training.loss belongs in the task: section"):
        run_config_from_dict({"model": "equiformer-qm9", "task": {"type": "regression"},
                              "training": {"loss": "l2"}})
    with pytest.raises(ConfigError, match="unknown key 'force_wieght' in task config"):
        run_config_from_dict({"model": "equiformer-qm9", "task": {"type": "energy_forces", "force_wieght": 1}})
    with pytest.raises(ConfigError, match="unknown task type 'denoise'|whose type is one of"):
        run_config_from_dict({"model": "equiformer-qm9", "task": {"type": "denoise"}})


def test_version_0_1_model_fields_become_heads():
    from equiformers.models.registry import resolve_model_spec

    spec = resolve_model_spec({"preset": "equiformer-md17-l2", "direct_forces": True, "outputs": ["energy"]})
    assert spec["heads"] == {"energy": {"type": "graph_scalar"}, "forces": {"type": "atom_vector"}}
    assert "direct_forces" not in spec["config"] and "outputs" not in spec["config"]


def test_version_0_1_fields_edit_a_presets_heads():
    from equiformers.models.registry import resolve_model_spec

    spec = resolve_model_spec({"preset": "equiformer-md17-l2", "direct_forces": True})
    assert spec["heads"] == {"energy": {"type": "graph_scalar"}, "forces": {"type": "atom_vector"}}
    spec = resolve_model_spec({"preset": "equiformer-qm9", "outputs": ["homo", "lumo"], "readout": "mean"})
    assert spec["heads"] == {"graph": {"type": "graph_scalar", "outputs": ["homo", "lumo"], "pool": "mean"}}


@pytest.mark.parametrize("section, key, value, match", [
    ("data", "batch_size", 0, "data.batch_size must be a positive integer"),
    ("data", "eval_batch_size", -4, "data.eval_batch_size must be a positive integer"),
    ("data", "train_size", 0, "data.train_size must be a positive integer or null"),
    ("data", "num_workers", -1, "data.num_workers must be 0 or more"),
    ("training", "max_time_minutes", 0, "training.max_time_minutes must be positive"),
    ("model", "cutoff", 0, "cutoff"),
    ("model", "cutoff", -2.0, "cutoff"),
    ("model", "cutoff", "five", "cutoff must be a number"),
])
def test_numbers_are_checked_before_any_data_is_read(section, key, value, match):
    from equiformers.errors import ConfigError
    from equiformers.training.config import run_config_from_dict
    from equiformers.training.run import check_run_config

    raw = {"model": {"preset": "equiformer-qm9"}, "data": {"dataset": "qm9"}, "training": {}}
    raw[section][key] = value
    with pytest.raises(ConfigError, match=match):
        check_run_config(run_config_from_dict(raw))
