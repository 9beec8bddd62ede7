"""Race: our EquiformerV2 against fairchem-core 1.10's, same weights, same structures, side by side.

    .venv/bin/python benchmarks/fairchem_equiformer_v2/race.py [--rounds 2] [--repeats 3] [--threads 2]
        [--quick] [--output benchmarks/results/fairchem_race.json]

Models: one EquiformerV2 configuration (``RACE``: 4 blocks, 64 channels, L_max 4, m_max 2, 18x18 grid,
the released models' switches) written by fairchem's own trainer as two checkpoints, periodic (OC20's
12 Å / 20 neighbours) and molecular (5 Å), with direct energy and force heads; ours loads the same
files (``equiformers.load_model``), so weights and configuration are identical.
Systems: ``oc20``: the real OC20 S2EF frame (CO on Al8Cu8Se16, 34 atoms, periodic) as a batch of 4;
``qm9``: 32 QM9 test molecules. Modes: ``forward`` (energy and direct forces, no gradients) and
``train_step`` (energy + force loss, backward, AdamW step), both from positions: fairchem builds its
graph inside ``forward``, ours in ``prepare`` + ``collate``, each inside the timed call. Each
measurement is a fresh process (median of ``--repeats`` after a warm-up); the sides alternate for
``--rounds`` rounds; memory is the peak tensor memory of one more call (``benchmarks/peak_memory.py``)
and the process's peak RSS.
Also: each EquiformerV3 switch on its own (ours only; same structures; ratio to V2), and the
equivariance error of energies and forces under 5 random rotations vs the S² grid resolution for both
(fairchem as shipped, with its random roll; ours with its fixed frame, float32 and float64).
"""

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from environment import REPO, ensure_venv, fairchem_env  # noqa: E402
from make_fixture import ENERGY, FORCES, LOSSES, METRICS, OPTIM, structures as fixture_structures  # noqa: E402
from peak_memory import PeakTensorMemory, peak_rss_mb  # noqa: E402

RACE = {"num_layers": 4, "sphere_channels": 64, "attn_hidden_channels": 64, "num_heads": 4, "attn_alpha_channels": 32,
        "attn_value_channels": 16, "ffn_hidden_channels": 128, "norm_type": "layer_norm_sh", "lmax_list": [4],
        "mmax_list": [2], "grid_resolution": 18, "num_sphere_samples": 128, "edge_channels": 64,
        "use_atom_edge_embedding": True, "share_atom_edge_embedding": False, "use_m_share_rad": False,
        "distance_function": "gaussian", "num_distance_basis": 512, "attn_activation": "silu",
        "use_s2_act_attn": False, "use_attn_renorm": True, "ffn_activation": "silu", "use_gate_act": False,
        "use_grid_mlp": True, "use_sep_s2_act": True, "alpha_drop": 0.0, "drop_path_rate": 0.0, "proj_drop": 0.0,
        "weight_init": "uniform", "max_num_elements": 90, "regress_forces": True, "otf_graph": True}
SYSTEMS = {"oc20": {"use_pbc": True, "max_radius": 12.0, "max_neighbors": 20},
           "qm9": {"use_pbc": False, "max_radius": 5.0, "max_neighbors": 50}}
MODES = ("forward", "train_step")
V3_SWITCHES = {"use_m_share_rad": True, "use_swiglu_s2": True, "use_envelope": True, "norm_type": "merge_layer_norm",
               "use_gate_force_head": True}
GRIDS = (None, 10, 14, 18)


def case(system: str, grid) -> dict:
    return {"name": f"race_{system}_grid{grid}", "trainer": "equiformerv2_forces", "seed": 21,
            "model": {"name": "equiformer_v2", **RACE, **SYSTEMS[system], "grid_resolution": grid},
            "outputs": {**ENERGY, **FORCES}, "loss_functions": LOSSES, "evaluation_metrics": METRICS,
            "optim": OPTIM, "normalizers": {"energy": [0.0, 1.0], "forces": [0.0, 1.0]}}


def race_structures(quick: bool) -> dict:
    from equiformers.data.qm9 import QM9Dataset
    from equiformers.so3 import random_rotation

    frame = fixture_structures()["oc20_frame"]
    qm9 = QM9Dataset(["gap"], split="test", subset=8 if quick else 32)
    molecules = [{"numbers": qm9[i]["atomic_numbers"], "positions": qm9[i]["pos"].double(),
                  "cell": torch.zeros(3, 3, dtype=torch.float64), "pbc": torch.zeros(3, dtype=torch.bool)}
                 for i in range(len(qm9))]
    rotations = random_rotation(torch.float64, torch.Generator().manual_seed(7), batch_shape=(5,))
    return {"oc20": [frame] * (1 if quick else 4), "qm9": molecules, "rotations": rotations}


# --- our side (fresh processes) -----------------------------------------------------------------------
def our_model(checkpoint: str, overrides=None):
    import equiformers

    model, _ = equiformers.load_model(checkpoint, allow_pickle=True)
    if overrides:  # a V3 switch: the same architecture family, fresh weights (timing only)
        spec = {"model": "equiformer_v2", "config": {**dataclasses.asdict(model.config), **overrides},
                "heads": {"energy": {"type": "eqv2_energy"}, "forces": {"type": "eqv2_forces"}}}
        torch.manual_seed(0)
        model = equiformers.build_model(spec)
    return model


def records(model, structures):
    from equiformers.data import collate, from_arrays

    return collate([model.prepare(from_arrays(s["positions"].numpy(), s["numbers"].numpy(), cell=s["cell"].numpy(),
                                              pbc=s["pbc"].numpy())) for s in structures])


def time_ours(checkpoint: str, structures_path: str, system: str, mode: str, repeats: int, switch: str) -> dict:
    model = our_model(checkpoint, {switch: V3_SWITCHES[switch]} if switch else None)
    structures = torch.load(structures_path, weights_only=True)[system]
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train(mode == "train_step")

    def step():
        data = records(model, structures)
        if mode == "forward":
            with torch.no_grad():
                model(data)
            return
        optimiser.zero_grad()
        out = model(data)
        loss = out["energy"].abs().mean() + 80 * out["forces"].norm(dim=-1).mean()
        loss.backward()
        optimiser.step()

    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    with PeakTensorMemory() as meter:
        step()
    return {"seconds": statistics.median(times), "peak_tensor_mb": meter.peak_mb,
            "peak_rss_mb": peak_rss_mb(),
            "parameters": sum(p.numel() for p in model.parameters())}


def rotated_ours(checkpoint: str, structures_path: str, system: str, seed: int, dtype: str) -> dict:
    model = our_model(checkpoint).to(getattr(torch, dtype)).eval()
    data = torch.load(structures_path, weights_only=True)
    structure, rotation = data[system][0], data["rotations"][seed]
    turned = dict(structure, positions=structure["positions"] @ rotation.T, cell=structure["cell"] @ rotation.T)
    out = {}
    for name, s in (("plain", structure), ("turned", turned)):
        with torch.no_grad():
            result = model(records(model, [s]))
        out[name] = {"energy": float(result["energy"].sum()), "forces": result["forces"].double().tolist()}
    return out


# --- orchestration ------------------------------------------------------------------------------------
def run(command, env) -> dict:
    done = subprocess.run([str(c) for c in command], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(map(str, command))}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def equivariance_error(outputs, rotation) -> tuple:
    plain, turned = outputs["plain"], outputs["turned"]
    energy = abs(turned["energy"] - plain["energy"]) / max(abs(plain["energy"]), 1e-12)
    rotation = rotation.double()
    forces = torch.tensor(plain["forces"], dtype=torch.float64) @ rotation.T
    moved = torch.tensor(turned["forces"], dtype=torch.float64)
    return energy, float((moved - forces).abs().max() / forces.abs().max().clamp(min=1e-12))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="smaller batches, one round, for a smoke run")
    parser.add_argument("--skip", nargs="*", default=[], choices=["race", "switches", "equivariance"])
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    python = ensure_venv()
    theirs_env = fairchem_env(threads=args.threads)
    ours_env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(REPO)}
    rounds = 1 if args.quick else args.rounds
    report = {"config": RACE, "threads": args.threads}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        grids = (18,) if args.quick else GRIDS
        cases = [case(s, g) for s in SYSTEMS for g in sorted(set(grids) | {18}, key=str)]
        (folder / "cases.json").write_text(json.dumps(cases))
        done = subprocess.run([str(python), HERE / "race_fairchem_side.py", "checkpoint", folder / "cases.json",
                               folder / "ckpt"], env=theirs_env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        files = {json.loads(line)["case"]: json.loads(line)["file"] for line in done.stdout.splitlines()
                 if line.startswith("{")}
        data = folder / "structures.pt"
        torch.save(race_structures(args.quick), data)
        rows = []
        for system in ([] if "race" in args.skip else SYSTEMS):
            checkpoint = files[f"race_{system}_grid18"]
            for mode in MODES:
                ours, theirs = [], []
                for _ in range(rounds):
                    ours.append(run([sys.executable, __file__, "--ours", checkpoint, data, system, mode,
                                     args.repeats, ""], ours_env))
                    theirs.append(run([python, HERE / "race_fairchem_side.py", "time", checkpoint, data, system, mode,
                                       args.repeats], theirs_env))
                row = {"system": system, "mode": mode, "ours_s": statistics.median(r["seconds"] for r in ours),
                       "fairchem_s": statistics.median(r["seconds"] for r in theirs),
                       "ours_tensor_mb": ours[0]["peak_tensor_mb"], "fairchem_tensor_mb": theirs[0]["peak_tensor_mb"],
                       "ours_rss_mb": max(r["peak_rss_mb"] for r in ours),
                       "fairchem_rss_mb": max(r["peak_rss_mb"] for r in theirs),
                       "parameters": [ours[0]["parameters"], theirs[0]["parameters"]]}
                row["speedup"] = row["fairchem_s"] / row["ours_s"]
                rows.append(row)
                print(f"{system:5s} {mode:10s} ours {row['ours_s']:7.3f} s  fairchem {row['fairchem_s']:7.3f} s  "
                      f"speed-up {row['speedup']:5.2f}x  tensor memory ours {row['ours_tensor_mb']:7.1f} MB, fairchem "
                      f"{row['fairchem_tensor_mb']:7.1f} MB  (parameters {row['parameters'][0]:,} / "
                      f"{row['parameters'][1]:,})", flush=True)
        report["race"] = rows
        switches = []
        for switch in ([] if "switches" in args.skip else V3_SWITCHES):
            for system in SYSTEMS:
                checkpoint = files[f"race_{system}_grid18"]
                base = run([sys.executable, __file__, "--ours", checkpoint, data, system, "train_step", args.repeats, ""],
                           ours_env)
                on = run([sys.executable, __file__, "--ours", checkpoint, data, system, "train_step", args.repeats,
                          switch], ours_env)
                switches.append({"switch": switch, "system": system, "v2_s": base["seconds"], "switch_s": on["seconds"],
                                 "ratio": on["seconds"] / base["seconds"], "parameters": on["parameters"]})
                print(f"V3 switch {switch:20s} {system:5s} train step {on['seconds']:7.3f} s vs V2 {base['seconds']:7.3f} s "
                      f"({on['seconds'] / base['seconds']:.2f}x)", flush=True)
        report["switches"] = switches
        rotations = torch.load(data, weights_only=True)["rotations"]
        errors = []
        for grid in ([] if "equivariance" in args.skip else grids):
            checkpoint = files[f"race_qm9_grid{grid}"]
            for side, dtype in (("fairchem", "float32"), ("ours", "float32"), ("ours", "float64")):
                values = []
                for seed in range(len(rotations)):
                    if side == "fairchem":
                        out = run([python, HERE / "race_fairchem_side.py", "rotate", checkpoint, data, "qm9", seed],
                                  theirs_env)
                    else:
                        out = run([sys.executable, __file__, "--rotate", checkpoint, data, "qm9", seed, dtype], ours_env)
                    values.append(equivariance_error(out, rotations[seed]))
                row = {"grid": grid, "side": side, "dtype": dtype, "energy": max(v[0] for v in values),
                       "forces": max(v[1] for v in values)}
                errors.append(row)
                print(f"grid {str(grid):4s} {side:8s} {dtype}: energy {row['energy']:.2e}, forces {row['forces']:.2e} "
                      "(largest relative error over 5 rotations)", flush=True)
        report["equivariance"] = errors
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--ours":
        print(json.dumps(time_ours(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]), sys.argv[7])))
    elif len(sys.argv) > 1 and sys.argv[1] == "--rotate":
        print(json.dumps(rotated_ours(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])))
    else:
        sys.exit(main())
