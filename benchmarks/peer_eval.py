"""Test a trained interatomic potential through its ASE calculator; print one JSON line.

Runs inside any environment that has ASE and the model's package (ours, MACE or NequIP), so it
imports nothing from ``equiformers`` unless ``--kind equiformers``:

    python benchmarks/peer_eval.py --kind mace --model runs/peers/mace/aspirin.model \\
        --test runs/peers/split/test.extxyz [--timing-frames 50]

Every model is scored the same way: energy and forces of each test frame from the calculator,
compared with the ``REF_energy`` / ``REF_forces`` arrays of the file (eV, eV/Å); MAEs in meV and
meV/Å. Inference speed is the median wall time of one energy+forces call on a single frame (as in
MD), after 5 warm-up calls, with the calculator's default dtype.
"""

import argparse
import json
import statistics
import sys
import time

import numpy as np
from ase.io import read


def calculator(kind: str, model: str):
    if kind == "mace":
        from mace.calculators import MACECalculator

        return MACECalculator(model_paths=model, device="cpu")
    if kind == "nequip":
        from nequip.ase import NequIPCalculator

        # the eager model straight from the training checkpoint (no TorchScript/AOT compile step)
        return NequIPCalculator._from_saved_model(model, device="cpu")
    if kind == "equiformers":
        from equiformers.calculators import EquiformerCalculator

        return EquiformerCalculator(model, device="cpu")
    raise SystemExit(f"unknown --kind {kind!r}: expected mace, nequip or equiformers")


def parameter_count(calc) -> int:
    models = getattr(calc, "models", None) or [calc.model]  # MACE keeps a list (committee)
    return sum(p.numel() for p in models[0].parameters())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--timing-frames", type=int, default=50)
    args = parser.parse_args()
    frames = read(args.test, index=":")
    calc = calculator(args.kind, args.model)
    energy_err, force_err = [], []
    for atoms in frames:
        ref_energy, ref_forces = atoms.info["REF_energy"], atoms.arrays["REF_forces"]
        probe = atoms.copy()
        probe.calc = calc
        energy_err.append(abs(probe.get_potential_energy() - ref_energy))
        force_err.append(np.abs(probe.get_forces() - ref_forces).ravel())
    timings = []
    probe = frames[0].copy()
    probe.calc = calc
    for i in range(5 + args.timing_frames):
        probe.positions = frames[i % len(frames)].positions  # a new geometry every call: no cache hit
        start = time.perf_counter()
        probe.get_forces()
        if i >= 5:
            timings.append(time.perf_counter() - start)
    print(json.dumps({
        "kind": args.kind, "params": parameter_count(calc), "test_frames": len(frames),
        "energy_mae_meV": 1000 * float(np.mean(energy_err)),
        "force_mae_meV_per_A": 1000 * float(np.mean(np.concatenate(force_err))),
        "ms_per_frame": 1000 * statistics.median(timings),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
