"""``equiformers md`` / ``relax`` options: initial momenta follow --temperature, bad values are one-line errors."""

import numpy as np
import pytest
import torch
from ase.build import molecule
from ase.io import read, write
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

import equiformers
from equiformers.cli.main import main
from equiformers.training.checkpoint import save_model

HOT_K = 2000.0


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """An untrained tiny energy model and an ethanol frame whose momenta are at ~2000 K."""
    folder = tmp_path_factory.mktemp("simulate")
    with torch.random.fork_rng():  # build_model draws weights: keep the global RNG untouched
        torch.manual_seed(0)
        model = equiformers.build_model("equiformer-md17-l2", num_layers=1, channels=[8, 4], num_heads=2,
                                        readout_channels=8, num_basis=8, radial_hidden=[8, 8])
    model.set_output_statistics("energy", scale=0.05, shift=0.0)
    save_model(model, folder / "model.pt")
    atoms = molecule("CH3CH2OH")
    MaxwellBoltzmannDistribution(atoms, temperature_K=HOT_K, rng=np.random.default_rng(1))
    write(folder / "hot.extxyz", atoms)
    return folder


def initial_temperature(trajectory) -> float:
    return read(str(trajectory), index=0).get_temperature()


def run_md(files, *options):
    return main(["md", str(files / "model.pt"), str(files / "hot.extxyz"), "--steps", "0",
                 "--output", str(files / "md.traj"), *options])


def test_input_frame_keeps_its_momenta_through_extxyz(files):
    hot = read(str(files / "hot.extxyz"))
    assert hot.get_momenta().any() and hot.get_temperature() > 1000


def test_md_replaces_the_input_momenta_by_the_requested_temperature(files, capsys):
    assert run_md(files, "--temperature", "300", "--seed", "3") == 0
    out = capsys.readouterr().out
    assert "the input frame's momenta (T = " in out and "Maxwell-Boltzmann velocities at 300 K" in out
    assert "--keep-momenta keeps them" in out
    assert initial_temperature(files / "md.traj") < 1000  # 9 atoms: ~300 +- 80 K, far from 2000 K


def test_md_keep_momenta_starts_from_the_frames_momenta(files, capsys):
    assert run_md(files, "--temperature", "300", "--keep-momenta") == 0
    assert "keeping the input frame's momenta (T = " in capsys.readouterr().out
    expected = read(str(files / "hot.extxyz")).get_temperature()
    assert initial_temperature(files / "md.traj") == pytest.approx(expected, rel=1e-6)


def test_md_at_zero_kelvin_starts_from_rest(files, capsys):
    assert run_md(files, "--temperature", "0") == 0
    assert "replaced by zero velocities" in capsys.readouterr().out
    assert initial_temperature(files / "md.traj") == 0.0


def test_md_runs_a_few_langevin_steps_with_a_valid_negative_frame(files):
    assert run_md(files, "--frame", "-1", "--friction", "0.01") == 0
    assert main(["md", str(files / "model.pt"), str(files / "hot.extxyz"), "--steps", "4", "--interval", "2",
                 "--friction", "0.01", "--output", str(files / "langevin.traj")]) == 0
    assert len(read(str(files / "langevin.traj"), index=":")) == 3


@pytest.mark.parametrize("option, value", [
    ("--frame", "1"), ("--frame", "-2"), ("--steps", "-1"), ("--timestep", "0"), ("--temperature", "-5"),
    ("--friction", "-0.1"), ("--interval", "0"), ("--log-interval", "-3"), ("--timestep", "nan"),
])
def test_md_rejects_a_bad_option_in_one_line(files, capsys, option, value):
    assert run_md(files, option, value) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {option} ") and err.count("\n") == 1 and "Traceback" not in err


def test_frame_error_says_how_many_frames_the_file_has(files, capsys):
    assert run_md(files, "--frame", "5") == 2
    assert "has 1 frame(s)" in capsys.readouterr().err


@pytest.mark.parametrize("option, value", [("--steps", "-1"), ("--fmax", "0"), ("--fmax", "-0.1"),
                                           ("--frame", "3")])
def test_relax_rejects_a_bad_option_in_one_line(files, capsys, option, value):
    assert main(["relax", str(files / "model.pt"), str(files / "hot.extxyz"), option, value,
                 "--output", str(files / "relax.traj")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {option} ") and err.count("\n") == 1 and "Traceback" not in err


def test_options_are_checked_before_the_model_is_loaded(files, capsys):
    assert main(["md", str(files / "missing.pt"), str(files / "hot.extxyz"), "--steps", "-1"]) == 2
    assert capsys.readouterr().err.startswith("error: --steps ")


def test_relax_runs_a_few_steps(files, capsys):
    assert main(["relax", str(files / "model.pt"), str(files / "hot.extxyz"), "--steps", "2",
                 "--output", str(files / "relax.traj")]) == 0
    assert (files / "relax.final.xyz").is_file()
