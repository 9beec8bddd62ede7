"""No behaviour change from the restructuring: version-0.1 models (``tests/fixtures/regression_v0_1.pt``,
made by ``make_regression_fixture.py`` before the backbone/heads split) are rebuilt bit for bit.

For every preset (small) and four variants: the same seed builds the same weights (so the
construction order and every initialiser are unchanged), the old state dict loads into today's
layout through the family's migration, and the float64 outputs (energies and forces included)
equal the stored ones: to 1e-13 relative with e3nn's tensor products (the computation 0.1 used;
not bit for bit, because BLAS kernels round differently on other CPUs: this machine's forces
differ from the fixture's in the 15th digit), and to 1e-12 with the default edge-frame products
(the same maths, other rounding).
"""

from pathlib import Path

import pytest
import torch
from ase import Atoms

from equiformers.data import collate, from_ase
from equiformers.models.registry import build_model, family_class, resolve_model_spec
from equiformers.tasks.forces import energy_forces_stress

FIXTURE = torch.load(Path(__file__).resolve().parents[1] / "fixtures" / "regression_v0_1.pt", weights_only=True)


@pytest.fixture(scope="module")
def molecules():
    return [Atoms(numbers=m["numbers"].numpy(), positions=m["positions"].numpy()) for m in FIXTURE["molecules"]]


@pytest.mark.parametrize("tensor_product", ["e3nn", "edge_frame"])
@pytest.mark.parametrize("name", sorted(FIXTURE["cases"]))
def test_version_0_1_model_is_reproduced_exactly(name, tensor_product, molecules):
    case = FIXTURE["cases"][name]
    spec = resolve_model_spec(case["spec"])  # 0.1 config fields -> heads
    spec["config"] = {**(spec.get("config") or {}), "tensor_product": tensor_product}
    state = family_class(spec["model"]).migrate_state_dict(case["state_dict"], spec["heads"])

    torch.manual_seed(0)
    fresh = build_model(spec)
    fresh_state = fresh.state_dict()
    assert set(fresh_state) == set(state)
    for key, value in state.items():
        if not key.startswith("output_scaling."):  # scaling was set after construction in the fixture
            assert torch.equal(fresh_state[key], value), key

    fresh.load_state_dict(state)
    model = fresh.double().eval()
    data = collate([model.prepare(from_ase(a)) for a in molecules])
    out = energy_forces_stress(model, data) if "energy" in model.outputs else model(data)
    assert set(out) == set(case["outputs"])
    for key, expected in case["outputs"].items():
        got = out[key].detach()
        message = f"{key}: max diff {(got - expected).abs().max():.3e}"
        tolerance = 1e-13 if tensor_product == "e3nn" else 1e-12
        assert (got - expected).abs().max() <= tolerance * expected.abs().max(), message
