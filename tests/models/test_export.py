"""Exported inference (torch.export, dynamic atom and edge counts) gives the eager model's energies
and forces on structures of other sizes, and survives a save/load round trip; torch.compile too."""

import pytest
import torch
from ase.build import bulk, molecule

import equiformers
from equiformers.data import collate, from_ase
from equiformers.models.export import export_model, load_exported, save_exported
from equiformers.tasks.forces import energy_forces_stress
from equiformers.testing.suites import relative_error

ENERGY = {"energy": {"type": "graph_scalar"}}
FAMILIES = {
    "equiformer": {"preset": "equiformer-md17-l2", "num_layers": 1, "channels": [8, 4], "num_heads": 2},
    "equiformer_v2": {"preset": "equiformer_v2-oc20-31m", "num_layers": 1, "sphere_channels": 8,
                      "attn_hidden_channels": 8, "num_heads": 2, "attn_alpha_channels": 4, "attn_value_channels": 4,
                      "ffn_hidden_channels": 8, "lmax": 2, "mmax": 1, "grid_resolution": 8, "edge_channels": 8,
                      "num_distance_basis": 8, "heads": {"energy": {"type": "eqv2_energy"}}},
    "equiformer_v3_switches": {"preset": "equiformer_v3-oc20-2m", "num_layers": 1, "sphere_channels": 8,
                               "attn_hidden_channels": 8, "num_heads": 2, "attn_alpha_channels": 4,
                               "attn_value_channels": 4, "ffn_hidden_channels": 8, "lmax": 2, "mmax": 1,
                               "grid_resolution": [8, 8], "attn_grid_resolution": [8, 8], "edge_channels": 8,
                               "num_distance_basis": 8, "heads": {"energy": {"type": "eqv2_energy"}}},
    "se3_transformer": {"preset": "se3-transformer-pdbbind-efficient", "num_layers": 1, "channels": 4, "num_heads": 2,
                        "out_channels": 4, "heads": {"energy": {"type": "graph_scalar", "feature": "node_scalars",
                                                                "pool": "sum"}}},
}


def build(name):
    torch.manual_seed(0)
    spec = dict(FAMILIES[name])
    spec.setdefault("heads", ENERGY)
    return equiformers.build_model(spec).double().eval()


def batch(model, *atoms):
    return collate([model.prepare(from_ase(a)) for a in atoms])


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_exported_model_matches_eager_on_other_sizes(name, tmp_path):
    model = build(name)
    exported = export_model(model, batch(model, molecule("CH3CH2OH")))
    for structure in (molecule("C6H6"), molecule("H2O")):
        data = batch(model, structure)
        eager, traced = energy_forces_stress(model, data), energy_forces_stress(exported, data)
        assert relative_error(traced["energy"], eager["energy"]) < 1e-10
        assert relative_error(traced["forces"], eager["forces"]) < 1e-10
    reloaded = load_exported(save_exported(exported, tmp_path / "model.pt2"))
    data = batch(model, molecule("C6H6"))
    assert torch.equal(energy_forces_stress(reloaded, data)["forces"], energy_forces_stress(exported, data)["forces"])


def test_exported_periodic_stress_matches_eager():
    model = build("equiformer_v2")
    copper = bulk("Cu", "fcc", a=3.6, cubic=True)
    exported = export_model(model, batch(model, copper))
    bigger = copper.repeat((2, 1, 1))
    bigger.rattle(0.05, seed=1)
    data = batch(model, bigger)
    eager = energy_forces_stress(model, data, compute_stress=True)
    traced = energy_forces_stress(exported, data, compute_stress=True)
    for key in ("energy", "forces", "stress"):
        assert relative_error(traced[key], eager[key]) < 1e-10, key


def test_export_errors_are_clear(tmp_path):
    from equiformers.errors import CheckpointError, ConfigError

    model = build("equiformer")
    with pytest.raises(ConfigError, match="eval mode"):
        export_model(model.train(), batch(model, molecule("H2O")))
    exported = export_model(model.eval(), batch(model, molecule("H2O")))
    with pytest.raises(ConfigError, match="exported for batches of 1 graph"):
        exported(batch(model, molecule("H2O"), molecule("CH4")))
    (tmp_path / "junk.pt2").write_bytes(b"not a program")
    with pytest.raises(CheckpointError, match="not an exported equiformers model"):
        load_exported(tmp_path / "junk.pt2")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["equiformer_v2", "equiformer_v3_switches"])
def test_compiled_model_matches_eager(name):
    """torch.compile (inductor, dynamic shapes) of the energy model; forces by autograd through it."""
    model = build(name)
    compiled = torch.compile(model, dynamic=True)
    for structure in (molecule("CH3CH2OH"), molecule("C6H6")):
        data = batch(model, structure)
        eager = energy_forces_stress(model, data)
        fast = energy_forces_stress(compiled, data)
        assert relative_error(fast["forces"], eager["forces"]) < 1e-9


def test_export_from_the_command_line(tmp_path):
    from ase.io import write

    from equiformers.cli.main import main
    from equiformers.training.checkpoint import load_model, save_model

    model = build("equiformer")
    save_model(model, tmp_path / "model.pt")
    write(tmp_path / "ethanol.xyz", molecule("CH3CH2OH"))
    assert main(["export", str(tmp_path / "model.pt"), str(tmp_path / "ethanol.xyz"),
                 "--output", str(tmp_path / "model.pt2")]) == 0
    exported = load_exported(tmp_path / "model.pt2")
    model, _ = load_model(tmp_path / "model.pt")  # as the command saw it (float32)
    data = batch(model, molecule("C6H6"))
    assert relative_error(energy_forces_stress(exported, data)["forces"],
                          energy_forces_stress(model, data)["forces"]) < 1e-6
    assert main(["export", str(tmp_path / "model.pt"), str(tmp_path / "missing.xyz")]) == 2
