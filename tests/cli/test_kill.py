"""SIGKILL mid-way through training and through data generation, then the same command again:
the rerun resumes and finishes, and every file left behind reads back intact."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase.io import write

from equiformers.cli.main import main
from equiformers.training.checkpoint import load_model, read_model_record
from tests.cli.test_fuzz import ethanol_frames, run_config

REPO = Path(__file__).resolve().parents[2]


def start(*argv) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "equiformers.cli.main", *argv], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_when(proc: subprocess.Popen, ready, timeout: float = 240.0) -> None:
    """SIGKILL ``proc`` as soon as ``ready()`` holds (fails if it ends or times out first)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (code {proc.returncode}) before it could be killed: "
                        f"{proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the run never reached the point to kill it")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()


def test_training_killed_mid_run_resumes_and_loses_nothing(tmp_path, capsys):
    write(tmp_path / "train.extxyz", ethanol_frames(20))
    config = run_config(tmp_path)
    config["training"]["max_epochs"] = 12
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    last = tmp_path / "out" / "checkpoints" / "last.ckpt"

    def two_epochs_saved():
        try:
            return last.is_file() and _epoch(last) >= 2
        except Exception:
            return False

    kill_when(start("train", str(tmp_path / "run.yaml")), two_epochs_saved)
    assert not (tmp_path / "out" / "model.pt").exists(), "killed too late: the run had finished"
    read_model_record(last)  # intact: readable, checksum and weights fine
    epoch_at_kill = _epoch(last)
    assert 2 <= epoch_at_kill < 12
    leftovers = [p.name for p in (tmp_path / "out" / "checkpoints").iterdir() if p.suffix != ".ckpt"]
    assert leftovers == [] or all(name.startswith(".") for name in leftovers)

    assert main(["train", str(tmp_path / "run.yaml")]) == 0
    out = capsys.readouterr().out
    assert f"resuming from {last}" in out
    model, metadata = load_model(tmp_path / "out" / "model.pt")
    assert metadata["domain"]["elements"] == [1, 6, 8]
    assert _epoch(last) == 12  # trained to the end, counting the epochs before the kill


def _epoch(checkpoint: Path) -> int:
    import torch

    return int(torch.load(checkpoint, map_location="cpu", weights_only=True)["epoch"]) + 1


def test_data_generation_killed_mid_run_resumes_to_the_same_length(tmp_path):
    pytest.importorskip("tblite")
    pytest.importorskip("rdkit")
    from equiformers.data.frames import read_ase_frames, read_npz_frames

    argv = ["data", "md17-xtb", "ethanol", "--steps", "300", "--interval", "2", "--output", str(tmp_path)]
    xyz = tmp_path / "ethanol.extxyz"

    def some_frames_written():
        return xyz.is_file() and xyz.read_text().count("Properties=") >= 15

    kill_when(start(*argv), some_frames_written)
    assert not (tmp_path / "ethanol.npz").exists(), "killed too late: the run had finished"
    assert main(argv) == 0
    frames = read_ase_frames(str(xyz))
    assert len(frames) == 150
    assert np.isfinite(frames.energy).all() and np.isfinite(np.stack(frames.forces)).all()
    steps = np.linalg.norm(np.diff(np.stack(frames.positions), axis=0), axis=-1).max(axis=-1)
    assert steps.max() < 0.5  # Å in 2 steps of 0.5 fs: one continuous trajectory, no restart jump
    assert len(read_npz_frames(str(tmp_path / "ethanol.npz"))) == 150
