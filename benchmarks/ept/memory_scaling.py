"""EPT's memory claim (paper Fig. 3, App. D.2) measured: peak memory and time of one forward+backward of EPT
and of our Equiformer on real protein pieces of 32 to 2,048 atoms, and the largest protein EPT handles here.

    .venv/bin/python benchmarks/ept/memory_scaling.py [--sizes 32 64 ... 2048] [--models ept equiformer equiformer-10A]
        [--pdb FILE] [--threads N] [--repeats 3] [--memory-limit-gb 20] [--time-limit-s 1200] [--no-search]
        [--output benchmarks/results/ept_memory_scaling]

* **Proteins**: contiguous pieces (the first N atoms in file order: whole residues and at most one cut
  residue) of one real structure, read with the corpus policy (heavy atoms only, as EPT's pretraining data;
  waters dropped; standard residues only): ``--pdb``, else PoseBusters' 1OF6 (20,912 heavy atoms), else
  MDAnalysisTests' 3KPR (13,318), else the committed 440-atom fixture (sizes above it are skipped, said so).
* **Models** (float32, train mode, random weights, one structure per batch):
  ``ept``: the ``ept-pretrain`` preset (31.5 M parameters; dense attention over all atoms, k = 4 atom pairs
  per block edge within 10 Å); ``equiformer``: the ``equiformer-qm9`` architecture (L_max 2,
  128x0e+64x1e+32x2e, 6 blocks, 3.5 M parameters) with the protein's elements, at its own 5 Å cutoff (the
  paper's Fig. 3 used 4 Å for every model); ``equiformer-10A``: the same at 10 Å, the distance within which
  EPT's graph pairs blocks (EPT's attention itself has no cutoff).
* **Measurement**: each (model, size) in a fresh process (``memory_worker.py``) whose address space is
  capped at ``--memory-limit-gb`` (RLIMIT_AS), so a size that does not fit is reported as out of memory
  instead of the machine swapping or the OOM killer; time = median of ``--repeats`` steps after a warm-up;
  memory = the process's peak RSS and the peak of live tensors during one step (``benchmarks/peak_memory.py``).
  A model that fails at one size is not run at larger ones; a process over ``--time-limit-s`` is too slow.
* **Largest protein EPT handles** (unless ``--no-search``): from the largest size that ran, doubling the
  atom count until a step fails (memory cap or time cap) or the structure is used up, then bisecting
  to ``--search-tolerance``; each probe is one step in a fresh capped process.

Writes OUTPUT.json, OUTPUT.md (tables with log-log slopes) and OUTPUT.png (time, tensor peak and peak RSS
against atoms, log-log). Graphs are prepared in this process; only the measured step runs capped.
"""

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).resolve().parent / "memory_worker.py"
FIXTURE = REPO / "tests" / "fixtures" / "blocks" / "1hvr_cut.pdb"
#: installed real structures, largest first: (module, file inside its folder)
LARGE_PDBS = [("posebusters", "datasets/pdb/1of6/1of6_protein_one_lig_removed.pdb"),
              ("MDAnalysisTests", "data/mmcif/3KPR.cif.gz")]
OUT_OF_MEMORY = ("can't allocate memory", "not enough memory", "bad_alloc", "cannot allocate", "out of memory",
                 "memoryerror")


def model_specs(elements):
    """The compared models by key (see the module docstring)."""
    equiformer = {"preset": "equiformer-qm9", "elements": list(elements)}
    return {"ept": {"preset": "ept-pretrain"}, "equiformer": {**equiformer, "cutoff": 5.0},
            "equiformer-10A": {**equiformer, "cutoff": 10.0}}


def find_protein(given):
    """(path, note) of the structure to cut pieces from."""
    if given:
        return Path(given), "given with --pdb"
    for module, relative in LARGE_PDBS:
        spec = importlib.util.find_spec(module)
        if spec is not None and (Path(spec.origin).parent / relative).is_file():
            return Path(spec.origin).parent / relative, f"from the installed {module} package"
    print("note: no large real PDB installed (pip install 'equiformers[protein-data]' gives PoseBusters' 1OF6 and "
          f"MDAnalysisTests' 3KPR); using the committed fixture {FIXTURE.name}: sizes above its atoms are skipped")
    return FIXTURE, "the committed fixture (no larger PDB installed)"


def read_structure(path: Path):
    from equiformers.data.blocks import read_protein

    return read_protein(path, unknown_residues="skip")  # heavy atoms, no waters, standard residues only


def piece(structure, atoms: int):
    """The first ``atoms`` atoms (blocks are contiguous in file order): whole residues, the last maybe cut."""
    from equiformers.data.blocks import BlockStructure

    s, nb = structure, int(structure.block_of_atom[atoms - 1]) + 1
    return BlockStructure(s.positions[:atoms], s.atomic_numbers[:atoms], s.block_of_atom[:atoms],
                          s.position_codes[:atoms], s.block_types[:nb], s.segments[:nb], s.labels[:nb],
                          s.atom_names[:atoms], f"{s.name}[:{atoms}]")


def prepare(model, key: str, part, folder: Path):
    """A batch file of ``part`` prepared for ``model``, and its graph size."""
    from equiformers.data import collate, from_arrays

    record = part.to_record() if key == "ept" else from_arrays(part.positions, part.atomic_numbers)
    batch = collate([model.prepare(record, max_edges=0)])  # no graph-size limit: measuring large graphs is the point
    path = folder / f"{key}_{part.num_atoms}.pt"
    torch.save(batch, path)
    # EPT: the atom pairs E_u with their implicit self pairs; Equiformer: the radius-graph edges
    edges = int(batch["edge_index"].shape[1]) + (part.num_atoms if key == "ept" else 0)
    return path, edges


def run_worker(spec, batch: Path, args, repeats: int, warmup: bool, meter: bool) -> dict:
    """One measurement in a fresh process under the address-space and time caps."""
    def cap():
        limit = int(args.memory_limit_gb * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    command = [sys.executable, str(WORKER), json.dumps(spec), str(batch), "--repeats", str(repeats),
               "--threads", str(args.threads)] + ["--warmup"] * warmup + ["--meter"] * meter
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, preexec_fn=cap,
                              timeout=args.time_limit_s)
    except subprocess.TimeoutExpired:
        return {"status": "time_limit", "message": f"over {args.time_limit_s:g} s"}
    if done.returncode == 0:
        return json.loads(done.stdout.strip().splitlines()[-1])
    tail = done.stderr.strip()[-2000:]
    if done.returncode < 0 or any(text in tail.lower() for text in OUT_OF_MEMORY):
        last = tail.splitlines()[-1][:300] if tail else ""
        return {"status": "out_of_memory", "message": f"exit code {done.returncode}: {last}"}
    raise SystemExit(f"the measurement failed (not for memory):\n{tail}")


def describe(row) -> str:
    if row["status"] != "ok":
        return f"{row['status']} {row.get('message', '')}".strip()
    tensors = f", tensors {row['peak_tensor_mb']:8.0f} MB" if "peak_tensor_mb" in row else ""
    return f"{row['seconds']:8.2f} s, peak RSS {row['peak_rss_mb']:8.0f} MB{tensors}"


def sweep(structure, models, specs, args, folder):
    rows, failed = [], {}
    for atoms in args.sizes:
        if atoms > structure.num_atoms:
            print(f"{atoms:6d} atoms: skipped, {structure.name} has only {structure.num_atoms} atoms")
            continue
        part = piece(structure, atoms)
        for key in args.models:
            base = {"model": key, "atoms": atoms, "residues": part.num_blocks}
            if key in failed:
                rows.append({**base, "status": "not run", "message": f"failed at {failed[key]} atoms"})
                continue
            batch, edges = prepare(models[key], key, part, folder)
            row = {**base, "edges": edges, **run_worker(specs[key], batch, args, args.repeats, True, True)}
            batch.unlink()
            rows.append(row)
            print(f"{atoms:6d} atoms {key:15s} {edges:9,d} pairs/edges  {describe(row)}", flush=True)
            if row["status"] != "ok":
                failed[key] = atoms
    return rows


def search_largest(structure, model, spec, rows, args, folder) -> dict:
    """Largest atom count EPT runs one forward+backward on (see the module docstring)."""
    ran = [r["atoms"] for r in rows if r["model"] == "ept" and r["status"] == "ok"]
    failing = [r["atoms"] for r in rows if r["model"] == "ept" and r["status"] not in ("ok", "not run")]
    lo, hi, probes = max(ran, default=0), min(failing, default=None), []

    def probe(atoms: int) -> bool:
        batch, edges = prepare(model, "ept", piece(structure, atoms), folder)
        row = {"atoms": atoms, "edges": edges, **run_worker(spec, batch, args, 1, False, False)}
        batch.unlink()
        probes.append(row)
        print(f"search {atoms:6d} atoms ept {describe(row)}", flush=True)
        return row["status"] == "ok"

    while hi is None and lo < structure.num_atoms:
        atoms = min(max(2 * lo, 32), structure.num_atoms)
        if probe(atoms):
            lo = atoms
        else:
            hi = atoms
    while hi is not None and hi - lo > max(args.search_step, args.search_tolerance * lo):
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if probe(mid) else (lo, mid)
    best = next((p for p in probes if p["atoms"] == lo), None)
    return {"largest_atoms": lo, "smallest_failing_atoms": hi, "whole_structure": hi is None,
            "structure_atoms": structure.num_atoms, "largest": best, "probes": probes}


def slope(points) -> float:
    """Least-squares slope of log(value) against log(atoms)."""
    if len(points) < 2:
        return float("nan")
    return float(np.polyfit(np.log([p[0] for p in points]), np.log([p[1] for p in points]), 1)[0])


def series(rows, key, field, start):
    ran = [r for r in rows if r["model"] == key and r["status"] == "ok"]
    points = [(r["atoms"], r[field] if field != "rss_increase_mb" else r["peak_rss_mb"] - r["rss_before_mb"])
              for r in ran]
    upper = [p for p in points if p[0] >= start]
    return points, upper if len(upper) >= 2 else points


def write_report(result, output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, s = result["rows"], result["settings"]
    lines = [f"One forward+backward (weight gradients of the summed outputs, float32, train mode, random weights) on "
             f"contiguous pieces of {s['structure']} ({s['structure_atoms']:,} heavy atoms, {s['structure_note']}); "
             f"{s['threads']} CPU thread(s), torch {s['torch']}, {s['machine']}; each point a fresh process capped at "
             f"{s['memory_limit_gb']:g} GB of address space; time = median of {s['repeats']} steps after a warm-up.",
             "", "| model | atoms | residues | pairs / edges | time (s) | peak RSS (MB) | RSS increase (MB) | "
             "peak tensors (MB) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["status"] == "ok":
            lines.append(f"| {r['model']} | {r['atoms']} | {r['residues']} | {r['edges']:,} | {r['seconds']:.3f} | "
                         f"{r['peak_rss_mb']:.0f} | {r['peak_rss_mb'] - r['rss_before_mb']:.0f} | "
                         f"{r['peak_tensor_mb']:.0f} |")
        else:
            lines.append(f"| {r['model']} | {r['atoms']} | {r['residues']} | {r.get('edges', '-')} | "
                         f"{r['status']} | | | |")
    lines += ["", f"Log-log slopes over the sizes >= {s['slope_from']} atoms that ran (all sizes if fewer than two):",
              "", "| model | parameters | time | peak tensors | RSS increase |", "|---|---|---|---|---|"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    fields = [("seconds", "forward + backward (s)"), ("peak_tensor_mb", "peak live tensors (MB)"),
              ("peak_rss_mb", "peak RSS of the process (MB)")]
    for key in dict.fromkeys(r["model"] for r in rows):
        slopes = {}
        for axis, (field, label) in zip(axes, fields):
            points, fit = series(rows, key, field, s["slope_from"])
            slopes[field] = slope(fit)
            if points:
                axis.loglog(*zip(*points), marker="o", label=f"{key} (slope {slopes[field]:.2f})")
            axis.set(xlabel="atoms", ylabel=label)
        slopes["rss_increase_mb"] = slope(series(rows, key, "rss_increase_mb", s["slope_from"])[1])
        params = next((r["parameters"] for r in rows if r["model"] == key and r["status"] == "ok"), None)
        lines.append(f"| {key} | {params or 0:,} | {slopes['seconds']:.2f} | {slopes['peak_tensor_mb']:.2f} | "
                     f"{slopes['rss_increase_mb']:.2f} |")
    search = result.get("search")
    if search:
        best = search["largest"] or {}
        if search["whole_structure"]:
            text = (f"EPT ran the whole {search['largest_atoms']:,}-atom structure: the largest protein it handles "
                    "here is at least that (no larger real structure was at hand).")
        else:
            failing = search["smallest_failing_atoms"]
            reason = next((p["status"] for p in search["probes"] if p["atoms"] == failing), "in the sweep")
            text = (f"Largest protein EPT handles here: {search['largest_atoms']:,} atoms; {failing:,} atoms failed "
                    f"({reason}).")
        if best.get("status") == "ok":
            text += f" At {best['atoms']:,} atoms: {best['seconds']:.1f} s, peak RSS {best['peak_rss_mb']:,.0f} MB."
            axes[2].loglog([best["atoms"]], [best["peak_rss_mb"]], "k*", markersize=12, label="EPT, largest that ran")
        ran = [p for p in search["probes"] if p["status"] == "ok"]
        for axis, field in ((axes[0], "seconds"), (axes[2], "peak_rss_mb")):
            if ran:
                axis.loglog([p["atoms"] for p in ran], [p[field] for p in ran], "kx", label="EPT, search (one step)")
        lines += ["", text, "", "Search probes (one step each, fresh capped process):", "",
                  "| atoms | pairs | result |", "|---|---|---|"]
        for p in search["probes"]:
            shown = f"{p['seconds']:.1f} s, peak RSS {p['peak_rss_mb']:,.0f} MB" if p["status"] == "ok" else p["status"]
            lines.append(f"| {p['atoms']:,} | {p['edges']:,} | {shown} |")
    axes[2].axhline(s["memory_limit_gb"] * 1024, color="grey", ls="--", lw=0.8, label="address-space cap")
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    for axis in axes:
        axis.xaxis.set_major_locator(LogLocator(base=2))  # atoms: 32, 64, ... as plain numbers
        axis.xaxis.set_major_formatter(ScalarFormatter())
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    axes[0].set_title(f"time, {s['threads']} CPU thread(s)")
    fig.tight_layout()
    fig.savefig(output.with_suffix(".png"), dpi=110)
    output.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128, 256, 512, 1024, 2048])
    parser.add_argument("--models", nargs="+", default=["ept", "equiformer", "equiformer-10A"],
                        choices=["ept", "equiformer", "equiformer-10A"])
    parser.add_argument("--pdb", default=None, help="structure to cut (default: the largest installed real PDB)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-limit-gb", type=float, default=20.0)
    parser.add_argument("--time-limit-s", type=float, default=1200.0, help="per process")
    parser.add_argument("--no-search", action="store_true", help="skip the search for the largest protein")
    parser.add_argument("--search-tolerance", type=float, default=0.05, help="relative resolution of the bisection")
    parser.add_argument("--search-step", type=int, default=64, help="absolute resolution of the bisection (atoms)")
    parser.add_argument("--slope-from", type=int, default=256, help="fit slopes over sizes from this many atoms")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "ept_memory_scaling")
    args = parser.parse_args()
    if min(args.sizes) < 1 or args.repeats < 1 or args.threads < 1 or args.memory_limit_gb <= 0:
        parser.error("sizes, --repeats and --threads must be positive integers, --memory-limit-gb positive")
    from equiformers import build_model

    path, note = find_protein(args.pdb)
    structure = read_structure(path)
    elements = sorted({int(z) for z in structure.atomic_numbers})
    from ase.data import chemical_symbols

    specs = model_specs([chemical_symbols[z] for z in elements])
    models = {key: build_model(specs[key]) for key in args.models}  # for preparing graphs only
    settings = {"structure": path.name, "structure_path": str(path), "structure_note": note,
                "structure_atoms": structure.num_atoms, "threads": args.threads, "repeats": args.repeats,
                "memory_limit_gb": args.memory_limit_gb, "time_limit_s": args.time_limit_s,
                "slope_from": args.slope_from, "torch": torch.__version__,
                "machine": f"{platform.machine()}, {os.cpu_count()} cores", "specs": {k: specs[k] for k in args.models}}
    print(f"{path} ({note}): {structure.num_atoms:,} heavy atoms in {structure.num_blocks:,} residues; "
          f"models {args.models}; {args.threads} thread(s); cap {args.memory_limit_gb:g} GB", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        rows = sweep(structure, models, specs, args, Path(folder))
        result = {"settings": settings, "rows": rows}
        if not args.no_search and "ept" in models:
            result["search"] = search_largest(structure, models["ept"], specs["ept"], rows, args, Path(folder))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(result, indent=2))
    write_report(result, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
