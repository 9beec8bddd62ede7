"""Accuracy at a fixed CPU budget: several model families trained on the same data for the same wall time.

    .venv/bin/python benchmarks/fixed_budget.py --suite se3-qm9 [--minutes 10] [--threads 2]
    .venv/bin/python benchmarks/fixed_budget.py --suite v2-qm9 | v2-aspirin [--minutes 10]

Suites (each row a preset at its paper size, trained with ``equiformers.training.run.train``):

* ``se3-qm9``: the original SE(3)-Transformer (Fuchs' QM9 preset: bonded graphs with bond types), the
  Efficient SE(3)-Transformer (QM9 preset) and our Equiformer (QM9 preset), on the QM9 HOMO-LUMO gap.
* ``v2-qm9``: EquiformerV2 (QM9 preset), the same with every EquiformerV3 switch on, and Equiformer.
* ``v2-aspirin``: the same three families on GFN2-xTB aspirin energies and forces (950 train / 50 val,
  generated with ``equiformers data md17-xtb aspirin`` when ``--data`` is missing).

Every row gets the same data, split, seed, batch size, optimiser (AdamW, warm-up then cosine over the
budget) and the same wall-clock budget (``training.max_time_minutes``; the schedule anneals over it,
and a budget that ends mid-epoch is followed by one more validation). The test metrics are those of the
best validation checkpoint. The table gives parameters, optimisation steps and epochs run, seconds per
training step, test MAE, and the mean predictor's MAE on the same test set (the training mean; for
energies, the per-atom-count linear fit the task itself uses is the baseline the model starts from).
Writes ``--output`` (Markdown) and a ``.json`` beside it.
"""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch

from equiformers.cli.main import configure_logging
from equiformers.training.checkpoint import load_model
from equiformers.training.config import run_config_from_dict
from equiformers.training.run import train

QM9_DATA = {"dataset": "qm9", "targets": ["gap"], "train_size": 2000, "val_size": 200, "test_size": 1000,
            "batch_size": 16, "eval_batch_size": 32}
#: EquiformerV3's improvements as EquiformerV2 switches (the V3-style presets' settings) and its energy head
V3_SWITCHES = {"use_m_share_rad": True, "use_swiglu_s2": True, "use_gate_force_head": True, "use_envelope": True,
               "norm_type": "merge_layer_norm"}
SUITES = {
    "se3-qm9": [("SE(3)-Transformer (Fuchs)", {"preset": "se3-transformer-qm9"}),
                ("Efficient SE(3)-Transformer", {"preset": "se3-transformer-qm9-efficient"}),
                ("Equiformer", {"preset": "equiformer-qm9"})],
    "v2-qm9": [("EquiformerV2", {"preset": "equiformer_v2-qm9"}),
               ("EquiformerV2 + V3 switches", {"preset": "equiformer_v2-qm9", "v3": True}),
               ("Equiformer", {"preset": "equiformer-qm9"})],
    "v2-aspirin": [("EquiformerV2", {"preset": "equiformer_v2-qm9"}),
                   ("EquiformerV2 + V3 switches", {"preset": "equiformer_v2-qm9", "v3": True}),
                   ("Equiformer", {"preset": "equiformer-md17-l2"})],
}


def model_spec(row: dict, suite: str) -> dict:
    """The model spec of one row (V3 switches resolved against the family's config fields)."""
    spec = {k: v for k, v in row.items() if k != "v3"}
    if not spec["preset"].startswith("equiformer_v2"):
        return spec
    output = "energy" if suite == "v2-aspirin" else "y"  # aspirin: forces are the energy's gradient
    spec["heads"] = {output: {"type": "eqv2_energy", **({"block": "scalar_mlp"} if row.get("v3") else {})}}
    if row.get("v3"):
        spec.update(V3_SWITCHES)
    if suite == "v2-aspirin":
        spec["elements"] = ["H", "C", "O"]
    return spec


def data_and_task(suite: str, args) -> tuple:
    if suite == "v2-aspirin":
        data = {"dataset": "frames", "path": str(args.data), "targets": ["energy"], "train_size": 950,
                "val_size": 50, "test_size": args.test_size, "batch_size": 8, "eval_batch_size": 16, "split_seed": 0}
        return data, {"type": "energy_forces", "loss": "l2mae", "energy_weight": 1.0, "force_weight": 80.0}
    data = dict(QM9_DATA, train_size=args.train_size, test_size=args.test_size)
    return data, {"type": "regression", "loss": "l1"}


def mean_predictor_mae(run) -> dict:
    """Test MAE of predicting the training mean (graph targets)."""
    from equiformers.data.datasets import build_dataset

    train_set, test_set = build_dataset(run.data, "train"), build_dataset(run.data, "test")
    if not hasattr(train_set, "target_array"):
        return {}
    mean = train_set.target_array().mean(0)
    mae = (test_set.target_array() - mean).abs().mean(0)
    return {name: float(v) for name, v in zip(run.data.targets, mae)}


def run_row(name: str, row: dict, suite: str, args, out_root: Path) -> dict:
    slug = name.lower().replace(" ", "-").replace("(", "").replace(")", "").replace("+", "plus").replace(",", "")
    shutil.rmtree(out_root / slug, ignore_errors=True)  # every row starts afresh with the same budget
    data, task = data_and_task(suite, args)
    run = run_config_from_dict({
        "model": model_spec(row, suite), "data": data, "task": task,
        "training": {"max_epochs": 100_000, "max_time_minutes": args.minutes, "lr": args.lr, "warmup_epochs": 0.2,
                     "weight_decay": 1e-6, "progress_bar": False, "ema_decay": None},
        "output_dir": str(out_root / slug), "seed": 0})
    start = time.time()
    metrics = train(run)
    wall = time.time() - start
    ckpt = torch.load(out_root / slug / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    model, _ = load_model(out_root / slug / "model.pt")
    steps = int(ckpt["global_step"])
    return {"model": name, "preset": row["preset"], "v3_switches": bool(row.get("v3")),
            "params": sum(p.numel() for p in model.parameters()), "steps": steps, "epochs": int(ckpt["epoch"]) + 1,
            "seconds_per_step": 60.0 * args.minutes / max(steps, 1), "wall_minutes": wall / 60.0,
            "test_mae": metrics["mae"], "test_graphs": metrics["num_graphs"],
            "mean_predictor_mae": mean_predictor_mae(run)}


def table(rows, suite: str, args) -> str:
    targets = list(rows[0]["test_mae"])
    units = {"gap": "meV", "energy": "meV", "forces": "meV/Å"}
    device = f"CPU, {torch.get_num_threads()} threads"
    head = (f"Suite `{suite}`: {args.minutes:g} min of training per model on {device}; seed 0; "
            f"{rows[0]['test_graphs']} test structures. Test MAE of the best validation checkpoint.")
    cols = " | ".join(f"{t} MAE ({units.get(t, '')})" for t in targets)
    lines = [head, "", f"| model | params | steps | epochs | s / step | {cols} | mean predictor |",
             "|---|---|---|---|---|" + "---|" * len(targets) + "---|"]
    for r in rows:
        maes = " | ".join(f"{r['test_mae'][t]:.1f}" for t in targets)
        base = ", ".join(f"{t} {v:.1f}" for t, v in r["mean_predictor_mae"].items()) or "—"
        lines.append(f"| {r['model']} | {r['params']:,} | {r['steps']} | {r['epochs']} | "
                     f"{r['seconds_per_step']:.2f} | {maes} | {base} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=sorted(SUITES), required=True)
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock training budget per model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--train-size", type=int, default=QM9_DATA["train_size"], help="QM9 training molecules")
    parser.add_argument("--test-size", type=int, default=QM9_DATA["test_size"])
    parser.add_argument("--data", type=Path, default=Path("data/aspirin.npz"), help="aspirin frames (v2-aspirin)")
    parser.add_argument("--only", nargs="+", help="run only the rows whose model name contains one of these")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--runs", type=Path, default=Path("runs/fixed_budget"))
    args = parser.parse_args()
    configure_logging()
    torch.set_num_threads(args.threads)  # a benchmark script, not the library: it may set the process's threads
    if args.suite == "v2-aspirin" and not args.data.is_file():
        from equiformers.data.generate_xtb import MDSettings, generate_md17_xtb

        generate_md17_xtb("aspirin", args.data.parent, MDSettings(steps=20_000, interval=10))
    rows = [run_row(name, row, args.suite, args, args.runs / args.suite) for name, row in SUITES[args.suite]
            if not args.only or any(o.lower() in name.lower() for o in args.only)]
    text = table(rows, args.suite, args)
    output = args.output or Path(f"benchmarks/results/fixed_budget_{args.suite}.md")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    output.with_suffix(".json").write_text(json.dumps(rows, indent=2))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
