"""EPT's claim at our scale: block-denoising pretraining, then fine-tuning, against training from scratch
for the same total CPU budget.

    .venv/bin/python benchmarks/ept/pretrain_vs_scratch.py [--corpus runs/ept_corpus/corpus.pt]
        [--pretrain-minutes 15] [--finetune-minutes 10] [--size small|paper] [--train-size 2000]

1. The corpus (built first when ``--corpus`` is missing: ``equiformers data corpus`` on ``--sources``,
   by default the ~170 real PDB files of ``mdanalysistests`` plus ``--qm9`` QM9 training molecules).
2. Pretraining: ``task: denoising`` (EPT's block translation + IGSO(3) rotation noise, correct inertia)
   for ``--pretrain-minutes`` on the corpus.
3. Fine-tuning from that model file (``model: {from: ...}``) on ``--train-size`` QM9 training molecules,
   HOMO-LUMO gap, fully connected block graph and the official QM9 head (sum over atoms), for
   ``--finetune-minutes``, with EPT's auxiliary block denoising (weight ``--auxiliary-weight``, 0.1).
4. From scratch: the same architecture and head on the same QM9 molecules for
   ``--pretrain-minutes + --finetune-minutes`` (the same total wall time).

Both are tested on the same ``--test-size`` QM9 test molecules (best validation checkpoint). Writes
a Markdown table (``--output``), its ``.json``, and a learning-curve PNG (validation MAE against
training minutes, the fine-tuning curve offset by the pretraining time). The pretraining corpus holds
*training-split* QM9 molecules only (unlabelled), as the paper's GEOM-QM9 pretraining data overlap
QM9's molecules; no test molecule is seen before testing.

``--size small`` (default) is a CPU-sized EPT (4 layers, 128 channels; the paper's 512-wide 6-layer
model does a few hundred steps in this budget); ``--size paper`` uses the paper's sizes.
"""

import argparse
import csv
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

SIZES = {"small": {"hidden_channels": 128, "ffn_channels": 128, "num_heads": 8, "num_layers": 4, "num_rbf": 32,
                   "edge_channels": 32},
         "paper": {"hidden_channels": 512, "ffn_channels": 512, "num_heads": 8, "num_layers": 6, "num_rbf": 64,
                   "edge_channels": 64}}
QM9_CONFIG = {"graph": "fully_connected", "omit_small_molecule_positions": True}  # EPT's QM9 settings
# the official sum_unit property head, and the denoising head for the auxiliary loss
QM9_HEADS = {"gap": {"type": "ept_property", "pool": "atom_sum"}, "noise": {"type": "ept_vector"}}


def build_corpus(args) -> Path:
    if args.corpus.is_file():
        return args.corpus
    from equiformers.cli.main import main as cli

    args.corpus.parent.mkdir(parents=True, exist_ok=True)
    if cli(["data", "corpus", *args.sources, "--qm9", str(args.qm9), "--max-atoms", str(args.max_atoms),
            "--output", str(args.corpus)]) != 0:
        raise SystemExit(f"building the corpus {args.corpus} failed")
    return args.corpus


def qm9_data(args) -> dict:
    return {"dataset": "qm9", "targets": ["gap"], "train_size": args.train_size, "val_size": args.val_size,
            "test_size": args.test_size, "batch_size": args.batch_size, "eval_batch_size": 32}


def training(minutes: float, lr: float) -> dict:
    return {"max_epochs": 100_000, "max_time_minutes": minutes, "lr": lr, "warmup_epochs": 0.2, "weight_decay": 0.0,
            "progress_bar": False, "ema_decay": None}


def run(spec: dict, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    start = time.time()
    metrics = train(run_config_from_dict({**spec, "output_dir": str(out), "seed": 0}))
    metrics["wall_minutes"] = (time.time() - start) / 60.0
    return metrics


def validation_curve(folder: Path, minutes: float, offset: float = 0.0):
    """(training minutes, validation MAE) per validation of a run; steps mapped linearly onto its budget."""
    rows = list(csv.DictReader(open(folder / "logs" / "run0" / "metrics.csv")))
    points = [(int(r["step"]), float(r["val/mae_gap"])) for r in rows if r.get("val/mae_gap")]
    last = max((s for s, _ in points), default=1) or 1
    return [offset + minutes * s / last for s, _ in points], [m for _, m in points]


def mean_predictor(args) -> float:
    from equiformers.data.qm9 import QM9Dataset

    train_set = QM9Dataset(["gap"], split="train", subset=args.train_size)
    test_set = QM9Dataset(["gap"], split="test", subset=args.test_size)
    return float((test_set.target_array() - train_set.target_array().mean()).abs().mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("runs/ept_corpus/corpus.pt"))
    parser.add_argument("--sources", nargs="+", default=["mdanalysistests"])
    parser.add_argument("--qm9", type=int, default=20_000, help="QM9 training molecules in the corpus")
    parser.add_argument("--max-atoms", type=int, default=1024)
    parser.add_argument("--corpus-holdout", type=int, default=50, help="corpus structures for validation and for test")
    parser.add_argument("--pretrain-minutes", type=float, default=15.0)
    parser.add_argument("--finetune-minutes", type=float, default=10.0)
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--val-size", type=int, default=200)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--auxiliary-weight", type=float, default=0.1, help="EPT's QM9 auxiliary denoising (0: off)")
    parser.add_argument("--runs", type=Path, default=Path("runs/ept_pretrain_vs_scratch"))
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/ept_pretrain_vs_scratch.md"))
    args = parser.parse_args()
    configure_logging()
    torch.set_num_threads(args.threads)  # a benchmark script may set its own process's threads
    corpus = build_corpus(args)
    size = SIZES[args.size]
    qm9_task = {"type": "regression", "loss": "l1",
                "auxiliary_denoising": {"weight": args.auxiliary_weight} if args.auxiliary_weight else None}
    pretrain = run({"model": {"model": "ept", "config": {**size, "graph": "radial"}, "heads": {"noise": {"type": "ept_vector"}}},
                    "data": {"dataset": "blocks", "path": str(corpus), "val_size": args.corpus_holdout,
                             "test_size": args.corpus_holdout,
                             "batch_size": 8, "eval_batch_size": 8},
                    "task": {"type": "denoising"}, "training": training(args.pretrain_minutes, args.lr)},
                   args.runs / "pretrain")
    finetuned = run({"model": {"from": str(args.runs / "pretrain" / "model.pt"), "config": QM9_CONFIG, "heads": QM9_HEADS},
                     "data": qm9_data(args), "task": qm9_task,
                     "training": training(args.finetune_minutes, args.lr)}, args.runs / "finetune")
    total = args.pretrain_minutes + args.finetune_minutes
    scratch = run({"model": {"model": "ept", "config": {**size, **QM9_CONFIG}, "heads": QM9_HEADS},
                   "data": qm9_data(args), "task": qm9_task,
                   "training": training(total, args.lr)}, args.runs / "scratch")
    baseline = mean_predictor(args)
    rows = [{"model": "pretrained + fine-tuned", "minutes": total, "test_mae_meV": finetuned["mae"]["gap"]},
            {"model": "from scratch", "minutes": total, "test_mae_meV": scratch["mae"]["gap"]},
            {"model": "mean predictor", "minutes": 0, "test_mae_meV": baseline}]
    params = sum(p.numel() for p in load_model(args.runs / "scratch" / "model.pt")[0].parameters())
    lines = [f"EPT ({args.size}: {params:,} parameters) on CPU ({args.threads} threads): pretraining "
             f"{args.pretrain_minutes:g} min on {corpus} (denoising test MAE: translation "
             f"{pretrain['mae']['translation']:.3f}, rotation {pretrain['mae']['rotation']:.3f} rad), fine-tuning "
             f"{args.finetune_minutes:g} min vs from scratch {total:g} min; QM9 gap, {args.train_size} training / "
             f"{args.val_size} validation / {args.test_size} test molecules, auxiliary denoising weight "
             f"{args.auxiliary_weight:g} in both, seed 0.", "",
             "| model | total minutes | test gap MAE (meV) |", "|---|---|---|"]
    lines += [f"| {r['model']} | {r['minutes']:g} | {r['test_mae_meV']:.1f} |" for r in rows]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    args.output.with_suffix(".json").write_text(json.dumps({"rows": rows, "pretrain_mae": pretrain["mae"], "args": {
        k: str(v) for k, v in vars(args).items()}}, indent=2, default=float))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(*validation_curve(args.runs / "scratch", total), "o-", label="from scratch")
    ax.plot(*validation_curve(args.runs / "finetune", args.finetune_minutes, args.pretrain_minutes), "s-",
            label="pretrained, fine-tuning")
    ax.axvline(args.pretrain_minutes, color="grey", lw=0.8, ls="--")
    ax.axhline(baseline, color="black", lw=0.8, ls=":", label="mean predictor")
    ax.set(xlabel="training minutes (fine-tuning starts after pretraining)", ylabel="validation gap MAE (meV)",
           yscale="log", title="EPT on QM9 gap: pretrained vs from scratch")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.output.with_suffix(".png"), dpi=120)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
