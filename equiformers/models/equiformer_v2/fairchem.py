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
    output_heads.{h}.{sphharm_norm,xedge_layer_norm,block}.* -> heads.stress.*  (rank-2 stress head)
    energy_lin_ref [max_num_elements]  -> output_scaling.energy.atom_reference (by type; only with
                                          use_energy_lin_ref, which checkpoints leave out: see below)

Every other tensor name and shape is identical (same module tree: ``ga.so2_conv_1.fc_m0``,
``ga.so2_conv_1.so2_m_conv.{m-1}.fc``, ``ga.so2_conv_1.rad_func.net.{0,1,3,4,6}``, ``ga.alpha_norm``,
``ga.alpha_dot``, ``ga.proj``, ``ffn.so3_linear_{1,2}``, ``ffn.scalar_mlp.0``, ``ffn.grid_mlp.{0,2,4}``,
``norm_{1,2}.{norm_l0,affine_weight,affine_bias}``...). fairchem's buffers are derived constants
here and are dropped: ``*.expand_index``, ``*.balance_degree_weight``, ``distance_expansion.offset``,
``SO3_rotation.*``, ``mappingReduced.*``, ``SO3_grid.*`` (and their copies inside blocks and heads).
Our attention re-uses one m-major rotation per forward where fairchem permutes with ``to_m``:
a relabelling, not a change of weights.

**Checkpoint files** (:func:`model_from_fairchem_checkpoint`, used by
:func:`equiformers.training.checkpoint.load_model`): the dict fairchem's trainer saves
(``config``, ``state_dict``, ``normalizers``, ``elementrefs``, ...). Models: the flat
``equiformer_v2`` (old ``model`` + ``model_attributes`` configs too) and ``hydra`` with the
``equiformer_v2_backbone`` and EquiformerV2 energy/force heads (OC20, OC22 and OMat24 ``eqV2_*``).
Predictions are fairchem's trainer's: ``energy = raw * rmsd + mean + sum_i ref[Z_i]``,
``forces = raw * rmsd``. A model without a force head gets conservative forces (and stress) here
(fairchem 1.10 has no gradient mode for EquiformerV2). Differences, all documented in the README:
edge frames use our fixed roll (fairchem redraws a random roll per call; with the grids of the
released models it changes outputs at the grid-aliasing level, measured below float32 rounding on
the test fixtures); ``max_neighbors`` keeps exactly the nearest k (fairchem's default
``enforce_max_neighbors_strictly: false`` keeps every neighbour within 0.01 Å² of the (k+1)-th
squared distance); the ``rank2_symmetric_head`` (OMat24's direct stress) becomes our ``eqv2_stress``
head (:mod:`.stress_head`; its two normalizers scale the isotropic and anisotropic parts);
``energy_lin_ref`` is not added (fairchem 1.10 keeps the parameter for strict loading only).
Verified against fairchem-core 1.10.0 itself: ``tests/models/equiformer_v2/test_fairchem_checkpoints.py``.
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
    stress = re.match(r"^output_heads\.[^.]+\.((?:sphharm_norm|xedge_layer_norm|block)\..*)$", name)
    if stress:
        return f"heads.stress.{stress.group(1)}"
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


# --- fairchem checkpoint files --------------------------------------------------------------------
#: fairchem registry names of the EquiformerV2 models it writes: the flat (pre-hydra) model, and the
#: hydra backbone; their heads, by role; heads whose outputs this package cannot produce (dropped)
FLAT_MODELS = ("equiformer_v2",)
HYDRA_BACKBONES = ("equiformer_v2_backbone",)
ENERGY_HEADS = ("equiformer_v2_energy_head", "equiformerV2_scalar_head")
FORCE_HEADS = ("equiformer_v2_force_head", "equiformerV2_vector_head")
STRESS_HEADS = ("rank2_symmetric_head",)
DROPPED_HEADS: Dict[str, str] = {}  # heads left out with a warning (none at present)
_HEAD_KEYS = {"module", "output_name", "reduce", "use_source_target_embedding", "decompose", "num_layers",
              "num_mlp_layers", "edge_level_mlp", "extensive"}


def fairchem_model_config(checkpoint: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The ``model`` config of a fairchem trainer checkpoint (``{"config", "state_dict", ...}``, as
    fairchem's ``BaseTrainer.save`` writes it), with the old ``model: name`` + ``model_attributes``
    form merged; ``None`` if ``checkpoint`` is not such a dict."""
    if not isinstance(checkpoint, Mapping) or not isinstance(checkpoint.get("config"), Mapping) \
            or not isinstance(checkpoint.get("state_dict"), Mapping):
        return None
    config = checkpoint["config"]
    model = config.get("model")
    if isinstance(model, str):
        model = {**dict(config.get("model_attributes") or {}), "name": model}
    return dict(model) if isinstance(model, Mapping) else None


def is_fairchem_checkpoint(checkpoint: Any) -> bool:
    """Whether ``checkpoint`` (a loaded file) is a fairchem trainer checkpoint of any model."""
    return fairchem_model_config(checkpoint) is not None and "format" not in checkpoint


def spec_from_fairchem_checkpoint(checkpoint: Mapping[str, Any]):
    """``(spec, dropped)``: our model spec for a fairchem EquiformerV2 checkpoint and the heads that
    are left out (name -> reason). :class:`ConfigError` names any option that cannot be converted."""
    model = fairchem_model_config(checkpoint)
    name = model.get("name", model.get("model"))
    dropped = {}
    if name in FLAT_MODELS:
        backbone = {k: v for k, v in model.items() if k != "name"}
        spec = spec_from_fairchem(backbone, direct_forces=bool(backbone.get("regress_forces", True)))
        return spec, dropped
    if name != "hydra":
        raise ConfigError(f"fairchem model {name!r} is not an EquiformerV2 (supported: {list(FLAT_MODELS)} or hydra "
                          f"with backbone {list(HYDRA_BACKBONES)})")
    extra = set(model) - {"name", "backbone", "heads", "otf_graph", "pass_through_head_outputs", "freeze_backbone"}
    if extra:
        raise ConfigError(f"fairchem hydra option(s) {sorted(extra)} are not supported (e.g. finetune_config: "
                          "convert the starting checkpoint instead)")
    backbone = dict(model.get("backbone") or {})
    if backbone.get("model") not in HYDRA_BACKBONES:
        raise ConfigError(f"fairchem backbone {backbone.get('model')!r} is not supported (supported: "
                          f"{list(HYDRA_BACKBONES)}; DeNS backbones are not)")
    roles, pool = {}, "sum"
    for head, settings in (model.get("heads") or {}).items():
        module = settings.get("module")
        unknown = set(settings) - _HEAD_KEYS
        if unknown:
            raise ConfigError(f"fairchem head {head!r} has unsupported option(s) {sorted(unknown)}")
        if module in DROPPED_HEADS:
            dropped[head] = f"{module}: {DROPPED_HEADS[module]}"
            continue
        role = "energy" if module in ENERGY_HEADS else "forces" if module in FORCE_HEADS else \
            "stress" if module in STRESS_HEADS else None
        if role is None:
            raise ConfigError(f"fairchem head {head!r} uses module {module!r}, which is not supported (supported: "
                              f"{list(ENERGY_HEADS + FORCE_HEADS + STRESS_HEADS)})")
        if role == "stress":
            _check_stress_head(head, settings)
        if settings.get("output_name", role) != role or role in roles:
            raise ConfigError(f"fairchem head {head!r} ({module}) writes {settings.get('output_name', role)!r}: only "
                              "one energy head writing 'energy' and one force head writing 'forces' are supported")
        roles[role] = head
        if role == "energy":
            pool = settings.get("reduce", "sum")
    if "energy" not in roles:
        raise ConfigError("the fairchem model has no EquiformerV2 energy head")
    spec = spec_from_fairchem({"backbone": backbone}, direct_forces="forces" in roles)
    if pool != "sum":
        spec["heads"]["energy"]["pool"] = pool
    if "stress" in roles:
        settings = model["heads"][roles["stress"]]
        spec["heads"]["stress"] = {"type": "eqv2_stress",
                                   "source_target_embedding": bool(settings.get("use_source_target_embedding", False))}
    return spec, dropped


def _check_stress_head(head: str, settings: Mapping[str, Any]) -> None:
    """The rank-2 head as the released OMat24 models use it, or a clear error."""
    unsupported = {k: settings.get(k) for k, ok in (("decompose", True), ("edge_level_mlp", False),
                                                    ("extensive", False), ("num_mlp_layers", 2))
                   if settings.get(k, {"decompose": False, "num_mlp_layers": 2}.get(k, False)) != ok}
    if unsupported:
        raise ConfigError(f"fairchem stress head {head!r}: settings {unsupported} are not supported (the released "
                          "OMat24 models use decompose: true, node-level 2-layer MLPs, intensive pooling)")


def _normalizer(state: Mapping[str, Any]):
    """(mean, rmsd) of a fairchem normalizer state dict (``mean``/``rmsd``, or legacy ``mean``/``std``)."""
    mean = float(torch.as_tensor(state.get("mean", 0.0)))
    return mean, float(torch.as_tensor(state["rmsd"] if "rmsd" in state else state["std"]))


def model_from_fairchem_checkpoint(checkpoint: Mapping[str, Any]):
    """``(model, metadata)``: our model with the weights, normalizers and element references of a
    fairchem EquiformerV2 checkpoint, predicting what fairchem's trainer predicts (denormalised, with
    element references). :class:`ConfigError` for what cannot be converted.

    fairchem's predictions are ``energy = raw * rmsd + mean + sum_i ref[Z_i]`` and
    ``forces = raw * rmsd`` (its normalizers, keys ``energy``/``forces`` or legacy
    ``target``/``grad_target``; its ``elementrefs["energy"]``), which become our output scaling.
    fairchem 1.10 keeps ``energy_lin_ref`` only for strict loading and never adds it: so neither do we.
    """
    from ..registry import build_model

    spec, dropped = spec_from_fairchem_checkpoint(checkpoint)
    model = build_model(spec)
    skip = re.compile(r"^(module\.)?output_heads\.(" + "|".join(map(re.escape, dropped)) + r")\.") if dropped else None
    fairchem_state = {k: v for k, v in checkpoint["state_dict"].items() if skip is None or not skip.match(k)}
    state = state_dict_from_fairchem(fairchem_state, spec["config"]["elements"])
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:
        raise ConfigError(f"the fairchem weights do not fit its config ({str(err).splitlines()[0]})") from None
    missing = [k for k in missing if not k.startswith("output_scaling.") and not k.startswith("heads.stress.part_")]
    if missing or unexpected:
        raise ConfigError(f"the fairchem state dict does not match its config: missing {missing[:3]}, "
                          f"unexpected {unexpected[:3]}")
    normalizers = {{"target": "energy", "grad_target": "forces"}.get(k, k): _normalizer(v)
                   for k, v in (checkpoint.get("normalizers") or {}).items()}
    energy_mean, energy_rmsd = normalizers.get("energy", (0.0, 1.0))
    references = (checkpoint.get("elementrefs") or {}).get("energy", {}).get("element_references")
    atom_reference = None
    if references is not None:
        rows = torch.zeros(model.output_scaling["energy"].atom_reference.shape[0], dtype=torch.float64)
        table = type_table(spec["config"]["elements"])
        known = torch.nonzero((table >= 0)[: len(references)]).flatten()
        rows[table[known]] = torch.as_tensor(references, dtype=torch.float64)[known]
        atom_reference = rows
    model.set_output_statistics("energy", scale=energy_rmsd, shift=energy_mean, atom_reference=atom_reference)
    if "forces" in model.outputs:
        force_mean, force_rmsd = normalizers.get("forces", (0.0, 1.0))
        if force_mean != 0.0:
            raise ConfigError(f"the fairchem force normalizer has mean {force_mean} (not 0): not equivariant")
        model.set_output_statistics("forces", scale=force_rmsd)
    if "stress" in model.outputs:
        model.heads["stress"].set_normalizers(normalizers.get("stress_isotropic", (0.0, 1.0)),
                                              normalizers.get("stress_anisotropic", (0.0, 1.0)))
    metadata = {"source": "fairchem", "fairchem_version": str((checkpoint["config"].get("cmd") or {}).get("version")),
                "fairchem_model": _model_name(checkpoint), "dropped_heads": dropped,
                "normalizers": {k: list(v) for k, v in normalizers.items()}}
    return model, metadata


def _model_name(checkpoint: Mapping[str, Any]) -> str:
    model = fairchem_model_config(checkpoint)
    name = model.get("name", model.get("model"))
    return f"hydra/{model.get('backbone', {}).get('model')}" if name == "hydra" else str(name)
