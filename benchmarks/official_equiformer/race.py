"""Race: our Equiformer against the official code on identical inputs, at the paper's configurations.

    .venv/bin/python benchmarks/official_equiformer/race.py /tmp/equiformer [--rounds 3] [--repeats 5]

Cases: the QM9 preset's forward (no grad) and forward+backward (sum of outputs, weight gradients,
train mode) on 32 real QM9 molecules; the MD17 L_max=2 preset's energy+forces inference and one
energy+force training step (double backward, AdamW step) on 8 rattled aspirin conformers. Each
measurement is a fresh process (median of ``--repeats`` after a warm-up); ours and theirs alternate
for ``--rounds`` rounds and the medians over rounds are compared. Memory: the peak resident set
size of each process. The official code runs in its own environment (environment.py).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from environment import check_checkout, ensure_venv, official_command, official_env  # noqa: E402
from make_fixture import as_batch, qm9_molecules  # noqa: E402
from peak_memory import peak_rss_mb  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CASES = [("qm9", "forward"), ("qm9", "forward_backward"), ("md17", "energy_forces"), ("md17", "train_step")]
OFFICIAL_MODE = {"qm9": "qm9_mlp_nonlinear", "md17": "md17_exp"}
OUR_PRESET = {"qm9": "equiformer-qm9", "md17": "equiformer-md17-l2"}
ASPIRIN = "CC(=O)OC1=CC=CC=C1C(=O)O"


def aspirin_frames(count: int = 8):
    from equiformers.data.generate_xtb import molecule_from_smiles

    base = molecule_from_smiles(ASPIRIN)
    frames = []
    for i in range(count):
        atoms = base.copy()
        atoms.rattle(0.05, seed=i)
        frames.append((torch.tensor(atoms.positions), torch.tensor(atoms.numbers)))
    return frames


def time_ours(inputs_path: str, dataset: str, what: str, repeats: int) -> None:
    """One measurement of our model in this process (JSON on stdout), mirroring official_side.time_one."""
    import equiformers
    from equiformers.data import collate
    from equiformers.tasks.forces import energy_forces_stress

    inputs = torch.load(inputs_path, weights_only=True)[dataset]
    torch.manual_seed(0)
    model = equiformers.build_model(OUR_PRESET[dataset])
    structures = []
    for b in range(int(inputs["batch"].max()) + 1):
        member = inputs["batch"] == b
        record = {"pos": inputs["pos"][member].float(), "atomic_numbers": inputs["atomic_numbers"][member],
                  "cell": torch.zeros(1, 3, 3), "pbc": torch.zeros(1, 3, dtype=torch.bool),
                  "num_atoms": torch.tensor([int(member.sum())])}
        structures.append(model.prepare(record))
    data = collate(structures)
    name = next(iter(model.outputs))
    model.train(what in ("forward_backward", "train_step"))
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    reference_forces = inputs["forces"].float()

    def step():
        if what == "forward":
            with torch.no_grad():
                model(data)
        elif what == "forward_backward":
            model(data)[name].sum().backward()
        elif what == "energy_forces":
            energy_forces_stress(model, data, name)
        elif what == "train_step":
            optimiser.zero_grad()
            out = energy_forces_stress(model, data, name, training=True)
            loss = out[name].abs().mean() + 80 * (out["forces"] - reference_forces).abs().mean()
            loss.backward()
            optimiser.step()

    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    times.sort()
    print(json.dumps({"seconds": times[len(times) // 2],
                      "peak_rss_mb": peak_rss_mb(),
                      "parameters": sum(p.numel() for p in model.parameters())}))


def measure(command, env) -> dict:
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"measurement failed: {' '.join(map(str, command))}\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("official", type=Path, help="checkout of atomicarchitects/equiformer at 64cb786")
    parser.add_argument("--venv", type=Path, default=REPO / ".official-venv")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--cases", nargs="*", default=[f"{d}:{w}" for d, w in CASES])
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    check_checkout(args.official)
    python = ensure_venv(args.venv)
    ours_env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(REPO)}
    theirs_env = official_env(args.official, threads=args.threads)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        inputs = Path(folder) / "inputs.pt"
        torch.save({"qm9": as_batch(qm9_molecules(32)), "md17": as_batch(aspirin_frames(8))}, inputs)
        for case in args.cases:
            dataset, what = case.split(":")
            ours, theirs = [], []
            for _ in range(args.rounds):
                ours.append(measure([sys.executable, __file__, "--ours", str(inputs), dataset, what,
                                     str(args.repeats)], ours_env))
                theirs.append(measure(official_command(python, args.official, "time", inputs,
                                                       OFFICIAL_MODE[dataset], what, args.repeats), theirs_env))
            row = {"case": case, "ours_s": statistics.median(r["seconds"] for r in ours),
                   "official_s": statistics.median(r["seconds"] for r in theirs),
                   "ours_rounds_s": [r["seconds"] for r in ours], "official_rounds_s": [r["seconds"] for r in theirs],
                   "ours_peak_mb": max(r["peak_rss_mb"] for r in ours),
                   "official_peak_mb": max(r["peak_rss_mb"] for r in theirs),
                   "parameters": [ours[0]["parameters"], theirs[0]["parameters"]]}
            row["speedup"] = row["official_s"] / row["ours_s"]
            results.append(row)
            print(f"{case:24s} ours {row['ours_s'] * 1e3:8.1f} ms  official {row['official_s'] * 1e3:8.1f} ms  "
                  f"speed-up {row['speedup']:5.2f}x  peak RSS ours {row['ours_peak_mb']:6.0f} MB, official "
                  f"{row['official_peak_mb']:6.0f} MB  (parameters {row['parameters'][0]:,} / {row['parameters'][1]:,})",
                  flush=True)
    if args.output:
        args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--ours":
        time_ours(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        main()
