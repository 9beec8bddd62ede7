"""Presets reproduce the official models' parameter counts, and specs resolve as documented."""

import pytest

import equiformers
from equiformers.errors import ConfigError
from equiformers.models.registry import count_parameters, list_presets, resolve_model_spec

PRESETS = list_presets()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_parameter_count_matches_reference(name):
    count = count_parameters(name)  # on the meta device where the family allows it: no full-size weights
    reference = PRESETS[name]["reference_parameters"]
    assert count == reference, f"{name}: {count:,} parameters, reference {reference:,}"


def test_required_presets_exist():
    assert {"equiformer-qm9", "equiformer-md17-l2"} <= set(PRESETS)


def test_config_file_works_like_a_preset(tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text("preset: equiformer-qm9\nnum_layers: 1\nchannels: [8, 4]\nnum_heads: 2\n")
    model = equiformers.build_model(str(path))
    assert model.config.num_layers == 1 and model.config.channels == [8, 4]


def test_overrides_and_dict_specs():
    model = equiformers.build_model({"model": "equiformer", "config": {"num_layers": 1, "channels": [8]}},
                                    num_heads=2)
    assert model.config.num_heads == 2 and str(model.config.irreps_node) == "8x0e"


def test_unknown_preset_and_key_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown model preset 'equiformer-qm10'"):
        equiformers.build_model("equiformer-qm10")
    with pytest.raises(ConfigError, match="did you mean 'num_layers'"):
        equiformers.build_model("equiformer-qm9", num_layer=3)
    with pytest.raises(ConfigError, match="attention must be one of"):
        equiformers.build_model("equiformer-qm9", attention="softmax")
    with pytest.raises(ConfigError, match="divisible by num_heads"):
        equiformers.build_model("equiformer-qm9", channels=[30, 16])
    with pytest.raises(ConfigError, match="unknown element symbol 'Xx'"):
        equiformers.build_model("equiformer-qm9", elements=["H", "Xx"])


def test_values_are_type_checked_and_numeric_strings_accepted():
    model = equiformers.build_model("equiformer-qm9", num_layers=1, channels=[8, 4], num_heads=2, cutoff="4.5")
    assert model.config.cutoff == 4.5
    with pytest.raises(ConfigError, match="num_layers must be an integer"):
        equiformers.build_model("equiformer-qm9", num_layers=1.5)
    with pytest.raises(ConfigError, match="channels must be a list"):
        equiformers.build_model("equiformer-qm9", channels=128)
    with pytest.raises(ConfigError, match="cutoff must be a number"):
        equiformers.build_model("equiformer-qm9", cutoff="five")


def test_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="model config file not found"):
        resolve_model_spec(str(tmp_path / "nope.yaml"))


def test_derived_irreps_match_reference():
    config = equiformers.build_model("equiformer-qm9", num_layers=1).config
    assert str(config.irreps_node) == "128x0e+64x1e+32x2e"
    assert str(config.irreps_head) == "32x0e+16x1e+8x2e"
    assert str(config.irreps_ffn) == "384x0e+192x1e+96x2e"
    e3 = equiformers.build_model("equiformer-qm9", num_layers=1, symmetry="e3").config
    assert str(e3.irreps_node) == "128x0e+32x0o+32x1e+32x1o+16x2e+16x2o"
    assert str(e3.irreps_head) == "32x0e+8x0o+8x1e+8x1o+4x2e+4x2o"
    assert str(e3.irreps_sh) == "1x0e+1x1o+1x2e"
