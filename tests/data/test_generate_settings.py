"""xTB data generation stores its settings next to the frames and never mixes two trajectories in one file."""

import json

import pytest

from equiformers.data.generate_xtb import MDSettings, generate_md17_xtb
from equiformers.errors import DatasetError

pytest.importorskip("tblite")
pytest.importorskip("rdkit")

TINY = MDSettings(steps=10, interval=5)  # two frames; each xTB step of ethanol costs ~10 ms


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("xtb")
    xyz = generate_md17_xtb("ethanol", folder, TINY, progress=False)
    return folder, xyz


def count_frames(xyz) -> int:
    from ase.io import read

    return len(read(str(xyz), index=":"))


def test_settings_sidecar_holds_what_determines_the_trajectory(generated):
    folder, xyz = generated
    stored = json.loads((folder / "ethanol.settings.json").read_text())
    assert stored["molecule"] == "ethanol" and stored["smiles"] == "CCO" and stored["method"] == "GFN2-xTB"
    assert stored["temperature_K"] == 500.0 and stored["interval"] == 5 and stored["seed"] == 0
    assert {"timestep_fs", "friction_per_fs", "equiformers_version"} <= set(stored) and "steps" not in stored
    assert count_frames(xyz) == 2 and (folder / "ethanol.npz").is_file()
    assert not list(folder.glob("*.tmp"))  # the atomic write left no temporary file behind


def test_other_settings_are_refused_naming_each_difference(generated):
    folder, xyz = generated
    hotter = MDSettings(steps=10, interval=5, temperature_K=300.0, seed=1)
    with pytest.raises(DatasetError) as caught:
        generate_md17_xtb("ethanol", folder, hotter, progress=False)
    message = str(caught.value)
    assert f"temperature_K: 500.0 in {folder / 'ethanol.settings.json'}, 300.0 requested" in message
    assert "seed: 0 in" in message and "interval" not in message and "--output" in message
    assert "\n" not in message and count_frames(xyz) == 2  # nothing was appended


def test_another_smiles_under_the_same_name_is_refused(generated):
    folder, _ = generated
    with pytest.raises(DatasetError, match="smiles: CCO in .*, OCC requested"):
        generate_md17_xtb("ethanol", folder, TINY, smiles="OCC", progress=False)


def test_more_steps_of_the_same_settings_extend_the_trajectory(generated):
    folder, xyz = generated
    generate_md17_xtb("ethanol", folder, MDSettings(steps=20, interval=5), progress=False)
    assert count_frames(xyz) == 4


def test_frames_without_a_settings_file_are_refused(tmp_path):
    (tmp_path / "ethanol.extxyz").write_text("3\n\nO 0 0 0\nH 1 0 0\nH 0 1 0\n")
    with pytest.raises(DatasetError, match="without a settings file .*unknown.*delete"):
        generate_md17_xtb("ethanol", tmp_path, TINY, progress=False)


def test_a_settings_file_without_frames_is_replaced(tmp_path):
    (tmp_path / "ethanol.settings.json").write_text(json.dumps({"molecule": "ethanol", "temperature_K": 900.0}))
    xyz = generate_md17_xtb("ethanol", tmp_path, TINY, progress=False)
    assert count_frames(xyz) == 2
    assert json.loads((tmp_path / "ethanol.settings.json").read_text())["temperature_K"] == 500.0
