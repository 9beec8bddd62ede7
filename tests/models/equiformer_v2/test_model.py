"""EquiformerV2 as a whole: gradient forces through the edge frames, rolls, periodic cells, parameter
counts, meta-device construction, constants and config errors."""

import pytest
import torch
from ase import Atoms
from ase.build import bulk

import equiformers.models.equiformer_v2.edges as edges_module
from equiformers.data import collate, from_ase
from equiformers.errors import ConfigError
from equiformers.models.registry import build_model, count_parameters
from equiformers.so3.s2grid import s2_grid_matrices
from equiformers.tasks.forces import energy_forces_stress
from equiformers.testing import rattled_molecules

from .conftest import EXACT, V3, V3_ENERGY, tiny_spec

ENERGY_ONLY = {"energy": {"type": "eqv2_energy"}}


def build(spec, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    return build_model(spec).to(dtype).eval()


def batch(model, structures):
    return collate([model.prepare(from_ase(a)) for a in structures])


def energy(model, data) -> float:
    with torch.no_grad():
        return float(model(data)["energy"].sum())


def finite_difference_forces(model, data, h=1e-5):
    forces = torch.zeros_like(data["pos"])
    for atom in range(forces.shape[0]):
        for axis in range(3):
            values = []
            for sign in (1, -1):
                moved = dict(data)
                moved["pos"] = data["pos"].clone()
                moved["pos"][atom, axis] += sign * h
                values.append(energy(model, moved))
            forces[atom, axis] = -(values[0] - values[1]) / (2 * h)
    return forces


def test_detaching_the_edge_frames_gives_wrong_gradient_forces(monkeypatch):
    """The reference's pitfall: with .detach() on the frames, -dE/dx misses the angular terms."""
    model = build(tiny_spec(ENERGY_ONLY, **EXACT, num_layers=1))
    data = batch(model, rattled_molecules(["CH3OH"]))
    forces = energy_forces_stress(model, data)["forces"]
    assert torch.allclose(forces, finite_difference_forces(model, data), atol=1e-7, rtol=1e-6)
    frames = edges_module.edge_frames
    monkeypatch.setattr(edges_module, "edge_frames", lambda v, roll: frames(v, roll).detach())
    detached = energy_forces_stress(model, data)["forces"]
    assert (detached - forces).abs().max() > 1e-2 * forces.abs().max()


def test_forces_of_a_planar_molecule_on_the_frame_chart_boundary():
    """Every edge of a molecule in the xz-plane has u_y = 0, where the fixed frame switches charts."""
    model = build(tiny_spec(ENERGY_ONLY, **EXACT, num_layers=1))
    water = Atoms("OH2", positions=[[0.0, 0.0, 0.0], [0.96, 0.0, 0.1], [-0.3, 0.0, 0.9]])
    data = batch(model, [water])
    forces = energy_forces_stress(model, data)["forces"]
    assert torch.allclose(forces, finite_difference_forces(model, data), atol=1e-7, rtol=1e-6)


def test_fixed_frame_chart_switch_is_invisible_with_18_longitudes():
    """Where an edge crosses u_y = 0 the fixed frame switches charts (a different roll); the grid
    variant's energy does not jump beyond its smooth change."""
    model = build(tiny_spec(ENERGY_ONLY, use_grid_mlp=True))
    molecule = rattled_molecules(["CH3OH"])[0]
    carbon, hydrogen = 0, 2

    def energy_at(dy):
        moved = molecule.copy()
        moved.positions[hydrogen, 1] = moved.positions[carbon, 1] + dy  # the C-H edge at u_y = dy/|r|
        return energy(model, batch(model, [moved]))

    across, beside = energy_at(1e-9) - energy_at(-1e-9), energy_at(3e-9) - energy_at(1e-9)
    assert abs(across - beside) < 1e-10 * abs(energy_at(0.0))


def test_random_roll():
    """Exact variants do not feel the roll, and gradient forces are exact derivatives for each drawn
    roll. Grid variants feel it through longitude aliasing only: nothing measurable with 18 longitudes,
    clearly with the reference's coarse default grid (5 longitudes for mmax 2)."""
    exact = build(tiny_spec(ENERGY_ONLY, **EXACT, edge_roll="random"))
    data = batch(exact, rattled_molecules(["CH3OH", "H2O"]))
    assert roll_spread(exact, data) < 1e-12
    assert torch.allclose(energy_forces_stress(exact, data)["forces"], finite_difference_forces(exact, data),
                          atol=1e-7, rtol=1e-6)
    assert roll_spread(build(tiny_spec(ENERGY_ONLY, use_grid_mlp=True, edge_roll="random")), data) < 1e-10
    assert roll_spread(build(tiny_spec(ENERGY_ONLY, use_grid_mlp=True, grid_resolution=None, edge_roll="random")),
                       data) > 1e-8


def roll_spread(model, data, runs: int = 3) -> float:
    """Largest relative change of the energies between calls (each call draws new rolls)."""
    with torch.no_grad():
        energies = [model(data)["energy"] for _ in range(runs)]
    return max(float((e - energies[0]).abs().max()) for e in energies) / float(energies[0].abs().max())


def test_v3_switches_make_the_model_independent_of_the_roll():
    """SwiGLU-S² is exact on its grid, so the random roll changes nothing (EquiformerV3's claim)."""
    model = build(tiny_spec({"energy": V3_ENERGY}, **V3, edge_roll="random"))
    data = batch(model, rattled_molecules(["CH3OH", "C6H6"]))
    assert roll_spread(model, data) < 1e-12
    forces = [energy_forces_stress(model, data)["forces"] for _ in range(2)]
    assert (forces[1] - forces[0]).abs().max() < 1e-12 * forces[0].abs().max()


def test_envelope_makes_forces_continuous_at_the_cutoff():
    model = build(tiny_spec({"energy": V3_ENERGY}, **V3))
    assert model.smooth_at_cutoff
    water = rattled_molecules(["H2O"])[0]
    far = water.positions[water.positions[:, 0].argmax()]
    forces = [energy_forces_stress(model, batch(model, [water + Atoms("H", positions=[far + [d, 0, 0]])]))["forces"]
              for d in (model.cutoff - 1e-6, model.cutoff + 1e-6)]
    assert (forces[0] - forces[1]).abs().max() < 1e-9
    capped = build_model(tiny_spec({"energy": V3_ENERGY}, **V3, max_neighbors=8))
    assert not capped.smooth_at_cutoff  # a neighbour cap is itself discontinuous


@pytest.mark.parametrize("variant", ["exact", "grid"])
def test_supercell_doubles_the_energy_and_keeps_the_forces(variant):
    settings = EXACT if variant == "exact" else {"use_grid_mlp": True}
    model = build(tiny_spec(ENERGY_ONLY, **settings))
    cell = bulk("C", "diamond", a=3.57)
    cell.rattle(0.05, seed=1)
    cell.numbers[1] = 7
    small, large = (energy_forces_stress(model, batch(model, [a])) for a in (cell, cell.repeat((2, 1, 1))))
    tolerance = 1e-10 if variant == "exact" else 1e-6  # same local environments: only rounding differs
    assert abs(float(large["energy"]) - 2 * float(small["energy"])) < tolerance * abs(float(small["energy"]))
    assert (large["forces"][:2] - small["forces"]).abs().max() < tolerance * small["forces"].abs().max() + 1e-12


def expected_parameters(c: dict, num_types: int, energy_head: bool = True, force_head: bool = True) -> int:
    """The reference's parameter count in closed form (see the reference implementation notes, §14)."""
    L, M, C, ec = c["lmax"], c["mmax"], c["sphere_channels"], c["edge_channels"]
    hid, H, a, v, fh = (c["attn_hidden_channels"], c["num_heads"], c["attn_alpha_channels"], c["attn_value_channels"],
                        c["ffn_hidden_channels"])

    def linear(i, o, bias=True):
        return i * o + (o if bias else 0)

    def radial(widths):
        return sum(linear(widths[i - 1], widths[i]) + (2 * widths[i] if i < len(widths) - 1 else 0)
                   for i in range(1, len(widths)))

    def so2(cin, cout, extra=0, radial_in=None):
        n, rad_out = linear((L + 1) * cin, (L + 1) * cout + extra), (L + 1) * cin
        for m in range(1, M + 1):
            n, rad_out = n + linear((L - m + 1) * cin, 2 * cout * (L - m + 1), False), rad_out + (L - m + 1) * cin
        return n + (radial(radial_in + [rad_out]) if radial_in else 0)

    radial_in = [c["num_distance_basis"] + 2 * ec, ec, ec]

    def attention(out):
        return (2 * num_types * ec + so2(2 * C, hid, H * a + hid, radial_in) + 2 * a + H * a + so2(hid, H * v)
                + (L + 1) * H * v * out + out)

    def ffn(out):
        return (L + 1) * C * fh + fh + linear(C, fh) + 3 * fh * fh + (L + 1) * fh * out + out

    norm = 2 * C + L * C  # layer_norm_sh
    total = num_types * C + 2 * num_types * ec + radial(radial_in + [(L + 1) * C])
    total += c["num_layers"] * (2 * norm + attention(C) + ffn(C)) + norm
    return total + (ffn(1) if energy_head else 0) + (attention(1) if force_head else 0)


def test_parameter_count_matches_the_reference_formula():
    config = {**tiny_spec()["config"], "use_grid_mlp": True, "norm_type": "layer_norm_sh"}
    model = build_model({"model": "equiformer_v2", "config": config})
    assert sum(p.numel() for p in model.parameters()) == expected_parameters(config, 4)
    for name, reference in [("equiformer_v2-oc20-31m", 31058690), ("equiformer_v2-oc20-83m", 83164802),
                            ("equiformer_v2-oc20-153m", 153602690), ("equiformer_v3-oc20-2m", 91390274),
                            ("equiformer_v3-mp-gradient", 30278113), ("equiformer_v3-oam-gradient", 30333409)]:
        assert count_parameters(name) == reference


def test_v3_block_layout_matches_the_reference():
    """Shapes of one EquiformerV3 OC20 block, as listed from the official code (V3 reference §8.2)."""
    with torch.device("meta"):
        model = build_model("equiformer_v3-oc20-2m")
    block = model.backbone.blocks[0]
    shapes = {"ga.rad_func.net.0.weight": (128, 384), "ga.rad_func.net.6.weight": (1792, 128),
              "ga.so2_conv_1.fc_m0.weight": (1600, 1792), "ga.so2_conv_1.so2_m_conv.0.fc.weight": (1536, 1536),
              "ga.so2_conv_1.so2_m_conv.1.fc.weight": (1280, 1280), "ga.so2_conv_2.fc_m0.weight": (896, 448),
              "ga.so2_conv_2.so2_m_conv.0.fc.weight": (1536, 384), "ga.proj.weight": (7, 128, 128),
              "ffn.so3_linear_1.weight": (7, 512, 128), "ffn.scalar_mlp.weight": (1024, 128),
              "ffn.gating_linear.weight": (512, 128), "ffn.grid_linear_1.weight": (1024, 512),
              "ffn.grid_linear_2.weight": (512, 512), "ffn.so3_linear_2.weight": (7, 128, 512)}
    params = dict(block.named_parameters())
    assert {k: tuple(params[k].shape) for k in shapes} == shapes
    assert sum(p.numel() for p in block.parameters()) == 10618688
    assert sum(p.numel() for p in model.heads["energy"].parameters()) == 66561
    assert sum(p.numel() for p in model.heads["forces"].parameters()) == 6142145


def test_meta_device_build_allocates_no_weights():
    with torch.device("meta"):
        model = build_model("equiformer_v2-oc20-153m")
    assert all(p.device.type == "meta" for p in model.backbone.parameters())
    assert all(p.device.type == "meta" for p in model.heads.parameters())


def test_double_rebuilds_grid_constants_exactly():
    model = build_model(tiny_spec(use_grid_mlp=True)).double()
    to_grid = s2_grid_matrices(3, 3, 18)[0].flatten(0, 1)
    assert torch.equal(model.backbone.blocks[0].ffn.grid.to_grid, to_grid)


def test_state_dict_has_no_derived_constants():
    keys = build_model(tiny_spec(use_grid_mlp=True)).state_dict().keys()
    assert not [k for k in keys if "grid" in k.split(".")[-1] or k.endswith(("expand_index", "offset",
                                                                               "balance_degree_weight"))]


@pytest.mark.parametrize("override,message", [
    ({"mmax": 4}, "mmax must be between 0 and lmax"),
    ({"norm_type": "batch_norm"}, "norm_type must be one of"),
    ({"grid_resolution": 7}, "grid_resolution must be an even number"),
    ({"use_swiglu_s2": True, "grid_resolution": 8}, "too coarse for use_swiglu_s2"),
    ({"use_swiglu_s2": True, "use_gate_act": True}, "both choose"),
    ({"share_atom_edge_embedding": True, "use_atom_edge_embedding": False}, "share_atom_edge_embedding needs"),
    ({"edge_roll": "spin"}, "edge_roll must be one of"),
    ({"lmax": 0, "mmax": 0}, "lmax must be at least 1"),
])
def test_config_errors_are_clear(override, message):
    with pytest.raises(ConfigError, match=message):
        build_model(tiny_spec(**override))


def test_family_head_errors_are_clear():
    with pytest.raises(ConfigError, match="head pool must be"):
        build_model(tiny_spec({"energy": {"type": "eqv2_energy", "pool": "max"}}))
    with pytest.raises(ConfigError, match="written by both"):
        build_model(tiny_spec({"e1": {"type": "eqv2_energy", "outputs": ["energy"]},
                               "energy": {"type": "eqv2_energy"}}))


def test_direct_stress_head_as_fairchems():
    """The OMat24 rank-2 head (exact backbone, float64): symmetric; its isotropic part (the trace) is
    invariant under a rotation and translation of the cell and atoms; the anisotropic part only nearly
    rotates as R σ Rᵀ, because fairchem's network applies SiLU to the l = 2 components one by one (kept:
    the released weights were trained so); the normalizers scale the two parts."""
    from equiformers.testing import random_rotation

    heads = {"energy": {"type": "eqv2_energy"}, "forces": {"type": "eqv2_forces"},
             "stress": {"type": "eqv2_stress", "source_target_embedding": True}}
    model = build(tiny_spec(heads, **EXACT))
    cell = bulk("C", "diamond", a=3.57)
    cell.rattle(0.05, seed=2)
    turned = cell.copy()
    rotation = random_rotation(torch.float64, torch.Generator().manual_seed(5)).numpy()
    turned.positions = cell.positions @ rotation.T + [0.3, -0.2, 0.1]
    turned.cell = cell.cell.array @ rotation.T
    with torch.no_grad():
        before = model(batch(model, [cell]))["stress"][0]
        after = model(batch(model, [turned]))["stress"][0]
    r = torch.from_numpy(rotation)
    assert float(before.abs().max()) > 1e-6
    assert abs(float(torch.trace(after) - torch.trace(before))) < 1e-9 * float(before.abs().max())
    assert 1e-9 < float((after - r @ before @ r.T).abs().max()) < 0.05 * float(before.abs().max())
    assert (before - before.T).abs().max() < 1e-12
    model.heads["stress"].set_normalizers(isotropic=(0.5, 2.0), anisotropic=(0.0, 3.0))
    with torch.no_grad():
        scaled = model(batch(model, [cell]))["stress"][0]
    trace = lambda s: float(torch.trace(s))  # noqa: E731 (isotropic part: trace / √3 per unit)
    assert trace(scaled) == pytest.approx(2.0 * trace(before) + 0.5 * 3 ** 0.5, rel=1e-9)
