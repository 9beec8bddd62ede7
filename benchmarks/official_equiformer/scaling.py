"""Scaling: time and memory of one forward+backward against the number of atoms, ours and the official.

    .venv/bin/python benchmarks/official_equiformer/scaling.py /tmp/equiformer [--threads 2]
        [--molecules 8 16 32 64 128 256] [--waters 32 64 128 256 512 1024] [--output benchmarks/results/scaling]

Systems at fixed density, the QM9 preset (128x0e+64x1e+32x2e, 6 blocks, 5 Å), weights gradients of the
output sum (train mode), float32:

* ``qm9``: batches of 8 to 256 real QM9 test molecules (the race's molecules, more of them);
* ``water``: one growing droplet, the water molecules of a 1 g/cm³ lattice (random orientations,
  seeded) within a sphere of growing radius (H and O: types the QM9 model knows), one graph whose
  atoms see ~30 neighbours each.

Each point is a fresh process (median of ``--repeats`` after a warm-up) with its address space capped at
``--memory-limit-gb`` so that a size that does not fit fails with an allocation error instead of the
machine's OOM killer; such points are reported as out of memory. The official code runs in its own
environment (``environment.py``). Writes ``OUTPUT.json``, ``OUTPUT.md`` and ``OUTPUT.png`` (log-log
time and peak RSS against atoms, with the fitted slope of each curve over the points that ran).
"""

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from environment import check_checkout, ensure_venv, official_command, official_env  # noqa: E402
from make_fixture import as_batch, qm9_molecules  # noqa: E402

REPO = HERE.parents[1]


def water_droplet(num_molecules: int, seed: int = 0):
    """The ``num_molecules`` waters of a cubic lattice (3.104 Å: 1 g/cm³) nearest to its centre,
    each randomly oriented (O-H 0.9572 Å, H-O-H 104.52°) and rattled by 0.05 Å: positions [3n, 3]
    (Å, float64) and atomic numbers, as one molecule."""
    from scipy.spatial.transform import Rotation

    side = math.ceil((2 * num_molecules) ** (1 / 3)) + 2
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3) * 3.104
    grid = grid - grid.mean(0)
    centres = grid[np.argsort(np.linalg.norm(grid, axis=1), kind="stable")[:num_molecules]]
    angle = math.radians(104.52) / 2
    local = 0.9572 * np.array([[0.0, 0.0, 0.0], [math.sin(angle), math.cos(angle), 0.0],
                               [-math.sin(angle), math.cos(angle), 0.0]])
    rng = np.random.default_rng(seed)
    turns = Rotation.random(num_molecules, random_state=seed).as_matrix()
    positions = (centres[:, None, :] + np.einsum("nij,aj->nai", turns, local)).reshape(-1, 3)
    positions = positions + rng.normal(0.0, 0.05, positions.shape)
    numbers = np.tile([8, 1, 1], num_molecules)
    return torch.tensor(positions), torch.tensor(numbers)


def count_edges(batch, cutoff: float = 5.0) -> int:
    """Directed pairs within ``cutoff`` Å inside each molecule of a batch (the model's radius graph)."""
    total = 0
    for b in batch["batch"].unique():
        pos = batch["pos"][batch["batch"] == b]
        distance = torch.cdist(pos, pos)
        total += int(((distance < cutoff) & (distance > 0)).sum())
    return total


def system_batch(system: str, size: int):
    return as_batch(qm9_molecules(size)) if system == "qm9" else as_batch([water_droplet(size)])


def run_capped(command, env, limit_gb: float):
    def cap():
        limit = int(limit_gb * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    done = subprocess.run([str(c) for c in command], env=env, capture_output=True, text=True, preexec_fn=cap)
    if done.returncode != 0:
        text = done.stderr[-2000:]
        if "memory" in text.lower() or "alloc" in text.lower() or done.returncode in (-9, 137):
            return None  # out of memory
        raise SystemExit(f"failed: {' '.join(map(str, command))}\n{text}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def slope(points):
    """Least-squares slope of log(value) against log(atoms)."""
    if len(points) < 2:
        return float("nan")
    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return float(np.polyfit(x, y, 1)[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("official", type=Path, help="checkout of atomicarchitects/equiformer at 64cb786")
    parser.add_argument("--venv", type=Path, default=REPO / ".official-venv")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--molecules", type=int, nargs="*", default=[8, 16, 32, 64, 128, 256])
    parser.add_argument("--waters", type=int, nargs="*", default=[32, 64, 128, 256, 512, 1024])
    parser.add_argument("--memory-limit-gb", type=float, default=20.0)
    parser.add_argument("--sides", nargs="*", default=["ours", "official"], choices=["ours", "official"])
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "scaling")
    parser.add_argument("--report-only", action="store_true", help="rewrite the table and plot from OUTPUT.json")
    args = parser.parse_args()
    if args.report_only:
        saved = json.loads(args.output.with_suffix(".json").read_text())
        for row in saved["rows"]:  # older files: count the edges again (the inputs are deterministic)
            row.setdefault("edges", count_edges(system_batch(row["system"], row["size"])))
        args.output.with_suffix(".json").write_text(json.dumps(saved, indent=2))
        write_report(saved["rows"], args.output, saved["threads"])
        return 0
    check_checkout(args.official)
    python = ensure_venv(args.venv)
    envs = {"ours": {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(REPO)},
            "official": official_env(args.official, threads=args.threads)}
    systems = [("qm9", n) for n in args.molecules] + [("water", n) for n in args.waters]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for system, size in systems:
            batch = system_batch(system, size)
            inputs = Path(folder) / f"{system}_{size}.pt"
            torch.save({"qm9": batch}, inputs)
            atoms, edges = int(batch["batch"].numel()), count_edges(batch)
            for side in args.sides:
                if side == "ours":
                    command = [sys.executable, HERE / "race.py", "--ours", inputs, "qm9", "forward_backward",
                               args.repeats]
                else:
                    command = official_command(python, args.official, "time", inputs, "qm9_mlp_nonlinear",
                                               "forward_backward", args.repeats)
                result = run_capped(command, envs[side], args.memory_limit_gb)
                row = {"system": system, "size": size, "atoms": atoms, "edges": edges, "side": side,
                       "seconds": None if result is None else result["seconds"],
                       "peak_rss_mb": None if result is None else result["peak_rss_mb"]}
                rows.append(row)
                shown = "out of memory" if result is None else \
                    f"{result['seconds']:8.2f} s, peak RSS {result['peak_rss_mb']:8.0f} MB"
                print(f"{system:5s} {size:5d} ({atoms:5d} atoms, {edges:6d} edges) {side:8s} {shown}", flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps({"threads": args.threads, "rows": rows}, indent=2))
    write_report(rows, args.output, args.threads)
    return 0


def write_report(rows, output: Path, threads: int) -> None:
    """Markdown table (slopes of time and memory against atoms and against edges) and a log-log plot
    against edges (the droplet's neighbours per atom grow with its size; the QM9 batches' do not)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401 (NullFormatter below)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    lines = ["| system | side | slope of time vs atoms / vs edges | slope of memory vs edges | "
             "points (atoms, edges: seconds / MB) |", "|---|---|---|---|---|"]
    for system, marker in (("qm9", "o"), ("water", "s")):
        for side, colour in (("ours", "tab:blue"), ("official", "tab:red")):
            ran = [r for r in rows if r["system"] == system and r["side"] == side and r["seconds"] is not None]
            failed = [r for r in rows if r["system"] == system and r["side"] == side and r["seconds"] is None]
            if not ran and not failed:
                continue
            by_atoms = [(r["atoms"], r["seconds"]) for r in ran]
            by_edges = [(r["edges"], r["seconds"]) for r in ran]
            memory = [(r["edges"], r["peak_rss_mb"]) for r in ran]
            if ran:
                axes[0].loglog(*zip(*by_edges), marker=marker, color=colour,
                               label=f"{side}, {system} (slope {slope(by_edges):.2f})")
                axes[1].loglog(*zip(*memory), marker=marker, color=colour,
                               label=f"{side}, {system} (slope {slope(memory):.2f})")
            shown = ", ".join(f"{r['atoms']}, {r['edges']}: {r['seconds']:.2f} / {r['peak_rss_mb']:,.0f}" for r in ran)
            shown += "".join(f"; {r['atoms']}, {r['edges']}: out of memory" for r in failed)
            lines.append(f"| {system} | {side} | {slope(by_atoms):.2f} / {slope(by_edges):.2f} | {slope(memory):.2f} | "
                         f"{shown} |")
    axes[0].set(xlabel="edges (pairs within 5 Å)", ylabel="forward + backward (s)", title=f"time, CPU, {threads} threads")
    axes[1].set(xlabel="edges (pairs within 5 Å)", ylabel="peak RSS (MB)", title="memory")
    for axis in axes:
        axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        axis.legend(fontsize=7)
        axis.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(output.with_suffix(".png"), dpi=110)
    output.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
