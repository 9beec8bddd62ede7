"""Models of the official Equiformer code (atomicarchitects/equiformer) as ours.

The official classes (``GraphAttentionTransformer``, ``DotProductAttentionTransformer``,
``GraphAttentionTransformerMD17``) are built from keyword arguments and save plain state dicts.
:func:`spec_from_official` turns those arguments into our model spec; :func:`convert_state_dict`
renames the weights and splits e3nn's flat tensor-product weights into our per-path matrices
(the official ``LinearRS`` stores them already scaled, as ours does, and orders its instructions
input-major, as ours does, so the conversion is a reshape). One more difference is physical, not a
naming one: the official code runs on e3nn 0.4.4, whose Clebsch–Gordan coefficients for the
coupling ``1 x l -> l`` (l >= 2, in any order) have the opposite sign of today's e3nn; the
depth-wise tensor-product weights of those paths are negated in the conversion (measured for
l <= 4, :data:`E3NN_044_NEGATED`). The result computes the same numbers:
``tests/models/test_official_equiformer.py`` checks it against outputs recorded by the official
code (``benchmarks/official_equiformer/make_fixture.py``).

Example (with the official model's constructor arguments and state dict)::

    spec = spec_from_official(kwargs, kind="md17")
    model = build_model(spec)
    model.load_state_dict(convert_state_dict(official_state, model))
"""

import re
from typing import Any, Dict

import torch
from e3nn import o3

from ...errors import CheckpointError, ConfigError

#: official class -> kind: which attention, which embedding table, which output name
KINDS = {"qm9": ("mlp", ["H", "C", "N", "O", "F"], "y"),
         "qm9_dot_product": ("dot_product", ["H", "C", "N", "O", "F"], "y"),
         "md17": ("mlp", 64, "energy")}
_BASES = {"gaussian": "gaussian", "bessel": "bessel", "exp": "exp_normal"}


def e3nn_044_negated(l1: int, l2: int, l3: int) -> bool:
    """Whether e3nn 0.4.4's ``wigner_3j(l1, l2, l3)`` is minus today's (otherwise they are equal):
    exactly the permutations of ``(1, l, l)`` with ``l >= 2``, compared for every triple up to l = 4."""
    return sorted((l1, l2, l3))[0] == 1 and sorted((l1, l2, l3))[1] == sorted((l1, l2, l3))[2] >= 2

# official name -> ours, applied in order to the module path (the last two parts, e.g.
# ``tp.weight``, are handled by _convert_tensor)
_RENAMES = [
    (r"^atom_embed\.atom_type_lin\.", "backbone.atom_embedding.linear."),
    (r"^rbf\.", "backbone.radial_basis."),
    (r"^edge_deg_embed\.exp\.", "backbone.edge_degree_embedding.lift."),
    (r"^edge_deg_embed\.rad\.", "backbone.edge_degree_embedding.radial."),
    (r"^edge_deg_embed\.proj\.", "backbone.edge_degree_embedding.linear."),
    (r"^blocks\.(\d+)\.norm_1\.affine_", r"backbone.blocks.\1.norm_attention."),
    (r"^blocks\.(\d+)\.norm_2\.affine_", r"backbone.blocks.\1.norm_ffn."),
    (r"^blocks\.(\d+)\.ffn\.fctp_1\.", r"backbone.blocks.\1.ffn.linear_in."),
    (r"^blocks\.(\d+)\.ffn\.fctp_2\.", r"backbone.blocks.\1.ffn.linear_out."),
    (r"^blocks\.(\d+)\.ffn_shortcut\.", r"backbone.blocks.\1.shortcut."),
    (r"^blocks\.(\d+)\.(?:ga|dpa)\.sep_act\.dtp_rad\.", r"backbone.blocks.\1.attention.radial."),
    (r"^blocks\.(\d+)\.(?:ga|dpa)\.sep_act\.lin\.", r"backbone.blocks.\1.attention.value_linear."),
    (r"^blocks\.(\d+)\.(?:ga|dpa)\.sep_alpha\.", r"backbone.blocks.\1.attention.alpha_linear."),
    (r"^blocks\.(\d+)\.(?:ga|dpa)\.sep_value\.dtp\.", r"backbone.blocks.\1.attention.value_tp.dtp."),
    (r"^blocks\.(\d+)\.(?:ga|dpa)\.sep_value\.lin\.", r"backbone.blocks.\1.attention.value_tp.linear."),
    (r"^blocks\.(\d+)\.(?:ga|dpa)\.sep\.dtp_rad\.", r"backbone.blocks.\1.attention.message_tp.radial."),
    (r"^blocks\.(\d+)\.(?:ga|dpa)\.sep\.lin\.", r"backbone.blocks.\1.attention.message_tp.linear."),
    (r"^blocks\.(\d+)\.(?:ga|dpa)\.key_value\.dtp_rad\.", r"backbone.blocks.\1.attention.key_value.radial."),
    (r"^blocks\.(\d+)\.(?:ga|dpa)\.key_value\.lin\.", r"backbone.blocks.\1.attention.key_value.linear."),
    (r"^blocks\.(\d+)\.(?:ga|dpa)\.", r"backbone.blocks.\1.attention."),
    (r"^norm\.affine_", "backbone.norm."),
    (r"^head\.", "heads.{head}.mlp."),
]


def _channels(irreps: str):
    """``128x0e+64x1e+32x2e`` -> ([128, 64, 32], "se3"); both parities -> "e3" with the even+odd sums."""
    parsed = o3.Irreps(irreps)
    lmax = parsed.lmax
    channels = [sum(mul for mul, ir in parsed if ir.l == l and ir.p == 1) for l in range(lmax + 1)]
    odd = any(ir.p == -1 for _, ir in parsed)
    if odd:  # e3: 0e keeps its count; l > 0 carries both parities
        channels = [channels[0]] + [sum(mul for mul, ir in parsed if ir.l == l) for l in range(1, lmax + 1)]
    return channels, "e3" if odd else "se3"


def spec_from_official(kwargs: Dict[str, Any], kind: str) -> Dict[str, Any]:
    """Our model spec for an official model built with ``kwargs`` (its constructor arguments).

    ``kind``: ``"qm9"`` (``GraphAttentionTransformer``), ``"qm9_dot_product"``
    (``DotProductAttentionTransformer``) or ``"md17"`` (``GraphAttentionTransformerMD17``).
    The normalisation constants are the official hard-coded ones (``avg_degree``/``avg_num_nodes``
    left unset means exactly those).
    """
    if kind not in KINDS:
        raise ConfigError(f"official model kind must be one of {sorted(KINDS)}, got {kind!r}")
    attention, elements, output = KINDS[kind]
    channels, symmetry = _channels(kwargs.get("irreps_node_embedding", "128x0e+64x1e+32x2e"))
    num_heads = int(kwargs.get("num_heads", 4))
    mlp_mid = o3.Irreps(kwargs.get("irreps_mlp_mid", "384x0e+192x1e+96x2e"))
    feature = o3.Irreps(kwargs.get("irreps_feature", "512x0e"))
    basis = kwargs.get("basis_type", "gaussian")
    if basis not in _BASES:
        raise ConfigError(f"official basis_type {basis!r} has no counterpart here ({sorted(_BASES)})")
    config = {"elements": elements, "channels": channels, "symmetry": symmetry,
              "num_layers": int(kwargs.get("num_layers", 6)), "num_heads": num_heads, "attention": attention,
              "message": "nonlinear" if kwargs.get("nonlinear_message", False) else "linear",
              "ffn_multiplier": mlp_mid[0].mul // channels[0], "readout_channels": feature[0].mul,
              "cutoff": float(kwargs.get("max_radius", 5.0)), "radial_basis": _BASES[basis],
              "num_basis": int(kwargs.get("number_of_basis", 128)),
              "radial_hidden": list(kwargs.get("fc_neurons", [64, 64])),
              "alpha_drop": float(kwargs.get("alpha_drop", 0.2)), "proj_drop": float(kwargs.get("proj_drop", 0.0)),
              "out_drop": float(kwargs.get("out_drop", 0.0)), "drop_path": float(kwargs.get("drop_path_rate", 0.0))}
    return {"model": "equiformer", "config": config, "heads": {output: {"type": "graph_scalar"}}}


def convert_state_dict(official: Dict[str, torch.Tensor], model: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """The official state dict as ``model``'s (a model built from :func:`spec_from_official`).

    Output scaling buffers keep ``model``'s values (the official models apply the task mean/std
    outside the network). Raises :class:`CheckpointError` naming any weight that finds no place."""
    ours = model.state_dict()
    head = next(iter(model.heads))
    modules = dict(model.named_modules())
    converted = {}
    for name, value in official.items():
        if "_compiled_main" in name or name.endswith("output_mask") or value.numel() == 0 or name == "atomref":
            continue  # e3nn's constants and masks: rebuilt by our modules
        path = name
        for pattern, replacement in _RENAMES:
            path, hits = re.subn(pattern, replacement.replace("{head}", head), path)
            if hits:
                break
        converted.update(_convert_tensor(name, path, value, modules))
    missing = [k for k in ours if k not in converted and not _rebuilt(k)]
    unknown = [k for k in converted if k not in ours]
    if missing or unknown:
        raise CheckpointError(f"official weights do not fit this model: missing {missing[:5]}, unplaced {unknown[:5]}")
    _flip_e3nn_044_paths(converted, modules)
    for key in ours:
        if key not in converted:
            converted[key] = ours[key]
        elif converted[key].shape != ours[key].shape:
            raise CheckpointError(f"official weight for {key} has shape {tuple(converted[key].shape)}, "
                                  f"ours {tuple(ours[key].shape)}")
    return converted


def _rebuilt(key: str) -> bool:
    """Our buffers that are constants of the architecture or set by training, not official weights."""
    return ("_compiled_main" in key or key.endswith("output_mask") or key.startswith(("type_map.", "output_scaling."))
            or key.endswith("tp.weight") and "dtp" in key and "value_tp" not in key or key.endswith("mul.weight"))


def _convert_tensor(name: str, path: str, value: torch.Tensor, modules) -> Dict[str, torch.Tensor]:
    """One official tensor as ours: ``X.tp.weight`` of an e3nn linear -> ``X.weights.k`` per path,
    ``X.bias.k`` -> ``X.biases.k``, anything else by name."""
    if path.endswith(".tp.weight"):
        owner = path[: -len(".tp.weight")]
        module = modules.get(owner)
        if module is not None and hasattr(module, "paths"):  # our EquivariantLinear
            out, start = {}, 0
            for k, (_, mul_in, _, mul_out, _) in enumerate(module.paths):
                size = mul_in * mul_out
                out[f"{owner}.weights.{k}"] = value[start:start + size].reshape(mul_in, mul_out).clone()
                start += size
            if start != value.numel():
                raise CheckpointError(f"official {name} has {value.numel()} weights, our {owner} takes {start}")
            return out
        return {path: value.clone()}  # an e3nn tensor product kept as is (e.g. value_tp.dtp.tp.weight)
    match = re.match(r"^(.*)\.bias\.(\d+)$", path)
    if match and hasattr(modules.get(match.group(1)), "paths"):
        return {f"{match.group(1)}.biases.{match.group(2)}": value.clone()}
    return {path: value.clone()}


def _flip_e3nn_044_paths(state: Dict[str, torch.Tensor], modules) -> None:
    """Negate the weights of the depth-wise tensor-product paths whose coupling changed sign since
    e3nn 0.4.4: rows of the radial network (and its offset) that feed them, or their internal weights."""
    for name, module in modules.items():
        if not hasattr(module, "tp") or not name.endswith("dtp") or not hasattr(module, "irreps_sh"):
            continue
        tp, owner = module.tp, name[: -len("dtp")]
        signs = torch.ones(tp.weight_numel)
        start = 0
        for ins in tp.instructions:
            size = int(torch.Size(ins.path_shape).numel())
            l1, l2, l3 = tp.irreps_in1[ins.i_in1].ir.l, tp.irreps_in2[ins.i_in2].ir.l, tp.irreps_out[ins.i_out].ir.l
            if e3nn_044_negated(l1, l2, l3):
                signs[start:start + size] = -1.0
            start += size
        if bool((signs > 0).all()):
            continue
        radial = f"{owner}radial"
        if f"{radial}.offset" in state:
            last = max((k for k in state if k.startswith(f"{radial}.net.") and k.endswith(".weight")),
                       key=lambda k: int(k.split(".")[-2]))
            state[last] = state[last] * signs[:, None].to(state[last].dtype)
            state[f"{radial}.offset"] = state[f"{radial}.offset"] * signs.to(state[f"{radial}.offset"].dtype)
        elif f"{name}.tp.weight" in state and state[f"{name}.tp.weight"].numel() == signs.numel():
            state[f"{name}.tp.weight"] = state[f"{name}.tp.weight"] * signs.to(state[f"{name}.tp.weight"].dtype)
        else:
            raise CheckpointError(f"cannot find the weights of {name} to convert its e3nn 0.4.4 paths")
