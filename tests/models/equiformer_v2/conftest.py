"""Tiny EquiformerV2 configurations shared by this package's tests (each builds in milliseconds)."""

TINY = {"elements": ["H", "C", "N", "O"], "num_layers": 2, "sphere_channels": 16, "lmax": 3, "mmax": 2,
        "num_heads": 2, "attn_hidden_channels": 16, "attn_alpha_channels": 8, "attn_value_channels": 8,
        "ffn_hidden_channels": 16, "edge_channels": 16, "num_distance_basis": 32, "cutoff": 4.0,
        "grid_resolution": 18, "alpha_drop": 0.0, "drop_path_rate": 0.0}

#: no S² grid anywhere: gate activations and a gated feed-forward network -> exactly equivariant
EXACT = {"use_gate_act": True, "use_grid_mlp": False}


def tiny_spec(heads=None, **overrides):
    spec = {"model": "equiformer_v2", "config": {**TINY, **overrides}}
    if heads is not None:
        spec["heads"] = heads
    return spec

#: EquiformerV3's switches: SwiGLU-S² (exact on the derived grid), merged layer norm, per-degree
#: radial weights, smooth-cutoff attention, gate force head
V3 = {"use_swiglu_s2": True, "grid_resolution": None, "norm_type": "merge_layer_norm", "use_m_share_rad": True,
      "use_envelope": True, "use_gate_force_head": True}
V3_ENERGY = {"type": "eqv2_energy", "block": "scalar_mlp"}
