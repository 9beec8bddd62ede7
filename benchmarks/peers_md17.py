"""Equiformer beside MACE and NequIP on the same xTB aspirin data, split and wall-clock budget.

    python benchmarks/peers_md17.py --mace-python /path/to/mace-venv/bin/python \\
        --nequip-python /path/to/nequip-venv/bin/python [--minutes 15] [--test-frames 300]

Each peer lives in its own virtual environment (MACE pins e3nn 0.4.4, we use 0.6), made with
``torch==2.13.0`` installed first and kept by a constraints file::

    python -m venv mace-venv && mace-venv/bin/pip install torch==2.13.0 && \\
        mace-venv/bin/pip install -c <(echo torch==2.13.0) mace-torch
    python -m venv nequip-venv && nequip-venv/bin/pip install torch==2.13.0 && \\
        nequip-venv/bin/pip install -c <(echo torch==2.13.0) nequip

The script writes our 950/50/test split of ``data/aspirin.npz`` (``frame_split``, seed 0) as
extended-XYZ files, trains each peer with its own command-line trainer and its documented recipe
for ``--minutes`` of wall time (a peer already trained in ``--runs`` is reused unless
``--retrain``), and scores every model with ``benchmarks/peer_eval.py`` through
its ASE calculator (same frames, same code). Our rows come from ``benchmarks/ablation_md17.py``
runs (``--runs``) trained on the same split for the same budget. Writes a Markdown table.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from ase import Atoms
from ase.io import write

from equiformers.data.frames import frame_split, read_npz_frames

HERE = Path(__file__).resolve().parent
TRAIN_FRAMES, VAL_FRAMES, BATCH_SIZE = 950, 50, 8  # the MD17 protocol and the paper's batch, for every model
MACE_SIZE = ["--model", "MACE", "--hidden_irreps", "128x0e + 128x1o", "--max_L", "1", "--correlation", "3",
             "--num_interactions", "2", "--r_max", "5.0"]
MACE_RECIPE = ["--E0s", "average", "--batch_size", str(BATCH_SIZE), "--valid_batch_size", "16", "--lr", "0.01",
               "--energy_weight", "1", "--forces_weight", "100", "--ema", "--ema_decay", "0.99", "--amsgrad",
               "--default_dtype", "float32", "--device", "cpu", "--eval_interval", "1", "--num_workers", "0",
               "--error_table", "TotalMAE", "--seed", "0"]


def export_split(npz: Path, out: Path, test_frames: int) -> dict:
    """Write train/val/test extended-XYZ files (``REF_energy`` eV, ``REF_forces`` eV/Å)."""
    frames = read_npz_frames(npz)
    split = frame_split(len(frames), TRAIN_FRAMES, VAL_FRAMES, seed=0)
    split["test"] = split["test"][:test_frames]
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, indices in split.items():
        structures = []
        for i in indices:
            atoms = Atoms(numbers=frames.numbers[i], positions=frames.positions[i])
            atoms.info["REF_energy"] = float(frames.energy[i])
            atoms.arrays["REF_forces"] = np.asarray(frames.forces[i], dtype=float)
            structures.append(atoms)
        paths[name] = out / f"{name}.extxyz"
        write(paths[name], structures, format="extxyz")
    return paths


def run_budgeted(cmd, cwd: Path, minutes: float, env=None) -> float:
    """Run ``cmd`` until it ends or ``minutes`` pass (then it is stopped); returns the wall time (s)."""
    cwd.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with open(cwd / "train.log", "a") as log:
        try:
            subprocess.run(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=minutes * 60)
        except subprocess.TimeoutExpired:
            pass  # subprocess.run kills the trainer; its last saved checkpoint is what we score
    return time.time() - start


def write_record(out: Path, wall: float, epochs: float, model: Path) -> None:
    """``out/wall.json``: what main() reads back, so a finished peer run can be reused."""
    (out / "wall.json").write_text(json.dumps({"wall_s": wall, "epochs": epochs, "model": str(model)}))


def train_mace(python: str, split: dict, out: Path, minutes: float) -> None:
    """MACE's own trainer (ReduceLROnPlateau, EMA, AMSGrad); checkpoints when validation improves."""
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}  # MACE's checkpoints need it on torch>=2.6
    data = ["--name", "aspirin", "--train_file", str(split["train"].resolve()), "--valid_file",
            str(split["val"].resolve()), "--energy_key", "REF_energy", "--forces_key", "REF_forces"]
    trainer = [python, "-m", "mace.cli.run_train", *data, *MACE_SIZE, *MACE_RECIPE]
    wall = run_budgeted(trainer + ["--max_num_epochs", "100000"], out, minutes, env)
    # Export the last (= best) checkpoint: restarting with max_num_epochs equal to its epoch trains
    # nothing and runs MACE's own model export.
    epochs = sorted(int(p.stem.rsplit("-", 1)[1]) for p in (out / "checkpoints").glob("*_epoch-*.pt"))
    if not epochs:
        raise SystemExit(f"MACE saved no checkpoint in {minutes} min; see {out / 'train.log'}")
    with open(out / "export.log", "w") as log:
        subprocess.run(trainer + ["--max_num_epochs", str(epochs[-1]), "--restart_latest"], cwd=out, env=env,
                       stdout=log, stderr=subprocess.STDOUT, check=True)
    write_record(out, wall, epochs[-1] + 1, out / "aspirin.model")


def nequip_config(split: dict, minutes: float) -> dict:
    """NequIP's tutorial recipe (Adam 1e-2, ReduceLROnPlateau, EMA, MSE energy/atom + forces)."""
    types = ["C", "H", "O"]
    loader = {"_target_": "torch.utils.data.DataLoader", "batch_size": BATCH_SIZE}
    return {
        "run": ["train"], "seed": 0, "cutoff_radius": 5.0,
        "data": {
            "_target_": "nequip.data.datamodule.ASEDataModule", "seed": 0,
            "train_file_path": str(split["train"].resolve()), "val_file_path": str(split["val"].resolve()),
            "key_mapping": {"REF_energy": "total_energy", "REF_forces": "forces"},
            "transforms": [
                {"_target_": "nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper", "model_type_names": types,
                 "chemical_species_to_atom_type_map": {t: t for t in types}},
                {"_target_": "nequip.data.transforms.NeighborListTransform", "r_max": 5.0}],
            "train_dataloader": {**loader, "shuffle": True}, "val_dataloader": {**loader, "batch_size": 16},
            "stats_manager": {"_target_": "nequip.data.CommonDataStatisticsManager", "type_names": types}},
        "trainer": {
            "_target_": "lightning.Trainer", "max_epochs": 100000, "max_time": f"00:00:{int(minutes):02d}:00",
            "check_val_every_n_epoch": 1, "enable_progress_bar": False,
            "callbacks": [{"_target_": "lightning.pytorch.callbacks.ModelCheckpoint", "filename": "best",
                           "monitor": "val0_epoch/weighted_sum", "dirpath": "${hydra:runtime.output_dir}",
                           "save_top_k": 1, "save_last": True}]},
        "training_module": {
            "_target_": "nequip.train.EMALightningModule",
            "loss": {"_target_": "nequip.train.EnergyForceLoss", "per_atom_energy": True,
                     "coeffs": {"total_energy": 1.0, "forces": 1.0}},
            "val_metrics": {"_target_": "nequip.train.EnergyForceMetrics",
                            "coeffs": {"total_energy_mae": 1.0, "forces_mae": 1.0}},
            "optimizer": {"_target_": "torch.optim.Adam", "lr": 0.01},
            "lr_scheduler": {"scheduler": {"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau",
                                           "factor": 0.6, "patience": 5},
                             "monitor": "val0_epoch/weighted_sum"},
            "model": {
                "_target_": "nequip.model.NequIPGNNModel", "seed": 0, "model_dtype": "float32",
                "type_names": types, "r_max": 5.0, "l_max": 2, "parity": True, "num_layers": 4,
                "num_features": 32, "radial_mlp_depth": 2, "radial_mlp_width": 64,
                "avg_num_neighbors": "${training_data_stats:num_neighbors_mean}",
                "per_type_energy_shifts": "${training_data_stats:per_atom_energy_mean}",
                "per_type_energy_scales": "${training_data_stats:forces_rms}"}},
    }


def train_nequip(python: str, split: dict, out: Path, minutes: float) -> None:
    """``nequip-train`` with Lightning's own ``max_time``; scores the best-validation checkpoint."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "aspirin.yaml").write_text(yaml.safe_dump(nequip_config(split, minutes), sort_keys=False))
    cmd = [python, "-m", "nequip.scripts.train", "-cp", str(out.resolve()), "-cn", "aspirin",
           f"hydra.run.dir={(out / 'run').resolve()}"]
    wall = run_budgeted(cmd, out, minutes + 5)  # Lightning stops itself at max_time; 5 min grace
    last = out / "run" / "last.ckpt"
    steps = subprocess.run([python, "-c", "import sys,torch; print(torch.load(sys.argv[1], map_location='cpu', "
                            "weights_only=False)['global_step'])", str(last)], capture_output=True, text=True, check=True)
    epochs = int(steps.stdout.split()[-1]) * BATCH_SIZE / TRAIN_FRAMES  # Lightning stops mid-epoch
    write_record(out, wall, round(epochs, 1), out / "run" / "best.ckpt")


def evaluate(python: str, kind: str, model: Path, test: Path) -> dict:
    done = subprocess.run([python, str(HERE / "peer_eval.py"), "--kind", kind, "--model", str(model),
                           "--test", str(test)], capture_output=True, text=True,
                          env={**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"})
    if done.returncode != 0:
        raise SystemExit(f"evaluating {kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def our_rows(runs: Path) -> list:
    """Our models from ``benchmarks/ablation_md17.py --runs RUNS``: (label, model file, epochs, wall)."""
    ablation = {r["variant"]: r for r in json.loads((runs / "results.json").read_text())}
    return [(f"Equiformer, {name}", runs / r["slug"] / "model.pt", r["epochs"], r["minutes_per_epoch"] * r["epochs"] * 60)
            for name, r in ablation.items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/aspirin.npz"))
    parser.add_argument("--mace-python", help="python of a venv with mace-torch (skip MACE if not given)")
    parser.add_argument("--nequip-python", help="python of a venv with nequip (skip NequIP if not given)")
    parser.add_argument("--minutes", type=float, default=15.0, help="wall-clock training budget per model")
    parser.add_argument("--test-frames", type=int, default=300)
    parser.add_argument("--runs", type=Path, default=Path("runs/peers"))
    parser.add_argument("--ours", type=Path, default=Path("runs/ablation"), help="ablation_md17.py --runs folder")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/peers_aspirin.md"))
    parser.add_argument("--retrain", action="store_true", help="train peers again even if --runs has their models")
    args = parser.parse_args()
    split = export_split(args.data, args.runs / "split", args.test_frames)
    rows = []  # (label, kind, python, model, epochs, wall seconds)
    for label, model, epochs, wall in our_rows(args.ours):
        rows.append((label, "equiformers", sys.executable, model, epochs, wall))
    peers = [("MACE (128x0e+128x1o, L=1, 2 layers)", "mace", args.mace_python, train_mace),
             ("NequIP (32 features, l=2, 4 layers)", "nequip", args.nequip_python, train_nequip)]
    for label, kind, python, train_peer in peers:
        out = args.runs / kind
        if python and (args.retrain or not (out / "wall.json").is_file()):
            shutil.rmtree(out, ignore_errors=True)
            train_peer(python, split, out, args.minutes)
        if python:
            info = json.loads((out / "wall.json").read_text())
            rows.append((label, kind, python, Path(info["model"]), info["epochs"], info["wall_s"]))
    lines = [f"Aspirin, GFN2-xTB 500 K frames ({args.data}); 950 train / 50 val / {args.test_frames} test "
             f"(frame_split seed 0); about {args.minutes:g} min of training per model on 2 CPU threads "
             "(torch 2.13.0, float32); each peer with its own trainer and recipe. Inference: median "
             "energy+forces call of the ASE calculator on one aspirin frame.", "",
             "| model | params | epochs | training wall (min) | energy MAE (meV) | force MAE (meV/Å) | "
             "inference (ms/frame) |", "|---|---|---|---|---|---|---|"]
    results = []
    for label, kind, python, model, epochs, wall in rows:
        r = evaluate(python, kind, model, split["test"])
        results.append({"model": label, "epochs": epochs, "wall_s": wall, **r})
        lines.append(f"| {label} | {r['params']:,} | {epochs if epochs is not None else '–'} | {wall / 60:.1f} | "
                     f"{r['energy_mae_meV']:.1f} | {r['force_mae_meV_per_A']:.1f} | {r['ms_per_frame']:.1f} |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
