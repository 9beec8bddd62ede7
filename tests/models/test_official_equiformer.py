"""Fidelity against the official Equiformer: small random-initialised official models in every
mode (MLP attention with non-linear and linear messages, dot-product attention, Bessel basis,
MD17 energy+forces) were run by the official code at commit 64cb786 in its own environment
(``benchmarks/official_equiformer/make_fixture.py``); their weights, converted into ours, give
the same outputs and forces to float32 precision."""

from pathlib import Path

import pytest
import torch
from ase import Atoms

import equiformers
from equiformers.data import collate, from_ase
from equiformers.errors import CheckpointError, ConfigError
from equiformers.models.equiformer.official import convert_state_dict, e3nn_044_negated, spec_from_official
from equiformers.tasks.forces import energy_forces_stress

FIXTURE = torch.load(Path(__file__).parents[1] / "fixtures" / "official_equiformer.pt", weights_only=True)
KINDS = {"qm9_mlp_nonlinear": "qm9", "qm9_mlp_linear": "qm9", "qm9_dot_product": "qm9_dot_product",
         "qm9_bessel": "qm9", "md17_exp": "md17"}


def converted(mode):
    record = FIXTURE["modes"][mode]
    model = equiformers.build_model(spec_from_official(record["kwargs"], KINDS[mode]))
    model.load_state_dict(convert_state_dict(record["state_dict"], model))
    return model.eval(), record


def batch_for(model, inputs):
    structures = []
    for b in range(int(inputs["batch"].max()) + 1):
        member = inputs["batch"] == b
        atoms = Atoms(numbers=inputs["atomic_numbers"][member].numpy(), positions=inputs["pos"][member].numpy())
        structures.append(model.prepare(from_ase(atoms)))
    return collate(structures)


def test_the_fixture_covers_every_mode_at_the_pinned_commit():
    assert set(FIXTURE["modes"]) == set(KINDS) and FIXTURE["official_commit"].startswith("64cb786")


@pytest.mark.parametrize("mode", sorted(KINDS))
def test_official_weights_give_the_official_outputs(mode):
    model, record = converted(mode)
    data = batch_for(model, FIXTURE["inputs"]["md17" if mode.startswith("md17") else "qm9"])
    name = next(iter(model.outputs))
    if mode.startswith("md17"):
        out = energy_forces_stress(model, data, name)
        forces = out["forces"].detach()
        assert torch.allclose(forces, record["forces"], rtol=0, atol=1e-5 * record["forces"].abs().max())
    else:
        with torch.no_grad():
            out = model(data)
    scale = record["output"].abs().max()
    assert torch.allclose(out[name].detach(), record["output"], rtol=0, atol=2e-6 * scale), \
        (out[name].tolist(), record["output"].tolist())


def test_the_e3nn_sign_difference_is_what_makes_them_agree(monkeypatch):
    from equiformers.models.equiformer import official

    monkeypatch.setattr(official, "e3nn_044_negated", lambda l1, l2, l3: False)
    model, record = converted("qm9_mlp_nonlinear")  # converted without the sign correction
    with torch.no_grad():
        out = model(batch_for(model, FIXTURE["inputs"]["qm9"]))["y"]
    assert not torch.allclose(out, record["output"], atol=1e-2)
    monkeypatch.undo()
    assert e3nn_044_negated(2, 1, 2) and e3nn_044_negated(1, 3, 3) and e3nn_044_negated(4, 4, 1)
    assert not e3nn_044_negated(1, 1, 1) and not e3nn_044_negated(2, 2, 2) and not e3nn_044_negated(0, 2, 2)


def test_conversion_errors_are_clear():
    model, record = converted("qm9_mlp_nonlinear")
    wrong = equiformers.build_model(spec_from_official({**record["kwargs"], "num_layers": 3}, "qm9"))
    with pytest.raises(CheckpointError, match="official"):
        convert_state_dict(record["state_dict"], wrong)
    with pytest.raises(ConfigError, match="official model kind"):
        spec_from_official(record["kwargs"], "oc20")
