"""How fairchem v1 EquiformerV2 configs and parameters map onto this package (no fairchem import).

**Config** (:func:`spec_from_fairchem`): keys keep their names except
``lmax_list: [L]`` -> ``lmax``, ``mmax_list: [M]`` -> ``mmax`` (one resolution only),
``max_radius`` -> ``cutoff``, ``max_num_elements: Z`` -> ``elements: Z`` (embeddings indexed by
atomic number, as fairchem). Missing keys take fairchem's class defaults (not ours: e.g. its
``grid_resolution`` default is ``None``, the coarse formula). ``avg_num_nodes``/``avg_degree``
become explicit numbers (fairchem's hard-coded OC20 values when unset) so training never replaces
them. Keys with no effect in fairchem are dropped (:data:`IGNORED_KEYS`); options fairchem has but
its released models never use (``use_s2_act_attn``, several resolutions) are refused.

**Parameters** (:func:`state_dict_from_fairchem`), after removing a ``module.`` and a hydra
``backbone.`` prefix::

    sphere_embedding.weight            -> backbone.sphere_embedding.weight        (rows: by type)
    source_embedding / target_embedding (shared) -> backbone.source_/target_embedding (rows: by type)
    edge_degree_embedding.*            -> backbone.edge_degree_embedding.*        (pair rows: by type)
    blocks.{i}.*                       -> backbone.blocks.{i}.*                   (pair rows: by type)
    norm.*                             -> backbone.norm.*
    energy_block.* | output_heads.{h}.energy_block.* -> heads.energy.energy_block.*
    force_block.*  | output_heads.{h}.force_block.*  -> heads.forces.force_block.*
    energy_lin_ref [max_num_elements]  -> output_scaling.energy.atom_reference (by type)

Every other tensor name and shape is identical (same module tree: ``ga.so2_conv_1.fc_m0``,
``ga.so2_conv_1.so2_m_conv.{m-1}.fc``, ``ga.so2_conv_1.rad_func.net.{0,1,3,4,6}``, ``ga.alpha_norm``,
``ga.alpha_dot``, ``ga.proj``, ``ffn.so3_linear_{1,2}``, ``ffn.scalar_mlp.0``, ``ffn.grid_mlp.{0,2,4}``,
``norm_{1,2}.{norm_l0,affine_weight,affine_bias}``...). fairchem's buffers are derived constants
here and are dropped: ``*.expand_index``, ``*.balance_degree_weight``, ``distance_expansion.offset``,
``SO3_rotation.*``, ``mappingReduced.*``, ``SO3_grid.*`` (and their copies inside blocks and heads).
Our attention re-uses one m-major rotation per forward where fairchem permutes with ``to_m``:
a relabelling, not a change of weights.
"""

import re
from typing import Any, Dict, Mapping, Optional

import torch

from ...data.elements import type_table
from ...errors import ConfigError
from .config import REFERENCE_AVG_DEGREE, REFERENCE_AVG_NUM_NODES

#: fairchem's constructor defaults for the keys we map (its released configs override most of them)
FAIRCHEM_DEFAULTS = {
    "max_neighbors": 500, "max_radius": 5.0, "max_num_elements": 90, "num_layers": 12, "sphere_channels": 128,
    "attn_hidden_channels": 128, "num_heads": 8, "attn_alpha_channels": 32, "attn_value_channels": 16,
    "ffn_hidden_channels": 512, "norm_type": "rms_norm_sh", "lmax_list": [6], "mmax_list": [2],
    "grid_resolution": None, "edge_channels": 128, "use_atom_edge_embedding": True,
    "share_atom_edge_embedding": False, "use_attn_renorm": True, "use_gate_act": False, "use_grid_mlp": False,
    "use_sep_s2_act": True, "alpha_drop": 0.1, "drop_path_rate": 0.05, "proj_drop": 0.0, "weight_init": "normal",
    "avg_num_nodes": None, "avg_degree": None, "use_m_share_rad": False,
}
#: keys fairchem accepts that change nothing here (graph building, training or logging details)
IGNORED_KEYS = {"name", "model", "use_pbc", "use_pbc_single", "regress_forces", "otf_graph", "num_sphere_samples",
                "num_distance_basis", "distance_function", "attn_activation", "ffn_activation",
                "enforce_max_neighbors_strictly", "activation_checkpoint", "use_energy_lin_ref",
                "load_energy_lin_ref", "direct_forces"}
_RENAMED = {"max_radius": "cutoff", "max_num_elements": "elements"}


def spec_from_fairchem(model_config: Mapping[str, Any], direct_forces: Optional[bool] = None) -> Dict[str, Any]:
    """Our model spec for a fairchem ``model:`` config (the flat V1 form or hydra's ``backbone:``).

    ``direct_forces``: whether the model has a force head (default: the config's
    ``regress_forces`` with hydra's heads, or ``True`` for the flat form, whose forces are direct).
    """
    config = dict(model_config.get("backbone", model_config))
    unsupported = [k for k in ("use_s2_act_attn",) if config.get(k)]
    if unsupported:
        raise ConfigError(f"fairchem EquiformerV2 options {unsupported} are not supported "
                          "(no released model uses them)")
    unknown = set(config) - set(FAIRCHEM_DEFAULTS) - IGNORED_KEYS - {"use_s2_act_attn"}
    if unknown:
        raise ConfigError(f"unknown fairchem EquiformerV2 config key(s) {sorted(unknown)}")
    values = {**FAIRCHEM_DEFAULTS, **{k: v for k, v in config.items() if k in FAIRCHEM_DEFAULTS}}
    lmax_list, mmax_list = values.pop("lmax_list"), values.pop("mmax_list")
    if len(lmax_list) != 1 or len(mmax_list) != 1:
        raise ConfigError(f"only one resolution is supported, got lmax_list={lmax_list}, mmax_list={mmax_list}")
    out = {_RENAMED.get(k, k): v for k, v in values.items()}
    out.update(lmax=int(lmax_list[0]), mmax=int(mmax_list[0]), num_distance_basis=600)
    out["avg_num_nodes"] = out["avg_num_nodes"] or REFERENCE_AVG_NUM_NODES
    out["avg_degree"] = out["avg_degree"] or REFERENCE_AVG_DEGREE
    if direct_forces is None:
        heads = model_config.get("heads")
        direct_forces = bool(config.get("regress_forces", True)) and (heads is None or any(
            "force" in str(h.get("module", "")) or "rank1" in str(h.get("module", "")) for h in heads.values()))
    heads = {"energy": {"type": "eqv2_energy"}}
    if direct_forces:
        heads["forces"] = {"type": "eqv2_forces"}
    return {"model": "equiformer_v2", "config": out, "heads": heads}


_DROPPED = re.compile(r"(^|\.)(SO3_rotation|mappingReduced|SO3_grid)\.|(expand_index|balance_degree_weight)$"
                      r"|^distance_expansion\.offset$")
_BY_TYPE = re.compile(r"(sphere_embedding|source_embedding|target_embedding)\.weight$")


def _our_name(name: str) -> Optional[str]:
    for prefix in ("module.", "backbone."):
        if name.startswith(prefix):
            name = name[len(prefix):]
    if _DROPPED.search(name):
        return None
    head = re.match(r"^(?:output_heads\.[^.]+\.)?(energy_block|force_block)\.(.*)$", name)
    if head:
        return f"heads.{'energy' if head.group(1) == 'energy_block' else 'forces'}.{head.group(1)}.{head.group(2)}"
    if name == "energy_lin_ref":
        return "output_scaling.energy.atom_reference"
    return f"backbone.{name}"


def state_dict_from_fairchem(state_dict: Mapping[str, torch.Tensor], elements,
                             use_energy_lin_ref: bool = False) -> Dict[str, torch.Tensor]:
    """Our state dict (names and element rows) from a fairchem EquiformerV2 state dict.

    ``elements``: the ``elements`` of our config (an integer keeps fairchem's atomic-number rows;
    a symbol list keeps the rows of those elements, in order). ``use_energy_lin_ref``: fairchem's
    switch; only then are its per-element references (``energy_lin_ref``) part of the energy.
    Returns only the tensors fairchem has: load with ``strict=False`` (our output-scaling buffers
    keep their defaults unless given here).
    """
    table = type_table(elements)  # atomic number -> type, or -1
    rows = torch.nonzero(table >= 0).flatten()[torch.argsort(table[table >= 0])]  # type -> atomic number
    out = {}
    for name, value in state_dict.items():
        ours = _our_name(name)
        if ours is None or (ours.endswith("atom_reference") and not use_energy_lin_ref):
            continue
        if _BY_TYPE.search(ours) or ours.endswith("atom_reference"):
            value = value.index_select(0, rows.to(value.device))
        out[ours] = value
    return out
