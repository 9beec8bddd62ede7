"""Equiformer ablation (Table 1 of the MD17 reproduction study) on our own GFN2-xTB aspirin data.

    python benchmarks/ablation_md17.py [--data data/aspirin.npz] [--minutes 20] [--epochs 1500]
                                       [--size paper|small] [--test-frames N]
                                       [--output benchmarks/results/ablation_aspirin.md]

Trains three variants with the same data, split, seed and budget (whichever of ``--epochs`` and
``--minutes`` runs out first; the learning-rate schedule anneals over that budget):
MLP attention + non-linear messages (the paper), MLP attention + linear messages, and dot-product
attention. Writes a Markdown table: parameters, wall time per epoch (training + validation),
test energy MAE (meV) and force MAE (meV/Å). The data are generated first if missing
(``equiformers data md17-xtb aspirin``, 20,000 steps, every 10th frame kept).
"""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch

from equiformers.cli.main import configure_logging
from equiformers.data.generate_xtb import MDSettings, generate_md17_xtb
from equiformers.training.checkpoint import load_model
from equiformers.training.config import run_config_from_dict
from equiformers.training.run import train

VARIANTS = [
    ("MLP attention + non-linear messages", {"attention": "mlp", "message": "nonlinear"}),
    ("MLP attention + linear messages", {"attention": "mlp", "message": "linear"}),
    ("dot-product attention", {"attention": "dot_product", "message": "linear"}),
]
SIZES = {"paper": {}, "small": {"channels": [64, 32, 16], "num_layers": 4, "readout_channels": 256}}


def slug_of(name: str, overrides: dict) -> str:
    return name.split()[0].lower() + "-" + overrides["message"] + "-" + overrides["attention"]


def run_variant(name, overrides, args, out_root: Path) -> dict:
    slug = slug_of(name, overrides)
    shutil.rmtree(out_root / slug, ignore_errors=True)  # a rerun starts afresh: the same budget for every row
    run = run_config_from_dict({
        "model": {"preset": "equiformer-md17-l2", **SIZES[args.size], **overrides},
        "data": {"dataset": "frames", "path": str(args.data), "targets": ["energy"], "train_size": 950,
                 "val_size": 50, "test_size": args.test_frames, "batch_size": 8, "eval_batch_size": 32,
                 "split_seed": 0},
        "task": {"type": "energy_forces", "loss": "l2mae", "energy_weight": 1.0, "force_weight": 80.0},
        "training": {"max_epochs": args.epochs, "max_time_minutes": args.minutes, "lr": 5e-4,
                     "warmup_epochs": 10 if args.epochs >= 100 else 1, "weight_decay": 1e-6, "progress_bar": False},
        "output_dir": str(out_root / slug), "seed": 0,
    })
    start = time.time()
    metrics = train(run)
    wall = time.time() - start
    ckpt = torch.load(out_root / slug / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    epochs = int(ckpt["epoch"]) + 1
    model, _ = load_model(out_root / slug / "model.pt")
    params = sum(p.numel() for p in model.parameters())
    return {"variant": name, "slug": slug, "params": params, "epochs": epochs, "minutes_per_epoch": wall / 60 / epochs,
            "energy_mae_meV": metrics["mae"]["energy"], "force_mae_meV_per_A": metrics["mae"]["forces"],
            "test_frames": metrics["num_graphs"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/aspirin.npz"))
    parser.add_argument("--minutes", type=float, default=20.0, help="wall-clock budget per variant")
    parser.add_argument("--epochs", type=int, default=1500)
    parser.add_argument("--size", choices=sorted(SIZES), default="paper")
    parser.add_argument("--test-frames", type=int, default=None, help="test on the first N test frames only")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/ablation_aspirin.md"))
    parser.add_argument("--runs", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--only", nargs="+", metavar="SLUG", help="(re)run only these variants (" + ", ".join(
        slug_of(*v) for v in VARIANTS) + ") and merge them into the results already in --runs")
    args = parser.parse_args()
    configure_logging()
    if not args.data.is_file():
        generate_md17_xtb("aspirin", args.data.parent, MDSettings(steps=20_000, interval=10))
    previous = args.runs / "results.json"
    done = {r["variant"]: r for r in json.loads(previous.read_text())} if args.only and previous.is_file() else {}
    for name, overrides in VARIANTS:
        if not args.only or slug_of(name, overrides) in args.only:
            done[name] = run_variant(name, overrides, args, args.runs)
    rows = [done[name] for name, _ in VARIANTS if name in done]
    device = "GPU: " + torch.cuda.get_device_name() if torch.cuda.is_available() else \
        f"CPU, {torch.get_num_threads()} threads"
    lines = [f"Aspirin, GFN2-xTB 500 K Langevin frames ({args.data}); 950 train / 50 val / "
             f"{rows[0]['test_frames']} test; Equiformer L_max=2 ({args.size} size), batch 8, lr 5e-4, "
             f"force weight 80, L2MAE loss, seed 0; budget {args.minutes:g} min or {args.epochs} epochs per "
             f"variant on {device}.", "",
             "| variant | params | epochs run | min / epoch | energy MAE (meV) | force MAE (meV/Å) |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['variant']} | {r['params']:,} | {r['epochs']} | {r['minutes_per_epoch']:.2f} | "
              f"{r['energy_mae_meV']:.1f} | {r['force_mae_meV_per_A']:.1f} |" for r in rows]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    args.output.with_suffix(".json").write_text(json.dumps(rows, indent=2))
    (args.runs / "results.json").write_text(json.dumps(rows, indent=2))  # read by peers_md17.py
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
