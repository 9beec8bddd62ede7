"""`make demo`: train a small Equiformer on a QM9 subset (HOMO-LUMO gap), test it, plot.

Trains for a fixed number of optimisation steps with a fixed seed and data order, so the
test MAE is the same on any machine (up to floating-point noise); only the wall time
depends on the machine. Prints the test MAE in meV next to the MAE of always predicting
the training mean, and fails (exit 1) unless the model is well under half of that baseline.
The run resumes if interrupted (run it again); delete runs/demo-qm9-gap to start over.

Extra arguments are run-config overrides, e.g. ``training.max_steps=300 output_dir=/tmp/demo``.
"""

import sys
import time
from pathlib import Path

from equiformers.cli.main import configure_logging
from equiformers.errors import EquiformersError
from equiformers.training.config import load_run_config
from equiformers.training.progress import describe_summary
from equiformers.training.run import train

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "demo-qm9-gap.yaml"
PASS_RATIO = 0.5  # the model's test MAE must be under this fraction of the train-mean baseline


def main() -> int:
    configure_logging()
    try:
        run = load_run_config(CONFIG, sys.argv[1:])
        start = time.time()
        metrics = train(run)
    except EquiformersError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    minutes = (time.time() - start) / 60
    mae, base = metrics["mae"]["gap"], metrics["baseline_mae_train_mean"]["gap"]
    out = Path(run.output_dir)
    print()
    print(f"QM9 HOMO-LUMO gap, {metrics['num_graphs']} held-out test molecules, {minutes:.1f} min in all")
    print(f"  {describe_summary(metrics['training'], run.training.max_time_minutes)}")
    print(f"  Equiformer (small)         test MAE {mae:8.1f} meV")
    print(f"  predicting the train mean  test MAE {base:8.1f} meV")
    print(f"  ratio {mae / base:.3f} (the demo passes below {PASS_RATIO})")
    print(f"plots: {out / 'parity_gap.png'}, {out / 'learning_curve_gap.png'}; model: {out / 'model.pt'}")
    if mae >= PASS_RATIO * base:
        print(f"FAILED: the model's MAE is not under {PASS_RATIO} of the baseline MAE")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
