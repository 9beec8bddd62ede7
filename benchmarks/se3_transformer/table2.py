"""The Efficient SE(3)-Transformer paper's Table 2, measured: the original SE(3)-Transformer and the three
Efficient variants at the paper's PDBBind size on one real protein-ligand pocket.

    .venv/bin/python benchmarks/se3_transformer/table2.py [--repeats 10] [--threads 2] [--no-reference]
        [--json benchmarks/results/se3_table2.json]

Input: HIV-1 protease with its inhibitor XK2 (PDB 1HVR, cut: ``tests/fixtures/blocks/1hvr_cut.pdb``, hydrogens
as deposited). The ligand (residue XK2) and every protein residue with an atom within ``--pocket`` Å
(default 6) of it; coordinates centred on the ligand centroid (SG-CNN's featurisation, reference §8).
Graph: every pair within 4.5 Å (the non-covalent graph), each edge typed covalent (< 1.5 Å) or not
(``edge_types: covalent``, ``num_edge_types: 2``), so the 1.5 Å covalent graph is an input of every
radial network and of the edge features.

Models: our presets ``se3-transformer-pdbbind-{original, efficient-dot, efficient, efficient-scalar}``
(degrees 0-2, 16 channels, 3 blocks; see the preset files for our choices and why our parameter counts
exceed the paper's) with the covalent edge type. Each is built with seed 0 and timed in a fresh process:
forward (eval, no grad, float32, batch of one complex), median of ``--repeats`` after 2 warm-ups; memory:
the peak tensor memory of one forward (the largest total of tensors created by it that are alive at once,
``benchmarks/peak_memory.py``; the paper measured GPU memory, so compare ratios, not megabytes).

Reference: ``se3-transformer-pytorch`` 0.9.0 (lucidrains; PyPI) in its own environment
(``.se3tp-venv``, torch held at ours), at the matched original configuration: dim 16, depth 3,
degrees 0-2, 4 heads, atom-type tokens, the covalent flag as edge tokens, neighbours within 4.5 Å.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
COMPLEX = REPO / "tests" / "fixtures" / "blocks" / "1hvr_cut.pdb"
LIGAND = "XK2"
ELEMENTS = ["H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I"]
VARIANTS = [("Original SE(3)-T", "se3-transformer-pdbbind-original"),
            ("Efficient, dot-product attention", "se3-transformer-pdbbind-efficient-dot"),
            ("Efficient SE(3)-T", "se3-transformer-pdbbind-efficient"),
            ("Efficient, scalar only", "se3-transformer-pdbbind-efficient-scalar")]
#: Table 2 of the paper: params, forward ms, memory MB (GPU)
PAPER = {"se3-transformer-pdbbind-original": (120_000, 67, 689.6),
         "se3-transformer-pdbbind-efficient-dot": (13_000, 35, 20.5),
         "se3-transformer-pdbbind-efficient": (9_400, 25, 18.6),
         "se3-transformer-pdbbind-efficient-scalar": (5_900, 12, 4.4)}
COVALENT = {"num_edge_types": 2, "edge_types": "covalent", "covalent_cutoff": 1.5}


def pocket(cutoff: float):
    """(atomic numbers [N], positions [N, 3] centred on the ligand) of the ligand and its pocket."""
    from ase.io import read

    atoms = read(COMPLEX)
    residue = np.array([f"{n}{i}" for n, i in zip(atoms.arrays["residuenames"], atoms.arrays["residuenumbers"])])
    is_ligand = np.char.strip(atoms.arrays["residuenames"].astype(str)) == LIGAND
    ligand = atoms.positions[is_ligand]
    distance = np.linalg.norm(atoms.positions[:, None] - ligand[None], axis=-1).min(axis=1)
    keep = np.isin(residue, np.unique(residue[distance < cutoff])) | is_ligand
    positions = atoms.positions[keep] - ligand.mean(axis=0)
    return atoms.numbers[keep], positions


def our_worker(inputs: str, preset: str, repeats: int, threads: int) -> dict:
    import equiformers
    from equiformers.data import collate, from_arrays

    torch.set_num_threads(threads)
    data = torch.load(inputs, weights_only=True)
    torch.manual_seed(0)
    model = equiformers.build_model({"preset": preset, **COVALENT}).eval()
    batch = collate([model.prepare(from_arrays(data["positions"].numpy(), data["numbers"].numpy()))])
    params = sum(p.numel() for p in model.parameters())
    return measure(lambda: model(batch), repeats) | {
        "params": params, "atoms": int(batch["num_atoms"].sum()), "edges": int(batch["edge_index"].shape[1]),
        "covalent_edges": int(batch["edge_type"].sum())}


def measure(forward, repeats: int) -> dict:
    """Median forward time (ms) after 2 warm-ups, then the peak tensor memory of one more forward (MB)."""
    from peak_memory import PeakTensorMemory

    times = []
    with torch.no_grad():
        for i in range(repeats + 2):
            start = time.perf_counter()
            forward()
            if i >= 2:
                times.append(time.perf_counter() - start)
        with PeakTensorMemory() as meter:
            forward()
    return {"forward_ms": 1000 * statistics.median(times), "memory_mb": meter.peak_mb}


def run_worker(python: str, args: list) -> dict:
    done = subprocess.run([python, __file__, *args], capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def reference_python() -> str:
    from reference_venv import ensure_venv

    return str(ensure_venv(REPO / ".se3tp-venv", ["se3-transformer-pytorch==0.9.0"], name="se3tp"))


def row(name: str, result: dict, base: dict, paper=None) -> str:
    """A table row of ``result`` with the ratios base / result (for the reference row, called with the
    arguments swapped so that the ratios read theirs / ours)."""
    if "error" in result:
        return f"| {name} | failed: {result['error'][:120]} | | | | | |"
    ratio = lambda key: base[key] / result[key] if result.get(key) else float("nan")  # noqa: E731
    shown = base if paper is None and name == "se3-transformer-pytorch" else result
    text = (f"| {name} | {shown['params']:,} | {shown['forward_ms']:.1f} | {shown['memory_mb']:.1f} | "
            f"{ratio('params'):.1f}x | {ratio('forward_ms'):.2f}x | {ratio('memory_mb'):.1f}x |")
    if paper:
        p, p0 = paper, PAPER["se3-transformer-pdbbind-original"]
        text += f" {p[0]:,} / {p[1]} ms / {p[2]} MB: {p0[0] / p[0]:.1f}x, {p0[1] / p[1]:.2f}x, {p0[2] / p[2]:.1f}x |"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pocket", type=float, default=6.0, help="protein residues within this distance (Å)")
    parser.add_argument("--no-reference", action="store_true", help="skip se3-transformer-pytorch")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", nargs=2, metavar=("SIDE", "WHAT"), help=argparse.SUPPRESS)
    parser.add_argument("--inputs", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        side, what = args.worker
        if side == "ours":
            result = our_worker(args.inputs, what, args.repeats, args.threads)
        else:
            from se3tp_side import reference_worker

            result = reference_worker(args.inputs, args.repeats, args.threads)
        print(json.dumps(result))
        return 0
    numbers, positions = pocket(args.pocket)
    inputs = Path(tempfile.mkdtemp()) / "pocket.pt"
    torch.save({"numbers": torch.from_numpy(numbers), "positions": torch.from_numpy(positions),
                "types": torch.tensor([ELEMENTS.index(_symbol(z)) for z in numbers])}, inputs)
    common = ["--inputs", str(inputs), "--repeats", str(args.repeats), "--threads", str(args.threads)]
    ours = {preset: run_worker(sys.executable, ["--worker", "ours", preset, *common]) for _, preset in VARIANTS}
    base = ours[VARIANTS[0][1]]
    lines = [f"1HVR pocket: {base.get('atoms')} atoms (ligand XK2 + residues within {args.pocket:g} Å), "
             f"{base.get('edges')} edges within 4.5 Å ({base.get('covalent_edges')} covalent, < 1.5 Å); CPU, "
             f"{args.threads} threads, float32, median of {args.repeats} forwards; memory = peak tensor memory of a "
             "forward.", "",
             "| model | params | forward (ms) | memory (MB) | params ratio | speed-up | memory ratio | paper (Table 2): "
             "params / ms / MB: ratios |", "|---|---|---|---|---|---|---|---|"]
    lines += [row(name, ours[preset], base, PAPER[preset]) for name, preset in VARIANTS]
    result = {"ours": ours, "pocket_cutoff": args.pocket}
    if not args.no_reference:
        try:
            reference = run_worker(reference_python(), ["--worker", "reference", "original", *common])
        except Exception as err:  # the table says why instead of failing
            reference = {"error": f"se3-transformer-pytorch environment: {err}"}
        result["se3_transformer_pytorch"] = reference
        lines += ["", "The matched original configuration in `se3-transformer-pytorch` 0.9.0 (theirs / ours):", "",
                  "| model | params | forward (ms) | memory (MB) | params | time | memory |", "|---|---|---|---|---|---|---|",
                  row("Original SE(3)-T (ours)", base, base), row("se3-transformer-pytorch", base, reference)
                  if "error" not in reference else row("se3-transformer-pytorch", reference, base)]
    text = "\n".join(lines)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        args.json.with_suffix(".md").write_text(text + "\n")
    return 0


def _symbol(z: int) -> str:
    from ase.data import chemical_symbols

    return chemical_symbols[int(z)]


if __name__ == "__main__":
    sys.exit(main())
