"""fairchem 1.x EquiformerV2 checkpoint files load with ``load_model`` (and the calculator, ``predict``)
and predict what fairchem predicts.

Fixtures (``tests/fixtures/fairchem/``, made by ``benchmarks/fairchem_equiformer_v2/make_fixture.py``
with the official fairchem-core 1.10.0 in its own environment): five small random-initialised
checkpoints written by fairchem's own trainer (flat and hydra models, molecule and periodic, direct
forces and energy-only, an OMat24 ``eqV2_*``-style model with element references and a stress head)
and ``reference.pt``: fairchem's predictions through its ``OCPCalculator``.

The random roll: fairchem draws a new roll of every edge frame on each call; we use a fixed frame.
The reference records fairchem (a) as shipped, under 5 seeds, and (b) with its frame function replaced
by our fixed frame. With these models' grids, the roll changes fairchem's outputs only at float32
rounding level (spread over the seeds: energies <= 2.2e-8 eV, forces <= 1.7e-7 eV/Å), so ours is
compared with both, at the same tolerance.

Tolerances (measured differences in brackets):
  float32 energies: 1e-6 relative + 1e-6 eV [9.5e-7 eV at |E| = 11.6 eV, else <= 7e-8 eV];
  float32 direct forces: 1e-4 x max |F| [<= 2.9e-5 x max |F|: fairchem's float32 constants and sums];
  gradient forces and stress (ours: float64 autograd; fairchem 1.10 has no gradient-force mode for
  EquiformerV2, so the reference is a five-point finite difference of its float64 energy):
  1e-4 x max |F| and 1e-4 x max |sigma| [<= 1.6e-5 and 1.4e-5 x max; float64 energies differ by
  <= 8e-9 eV]: fairchem's e3nn grid and Wigner constants are float32-accurate, which bounds the
  agreement of the two float64 energy surfaces.
"""

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms

from equiformers.calculators import EquiformerCalculator
from equiformers.errors import CheckpointError, EquiformersWarning
from equiformers.training.checkpoint import load_model, read_model_record

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "fairchem"
REFERENCE = torch.load(FIXTURES / "reference.pt", weights_only=True)
CASES = sorted(REFERENCE["cases"])
E_RTOL, E_ATOL, REL = 1e-6, 1e-6, 1e-4


def atoms_of(name: str) -> Atoms:
    s = REFERENCE["structures"][name]
    return Atoms(numbers=s["numbers"].numpy(), positions=s["positions"].numpy(), cell=s["cell"].numpy(),
                 pbc=s["pbc"].numpy())


def load(case: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EquiformersWarning)
        return load_model(FIXTURES / REFERENCE["cases"][case]["file"])


def evaluate(model, atoms: Atoms, dtype=torch.float32) -> dict:
    atoms = atoms.copy()
    atoms.calc = EquiformerCalculator(model, device="cpu", dtype=dtype)
    out = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
    if atoms.pbc.all() and ("forces" not in model.outputs or "stress" in model.outputs):
        out["stress"] = atoms.get_stress(voigt=False)  # the virial, or the direct stress head's
    return out


def assert_energy(ours: float, reference: torch.Tensor) -> None:
    for value in reference.reshape(-1).tolist():
        assert abs(ours - value) <= E_ATOL + E_RTOL * abs(value), (ours, value)


def assert_vectors(ours: np.ndarray, reference: torch.Tensor) -> None:
    reference = reference.numpy()
    worst = np.abs(ours - reference).max()
    assert worst <= REL * np.abs(reference).max(), (worst, np.abs(reference).max())


@pytest.mark.parametrize("case", CASES)
def test_fairchem_checkpoint_matches_fairchem(case):
    model, metadata = load(case)
    assert metadata["source"] == "fairchem" and metadata["fairchem_version"] == "1.10.0"
    for structure, reference in REFERENCE["cases"][case]["results"].items():
        atoms = atoms_of(structure)
        ours = evaluate(model, atoms)
        for kind in ("fixed", "random"):  # our fixed frame in fairchem; fairchem as shipped (5 seeds)
            assert_energy(ours["energy"], reference[kind]["energy"])
            if "forces" in reference[kind]:
                assert "forces" in model.outputs  # a direct-force model stays one
                for forces in reference[kind]["forces"].reshape(-1, len(atoms), 3):
                    assert_vectors(ours["forces"], forces)
            if "stress" in reference[kind]:  # the OMat24 direct stress head, fairchem's 9 components
                assert "stress" in model.outputs
                for stress in reference[kind]["stress"].reshape(-1, 9):
                    assert_vectors(ours["stress"].reshape(9), stress)
        if "fd_float64" in reference:  # energy-only: our conservative forces (and stress) in float64
            assert "forces" not in model.outputs
            exact = evaluate(model, atoms, torch.float64)
            assert_energy(exact["energy"], reference["fixed_float64"]["energy"])
            assert_vectors(exact["forces"], reference["fd_float64"]["forces"])
            if "stress" in reference["fd_float64"]:
                assert_vectors(exact["stress"], reference["fd_float64"]["stress"])


def test_conversion_reads_fairchems_layout_and_statistics():
    """Normalizers and element references become our output scaling (the stress head's two
    normalizers its part scales); the converted model keeps fairchem's data statistics."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", EquiformersWarning)  # nothing is left out any more
        record = read_model_record(FIXTURES / "eqV2_omat_style.pt")
    config, state = record["model"]["config"], record["state_dict"]
    assert config["elements"] == 96 and config["avg_num_nodes"] == 31.17 and config["avg_degree"] == 61.95
    assert config["edge_roll"] == "fixed"
    assert set(record["model"]["heads"]) == {"energy", "forces", "stress"}
    assert record["model"]["heads"]["stress"] == {"type": "eqv2_stress", "source_target_embedding": True}
    fairchem = torch.load(FIXTURES / "eqV2_omat_style.pt", weights_only=True)
    parts = [fairchem["normalizers"][f"stress_{p}"] for p in ("isotropic", "anisotropic")]
    assert state["heads.stress.part_scale"].tolist() == pytest.approx([float(p["rmsd"]) for p in parts])
    assert state["heads.stress.part_shift"].tolist() == pytest.approx([float(p["mean"]) for p in parts])
    for output in ("energy", "forces"):
        rmsd = fairchem["normalizers"][output]["rmsd"].item()
        assert state[f"output_scaling.{output}.scale"].item() == pytest.approx(rmsd)
    references = fairchem["elementrefs"]["energy"]["element_references"]
    assert torch.allclose(state["output_scaling.energy.atom_reference"], references[:96].float())


def test_module_prefix_and_legacy_layouts(tmp_path):
    """Checkpoints of DDP runs prefix every name with ``module.``; older ones keep the model's options
    in ``model_attributes`` and store the normalizers as ``target``/``grad_target`` with
    ``mean``/``std``: all read the same."""
    fairchem = torch.load(FIXTURES / "eqv2_molecule_direct.pt", weights_only=True)
    attributes = dict(fairchem["config"]["model"])
    fairchem["config"] = {**fairchem["config"], "model": attributes.pop("name"), "model_attributes": attributes}
    fairchem["state_dict"] = {f"module.{k}": v for k, v in fairchem["state_dict"].items()}
    fairchem["normalizers"] = {"target": {"mean": float(fairchem["normalizers"]["energy"]["mean"]),
                                          "std": fairchem["normalizers"]["energy"]["rmsd"]},
                               "grad_target": {"mean": 0.0, "std": fairchem["normalizers"]["forces"]["rmsd"]}}
    torch.save(fairchem, tmp_path / "ddp.pt")
    model, _ = load_model(tmp_path / "ddp.pt")
    reference = REFERENCE["cases"]["eqv2_molecule_direct"]["results"]["acetamide"]["fixed"]
    ours = evaluate(model, atoms_of("acetamide"))
    assert_energy(ours["energy"], reference["energy"])
    assert_vectors(ours["forces"], reference["forces"])


def test_unsupported_fairchem_configurations_name_the_option(tmp_path):
    base = torch.load(FIXTURES / "eqv2_periodic_direct.pt", weights_only=True)

    def refused(edit, match):
        checkpoint = {**base, "config": {**base["config"], "model": edit(dict(base["config"]["model"]))}}
        torch.save(checkpoint, tmp_path / "edited.pt")
        with pytest.raises(CheckpointError, match=match):
            load_model(tmp_path / "edited.pt")

    refused(lambda m: {**m, "backbone": {**m["backbone"], "use_s2_act_attn": True}}, "use_s2_act_attn")
    refused(lambda m: {**m, "backbone": {**m["backbone"], "lmax_list": [2, 2], "mmax_list": [1, 1]}}, "one resolution")
    refused(lambda m: {**m, "backbone": {**m["backbone"], "model": "equiformer_v2_dens_backbone"}},
            "equiformer_v2_dens_backbone")
    refused(lambda m: {**m, "heads": {**m["heads"], "dipole": {"module": "some_dipole_head"}}}, "some_dipole_head")
    refused(lambda m: {**m, "backbone": {**m["backbone"], "new_switch": 1}}, "new_switch")
    refused(lambda m: {"name": "gemnet_oc", "num_blocks": 4}, "gemnet_oc")


def test_pickled_python_objects_need_an_explicit_opt_in(tmp_path, monkeypatch):
    """fairchem checkpoints may hold Python objects (e.g. numpy scalars in ``val_metrics``): refused
    with advice, loaded with ``allow_pickle=True`` or ``EQUIFORMERS_ALLOW_PICKLE=1``."""
    checkpoint = torch.load(FIXTURES / "eqv2_molecule_gradient.pt", weights_only=True)
    checkpoint["val_metrics"] = {"energy_mae": {"metric": np.float64(0.1)}, "when": np.datetime64("2024-01-01")}
    torch.save(checkpoint, tmp_path / "pickled.pt")
    with pytest.raises(CheckpointError, match="allow_pickle=True"):
        load_model(tmp_path / "pickled.pt")
    model, _ = load_model(tmp_path / "pickled.pt", allow_pickle=True)
    assert "energy" in model.outputs
    monkeypatch.setenv("EQUIFORMERS_ALLOW_PICKLE", "1")
    assert "energy" in load_model(tmp_path / "pickled.pt")[0].outputs


def test_calculator_and_predict_take_the_fairchem_file(tmp_path):
    """The two-line use: a calculator from the file path, and ``equiformers predict FILE structures``."""
    from ase.io import write

    from equiformers.cli.main import main

    path = FIXTURES / REFERENCE["cases"]["eqv2_periodic_gradient"]["file"]
    reference = REFERENCE["cases"]["eqv2_periodic_gradient"]["results"]["ruo2"]
    atoms = atoms_of("ruo2")
    atoms.calc = EquiformerCalculator(str(path), device="cpu")
    assert_energy(atoms.get_potential_energy(), reference["fixed"]["energy"])
    assert atoms.get_stress().shape == (6,)
    write(tmp_path / "ruo2.extxyz", atoms_of("ruo2"))
    assert main(["predict", str(path), str(tmp_path / "ruo2.extxyz"), "--output", str(tmp_path / "out.csv")]) == 0
    header, row = (tmp_path / "out.csv").read_text().splitlines()[:2]
    energy = float(row.split(",")[header.split(",").index("energy")])
    assert_energy(energy, reference["fixed"]["energy"])


def test_md_and_relax_commands_take_the_fairchem_file(tmp_path):
    from ase.io import read, write

    from equiformers.cli.main import main

    write(tmp_path / "acetamide.xyz", atoms_of("acetamide"))
    direct = FIXTURES / REFERENCE["cases"]["eqv2_molecule_direct"]["file"]
    gradient = FIXTURES / REFERENCE["cases"]["eqv2_molecule_gradient"]["file"]
    assert main(["relax", str(direct), str(tmp_path / "acetamide.xyz"), "--steps", "3", "--device", "cpu",
                 "--output", str(tmp_path / "relax.traj")]) == 0
    assert main(["md", str(gradient), str(tmp_path / "acetamide.xyz"), "--steps", "4", "--interval", "2",
                 "--device", "cpu", "--output", str(tmp_path / "md.traj")]) == 0
    assert len(read(tmp_path / "md.traj", ":")) >= 2
