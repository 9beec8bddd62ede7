"""Make ``tests/fixtures/official_equiformer.pt``: small random-initialised official Equiformers in
each mode (MLP attention with non-linear and linear messages, dot-product attention, Bessel basis,
MD17 energy+forces), their weights and their float32 outputs on fixed real molecules.
``tests/models/test_official_equiformer.py`` converts each into ours and matches the outputs.

    git clone https://github.com/atomicarchitects/equiformer /tmp/equiformer
    git -C /tmp/equiformer checkout 64cb786
    .venv/bin/python benchmarks/official_equiformer/make_fixture.py /tmp/equiformer [--venv .official-venv]

The official code runs in its own virtual environment (created on first use, see environment.py).
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import check_checkout, ensure_venv, official_command, official_env  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "official_equiformer.pt"


def qm9_molecules(count: int, seed: int = 0):
    """``count`` real QM9 test molecules (positions Å, atomic numbers) from qm9pack."""
    import numpy as np

    from equiformers.data.qm9 import QM9Dataset

    dataset = QM9Dataset(["gap"], split="test")
    picks = np.random.default_rng(seed).choice(len(dataset), count, replace=False)
    return [(dataset[int(i)]["pos"].double(), dataset[int(i)]["atomic_numbers"]) for i in picks]


def md17_molecules():
    """Two rattled real molecules (ASE's g2 geometries) for the energy+forces mode."""
    from ase.build import molecule

    out = []
    for i, name in enumerate(["CH3CH2OH", "CH3CONH2"]):
        atoms = molecule(name)
        atoms.rattle(0.05, seed=i)
        out.append((torch.tensor(atoms.positions), torch.tensor(atoms.numbers)))
    return out


def as_batch(molecules):
    """Concatenated positions [N, 3] float64, atomic numbers as ``node_atom`` [N] (the official models
    map them to their type index themselves) and batch [N]."""
    pos = torch.cat([p for p, _ in molecules])
    numbers = torch.cat([z for _, z in molecules])
    batch = torch.cat([torch.full((len(z),), i) for i, (_, z) in enumerate(molecules)])
    return {"pos": pos, "atomic_numbers": numbers, "node_atom": numbers, "batch": batch,
            "forces": torch.zeros_like(pos)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("official", type=Path, help="checkout of atomicarchitects/equiformer at 64cb786")
    parser.add_argument("--venv", type=Path, default=REPO / ".official-venv")
    parser.add_argument("--output", type=Path, default=FIXTURE)
    args = parser.parse_args()
    commit = check_checkout(args.official)
    python = ensure_venv(args.venv)
    inputs = {"commit": commit, "qm9": as_batch(qm9_molecules(4)), "md17": as_batch(md17_molecules())}
    with tempfile.TemporaryDirectory() as folder:
        torch.save(inputs, Path(folder) / "inputs.pt")
        subprocess.run(official_command(python, args.official, "fixture", Path(folder) / "inputs.pt",
                                        Path(folder) / "fixture.pt"),
                       env=official_env(args.official, threads=1), check=True)
        record = torch.load(Path(folder) / "fixture.pt", weights_only=True)
    record["inputs"] = inputs
    args.output.parent.mkdir(parents=True, exist_ok=True)
    torch.save(record, args.output)
    print(f"{args.output}: {len(record['modes'])} modes, {args.output.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
