"""fairchem v1 EquiformerV2 configs and parameter names map onto ours (no fairchem needed: names and
shapes below are read from fairchem's source, commit 31c0963)."""

from dataclasses import asdict

import pytest
import torch

from equiformers.errors import ConfigError
from equiformers.models.config import config_from_dict
from equiformers.models.equiformer_v2 import EquiformerV2Config
from equiformers.models.equiformer_v2.fairchem import spec_from_fairchem, state_dict_from_fairchem
from equiformers.models.registry import build_model, count_parameters, resolve_model_spec

#: fairchem configs/oc20/s2ef/all/equiformer_v2/equiformer_v2_N@8_L@4_M@2_31M.yml, model section
OC20_31M = {"name": "equiformer_v2", "use_pbc": True, "regress_forces": True, "otf_graph": True, "max_neighbors": 20,
            "max_radius": 12.0, "max_num_elements": 90, "num_layers": 8, "sphere_channels": 128,
            "attn_hidden_channels": 64, "num_heads": 8, "attn_alpha_channels": 64, "attn_value_channels": 16,
            "ffn_hidden_channels": 128, "norm_type": "layer_norm_sh", "lmax_list": [4], "mmax_list": [2],
            "grid_resolution": 18, "num_sphere_samples": 128, "edge_channels": 128, "use_atom_edge_embedding": True,
            "distance_function": "gaussian", "num_distance_basis": 512, "attn_activation": "silu",
            "use_s2_act_attn": False, "ffn_activation": "silu", "use_gate_act": False, "use_grid_mlp": True,
            "alpha_drop": 0.1, "drop_path_rate": 0.1, "proj_drop": 0.0, "weight_init": "uniform"}

#: (fairchem name, shape) for the 31M model, from the fairchem module definitions
FAIRCHEM_SHAPES = {
    "module.sphere_embedding.weight": (90, 128),
    "module.edge_degree_embedding.rad_func.net.0.weight": (128, 856),
    "module.edge_degree_embedding.rad_func.net.6.weight": (640, 128),
    "module.blocks.0.norm_1.norm_l0.weight": (128,),
    "module.blocks.0.norm_1.affine_weight": (4, 128),
    "module.blocks.0.ga.source_embedding.weight": (90, 128),
    "module.blocks.0.ga.so2_conv_1.fc_m0.weight": (5 * 64 + 8 * 64 + 64, 5 * 256),
    "module.blocks.0.ga.so2_conv_1.so2_m_conv.1.fc.weight": (2 * 64 * 3, 3 * 256),
    "module.blocks.0.ga.so2_conv_1.rad_func.net.6.weight": (5 * 256 + 4 * 256 + 3 * 256, 128),
    "module.blocks.0.ga.alpha_norm.weight": (64,),
    "module.blocks.0.ga.alpha_dot": (8, 64),
    "module.blocks.0.ga.so2_conv_2.fc_m0.weight": (5 * 128, 5 * 64),
    "module.blocks.0.ga.proj.weight": (5, 128, 128),
    "module.blocks.7.ffn.scalar_mlp.0.weight": (128, 128),
    "module.blocks.7.ffn.grid_mlp.4.weight": (128, 128),
    "module.blocks.7.ffn.so3_linear_2.bias": (128,),
    "module.norm.affine_weight": (4, 128),
    "module.energy_block.so3_linear_2.weight": (5, 1, 128),
    "module.force_block.proj.weight": (5, 1, 128),
    "module.force_block.so2_conv_1.rad_func.net.0.weight": (128, 856),
}
FAIRCHEM_BUFFERS = ["module.SO3_rotation.0.mapping.to_m", "module.SO3_grid.4.2.to_grid_mat",
                    "module.blocks.0.ga.SO3_grid.4.4.from_grid_mat", "module.blocks.0.norm_1.balance_degree_weight",
                    "module.blocks.0.ga.proj.expand_index", "module.distance_expansion.offset",
                    "module.mappingReduced.l_harmonic"]


def test_oc20_config_maps_to_the_preset():
    spec = spec_from_fairchem(OC20_31M)
    preset = resolve_model_spec("equiformer_v2-oc20-31m")
    assert spec["heads"] == preset["heads"]
    converted, ours = (asdict(config_from_dict(EquiformerV2Config, s["config"])) for s in (spec, preset))
    differ = {k for k in ours if converted[k] != ours[k]}
    assert differ == {"avg_num_nodes", "avg_degree"}  # explicit in the conversion, data-derived in the preset
    assert count_parameters(spec) == 31058690


def test_fairchem_names_and_shapes_map_onto_our_parameters():
    with torch.device("meta"):
        model = build_model("equiformer_v2-oc20-31m")
    ours = dict(model.state_dict())
    fake = {name: torch.zeros(shape) for name, shape in FAIRCHEM_SHAPES.items()}
    fake.update({name: torch.zeros(1) for name in FAIRCHEM_BUFFERS})
    converted = state_dict_from_fairchem(fake, 90)
    assert len(converted) == len(FAIRCHEM_SHAPES)  # every buffer dropped, every parameter kept
    for name, value in converted.items():
        assert name in ours and tuple(ours[name].shape) == tuple(value.shape), name


def test_round_trip_through_fairchem_names_loads_strictly_with_element_rows():
    torch.manual_seed(0)
    spec = {"model": "equiformer_v2", "config": {"elements": 10, "num_layers": 1, "sphere_channels": 8, "lmax": 2,
                                                   "mmax": 1, "num_heads": 2, "attn_hidden_channels": 8,
                                                   "attn_alpha_channels": 4, "attn_value_channels": 4,
                                                   "ffn_hidden_channels": 8, "edge_channels": 8, "use_grid_mlp": True}}
    model = build_model(spec)
    fairchem = {}
    for name, value in model.state_dict().items():
        if name.startswith("backbone."):
            fairchem["module." + name[len("backbone."):]] = value
        elif name.startswith("heads."):
            fairchem["module." + name.split(".", 2)[2]] = value
    restored = build_model(spec)
    missing, unexpected = restored.load_state_dict(state_dict_from_fairchem(fairchem, 10), strict=False)
    assert not unexpected and all(k.startswith("output_scaling.") for k in missing)
    # An element list keeps the rows of its atomic numbers (H = 1, C = 6, O = 8).
    rows = state_dict_from_fairchem({"sphere_embedding.weight": torch.arange(10.0)[:, None]}, ["H", "C", "O"])
    assert rows["backbone.sphere_embedding.weight"].flatten().tolist() == [1.0, 6.0, 8.0]


def test_unsupported_fairchem_options_are_refused():
    with pytest.raises(ConfigError, match="not supported"):
        spec_from_fairchem({**OC20_31M, "use_s2_act_attn": True})
    with pytest.raises(ConfigError, match="one resolution"):
        spec_from_fairchem({**OC20_31M, "lmax_list": [4, 3], "mmax_list": [2, 2]})
    with pytest.raises(ConfigError, match="unknown fairchem"):
        spec_from_fairchem({**OC20_31M, "lmax_typo": 3})


def test_m_share_rad_maps_to_the_radial_function_before_the_rotation():
    """fairchem's ``use_m_share_rad`` (EquiformerV3's default): ``ga.rad_func`` with 2C (lmax+1) outputs,
    no radial function inside ``so2_conv_1``."""
    spec = spec_from_fairchem({**OC20_31M, "use_m_share_rad": True})
    assert spec["config"]["use_m_share_rad"] is True
    with torch.device("meta"):
        names = {k: tuple(v.shape) for k, v in build_model(spec).state_dict().items()}
    assert names["backbone.blocks.0.ga.rad_func.net.6.weight"] == (2 * 128 * 5, 128)
    assert not any(k.startswith("backbone.blocks.0.ga.so2_conv_1.rad_func") for k in names)
