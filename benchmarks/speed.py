"""Throughput and peak memory of Equiformer presets on a batch of real QM9 molecules.

    python benchmarks/speed.py [--batch-size 32] [--repeats 3] [--models equiformer-qm9 ...] [--device cpu|cuda]
        [--set KEY=VALUE ...]      e.g. --set tensor_product=e3nn (the reference computation) or low_memory=true

For each model: forward (no grad) and forward+backward (gradient of the summed
output w.r.t. the weights, i.e. one training step without the optimiser), as
the median over ``--repeats`` timed runs after one warm-up, in molecules/s.
Memory: on CUDA the peak allocated by torch; on CPU the peak resident set size
of a fresh process that runs only that measurement, next to its size just
before the measured call (the difference is what the call itself needs).
Runs on the GPU as well when one is present (or ``--device cuda``).
"""

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time

import torch

PRESETS = ["equiformer-qm9", "equiformer-qm9-linear", "equiformer-qm9-dot-product"]
DEMO = ("demo (L=1, 32x0e+16x1e, 3 blocks)",
        {"preset": "equiformer-qm9", "channels": [32, 16], "num_layers": 3, "readout_channels": 128,
         "num_basis": 32, "radial_hidden": [32, 32], "alpha_drop": 0.0})


def qm9_batch(model, batch_size: int, seed: int = 0):
    """``batch_size`` QM9 test molecules prepared for ``model`` (types, its graph)."""
    import numpy as np

    from equiformers.data import collate
    from equiformers.data.qm9 import QM9Dataset

    ds = QM9Dataset(["gap"], split="test")
    idx = np.random.default_rng(seed).choice(len(ds), batch_size, replace=False)
    return collate([model.prepare(ds[int(i)]) for i in idx])


def rss_mb(field: str = "VmRSS") -> float:
    """Resident (``VmRSS``) or peak resident (``VmHWM``: not ``ru_maxrss``, which a child inherits
    from its parent) set size of this process in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(spec, mode: str, device: str, batch_size: int, repeats: int) -> dict:
    """One measurement in this process; returns timings and memory."""
    from equiformers import build_model
    from equiformers.data import to_device

    torch.manual_seed(0)
    model = build_model(spec).to(device)
    data = to_device(qm9_batch(model, batch_size), device, torch.float32)

    def step():
        if mode == "forward":
            with torch.no_grad():
                model(data)
        else:
            model.zero_grad(set_to_none=True)
            sum(v.sum() for v in model(data).values()).backward()
        if device == "cuda":
            torch.cuda.synchronize()

    base = rss_mb()  # before the warm-up: VmHWM below is the process peak, warm-up included
    step()  # warm-up
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else rss_mb("VmHWM")
    return {"seconds": statistics.median(times), "peak_mb": peak, "base_mb": base,
            "params": sum(p.numel() for p in model.parameters()),
            "atoms": int(data["pos"].shape[0]), "edges": int(data["edge_index"].shape[1])}


def run_isolated(name, spec, mode, device, batch_size, repeats) -> dict:
    """Run :func:`measure` in a fresh interpreter so that CPU peak memory is that call's alone."""
    code = ("import json, sys; sys.path.insert(0, 'benchmarks'); from speed import measure; "
            f"print(json.dumps(measure({spec!r}, {mode!r}, {device!r}, {batch_size}, {repeats})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result.update(name=name, mode=mode, device=device)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="*", default=PRESETS + ["demo"])
    parser.add_argument("--device", choices=["cpu", "cuda"], action="append")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides for every model")
    args = parser.parse_args()
    import yaml

    overrides = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    print(f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} CPU threads; batch of {args.batch_size} random QM9 test molecules, float32"
          + (f"; overrides {overrides}" if overrides else ""))
    header = f"| model | device | params | atoms / edges | mode | time per batch | molecules/s | peak memory |"
    print(header)
    print("|" + "---|" * 8)
    for device in devices:
        for name in args.models:
            spec = {**(DEMO[1] if name == "demo" else {"preset": name}), **overrides}
            label = DEMO[0] if name == "demo" else name
            for mode in ("forward", "forward+backward"):
                r = run_isolated(label, spec, mode, device, args.batch_size, args.repeats)
                memory = f"{r['peak_mb']:.0f} MB" if device == "cuda" else \
                    f"{r['peak_mb']:.0f} MB RSS ({r['peak_mb'] - r['base_mb']:+.0f} MB in the call)"
                print(f"| {label} | {device} | {r['params']:,} | {r['atoms']} / {r['edges']} | {mode} | "
                      f"{r['seconds'] * 1000:.0f} ms | {args.batch_size / r['seconds']:.1f} | {memory} |", flush=True)


if __name__ == "__main__":
    main()
