"""The ``equiformers`` command.

    equiformers presets                          list model presets with parameter counts
    equiformers train CONFIG.yaml [key=value...] train (e.g. training.lr=1e-3 model.num_layers=4)
    equiformers evaluate CHECKPOINT [--split test] [--output metrics.json]
    equiformers predict CHECKPOINT FILE [FILE...] [--output predictions.csv]
    equiformers data md17-xtb MOLECULE [--steps 20000]   MD17-style frames from GFN2-xTB MD
    equiformers md CHECKPOINT STRUCTURE [--steps N --temperature K --friction 0.01]
    equiformers relax CHECKPOINT STRUCTURE [--fmax 0.01]
"""

import argparse
import csv
import json
import logging
import sys
from typing import List, Optional

from ..errors import EquiformersError


def _cmd_presets(args) -> None:
    from ..models.registry import count_parameters, list_presets

    print(f"{'preset':28s} {'parameters':>12s} {'paper':>12s}  description")
    for name, preset in list_presets().items():
        count = count_parameters(name)
        ref = preset.get("reference_parameters")
        print(f"{name:28s} {count:>12,d} {ref if ref is None else format(ref, ','):>12s}  {preset.get('description', '')}")


def _cmd_train(args) -> None:
    from ..training.config import load_run_config
    from ..training.run import check_run_config, train

    run = load_run_config(args.config, args.overrides)
    check_run_config(run)
    metrics = train(run)
    if "mae" in metrics:  # (DDP: only the rank-0 process tests the model)
        _print_metrics(metrics)
        print(f"model saved to {metrics['model_path']}")


def _print_metrics(metrics) -> None:
    units = metrics.get("units", {})
    print(f"{metrics['split']} set: {metrics['num_graphs']} graphs")
    for name, mae in metrics["mae"].items():
        base = metrics["baseline_mae_train_mean"][name]
        unit = units.get(name, "")
        baseline = metrics.get("baseline_names", {}).get(name, "predicting the training mean")
        print(f"  {name}: MAE {mae:.4g} {unit}  ({baseline}: {base:.4g} {unit}; ratio {mae / base:.3f})")


def _cmd_evaluate(args) -> None:
    from ..training.inference import evaluate

    metrics = evaluate(args.checkpoint, args.split, args.output, args.batch_size)
    _print_metrics(metrics)
    if args.output:
        print(f"metrics written to {args.output}")


def _cmd_predict(args) -> None:
    from ..training.inference import predict

    rows = predict(args.checkpoint, args.files, args.batch_size)
    if args.output:
        with open(args.output, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["file"])
            writer.writeheader()
            writer.writerows(rows)
        print(f"{len(rows)} predictions written to {args.output}")
    else:
        for row in rows:
            print(json.dumps(row))


def configure_logging(verbose: bool = False) -> None:
    """Our progress messages on stderr; Lightning's banner lines only when ``verbose``."""
    package_log = logging.getLogger("equiformers")
    if not package_log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        package_log.addHandler(handler)
    package_log.setLevel(logging.INFO)
    package_log.propagate = False
    if not verbose:
        for name in ("lightning.pytorch", "lightning.fabric", "lightning.pytorch.utilities.rank_zero"):
            logging.getLogger(name).setLevel(logging.WARNING)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="equiformers", description="Equivariant transformers for atomistic ML.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress messages")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("presets", help="list the model presets").set_defaults(func=_cmd_presets)
    p = sub.add_parser("train", help="train a model from a YAML run config")
    p.add_argument("config")
    p.add_argument("overrides", nargs="*", help="section.key=value overrides, e.g. training.lr=1e-3")
    p.set_defaults(func=_cmd_train)
    p = sub.add_parser("evaluate", help="metrics of a saved model on a split of its dataset")
    p.add_argument("checkpoint")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--output", help="write the metrics as JSON here")
    p.add_argument("--batch-size", type=int, default=64)
    p.set_defaults(func=_cmd_evaluate)
    p = sub.add_parser("predict", help="predict properties of structures in any file ASE reads")
    p.add_argument("checkpoint")
    p.add_argument("files", nargs="+")
    p.add_argument("--output", help="write a CSV here instead of JSON lines to stdout")
    p.add_argument("--batch-size", type=int, default=64)
    p.set_defaults(func=_cmd_predict)
    from .simulate import add_commands

    add_commands(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        args.func(args)
    except EquiformersError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
