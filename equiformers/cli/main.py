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
from pathlib import Path
from typing import List, Optional

from ..errors import EquiformersError
from .options import add_structure_options, show_warnings_plainly, structure_policy


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
    where = metrics["data"] if "data" in metrics else f"{metrics['split']} set"
    print(f"{where}: {metrics['num_graphs']} graphs")
    for name, mae in metrics["mae"].items():
        base = metrics["baseline_mae_train_mean"][name]
        unit = units.get(name, "")
        baseline = metrics.get("baseline_names", {}).get(name, "predicting the training mean")
        rmse = metrics.get("rmse", {}).get(name)
        rmse_text = f", RMSE {rmse:.4g} {unit}" if rmse is not None else ""
        print(f"  {name}: MAE {mae:.4g} {unit}{rmse_text}  ({baseline}: {base:.4g} {unit}; "
              f"ratio {mae / max(base, 1e-300):.3f})")
        if name in metrics.get("pearson", {}):  # block-level targets: correlation over the labelled blocks
            print(f"  {name}: Pearson r {metrics['pearson'][name]:.3f} over {metrics['num_labelled'][name]} "
                  "labelled blocks")
    per_element = metrics.get("force_mae_per_element")
    if per_element:
        unit = units.get("forces", "")
        print("  force MAE per element: " + ", ".join(f"{el} {v:.4g} {unit}" for el, v in per_element.items()))


def _cmd_evaluate(args) -> None:
    from ..training.inference import evaluate, evaluate_file

    if args.batch_size < 1:
        raise EquiformersError(f"--batch-size must be a positive integer, got {args.batch_size}")
    if args.data:
        metrics = evaluate_file(args.checkpoint, args.data, args.output, args.batch_size, args.energy_key,
                                args.forces_key, args.npz_layout, progress=True)
    else:
        metrics = evaluate(args.checkpoint, args.split, args.output, args.batch_size, progress=True)
    _print_metrics(metrics)
    if args.output:
        print(f"metrics written to {args.output}")
    if args.plots:
        from ..training.plots import parity_plots

        for path in parity_plots(metrics, Path(args.plots)):
            print(f"parity plot: {path}")


def _cmd_predict(args) -> None:
    from ..training.inference import predict

    if args.batch_size < 1:
        raise EquiformersError(f"--batch-size must be a positive integer, got {args.batch_size}")
    rows = predict(args.checkpoint, args.files, args.batch_size, extxyz=args.extxyz, policy=structure_policy(args),
                   max_edges=args.max_edges)
    if args.output:  # a table of the per-structure numbers (per-atom forces go to --extxyz or JSON lines)
        table = [{k: v for k, v in row.items() if not isinstance(v, list)} for row in rows]
        with open(args.output, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(table[0]) if table else ["file"])
            writer.writeheader()
            writer.writerows(table)
        print(f"{len(rows)} predictions written to {args.output}")
    else:
        for row in rows:
            print(json.dumps(row))
    if args.extxyz:
        print(f"structures with predicted energies/forces written to {args.extxyz}")


def _cmd_export(args) -> None:
    from ase.io import read

    from ..data import collate, from_ase
    from ..models.export import export_model, save_exported
    from ..training.checkpoint import load_model

    model, _ = load_model(args.checkpoint)
    try:
        atoms = read(args.example)
    except Exception as err:
        raise EquiformersError(f"cannot read the example structure {args.example}: {err}") from None
    exported = export_model(model.eval(), collate([model.prepare(from_ase(atoms))]))
    path = save_exported(exported, args.output)
    print(f"exported program: {path} (inputs {', '.join(exported.keys)}; any number of atoms and edges, one "
          "structure per call; load with equiformers.models.export.load_exported)")


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
    p = sub.add_parser("evaluate", help="metrics of a saved model on a split of its dataset, or on a labelled file")
    p.add_argument("checkpoint")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--data", help="a labelled file to score instead (.npz MD17/rMD17/MD22, extxyz, ASE db, ...)")
    p.add_argument("--energy-key", default="energy", help="with --data: info key of the energies (eV)")
    p.add_argument("--forces-key", default="forces", help="with --data: array key of the forces (eV/Å)")
    p.add_argument("--npz-layout", default="auto", choices=["auto", "md17", "rmd17"])
    p.add_argument("--output", help="write the metrics as JSON here")
    p.add_argument("--plots", help="write parity plots (PNG) into this folder")
    p.add_argument("--batch-size", type=int, default=64)
    p.set_defaults(func=_cmd_evaluate)
    p = sub.add_parser("predict", help="predict properties of structures in any file ASE reads")
    p.add_argument("checkpoint")
    p.add_argument("files", nargs="+")
    p.add_argument("--output", help="write a CSV here instead of JSON lines to stdout")
    p.add_argument("--extxyz", help="energy models: also write the structures with predicted energy, forces "
                                    "(and stress) to this extended-XYZ file")
    p.add_argument("--batch-size", type=int, default=64)
    add_structure_options(p)
    p.set_defaults(func=_cmd_predict)
    p = sub.add_parser("export", help="export a model's inference with torch.export (dynamic atom and edge counts)")
    p.add_argument("checkpoint")
    p.add_argument("example", help="a structure file ASE reads, traced once (any size)")
    p.add_argument("--output", default="model.pt2")
    p.set_defaults(func=_cmd_export)
    from .simulate import add_commands

    add_commands(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    show_warnings_plainly()
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
