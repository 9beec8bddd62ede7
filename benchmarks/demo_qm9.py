"""`make demo`: train a small Equiformer on a QM9 subset (HOMO-LUMO gap), test it, plot.

Prints the test MAE in meV next to the MAE of always predicting the training
mean, and fails (exit 1) unless the model is well under half of that baseline.
The run resumes if interrupted (run it again); delete runs/demo-qm9-gap to start over.
"""

import sys
import time
from pathlib import Path

from equiformers.cli.main import configure_logging
from equiformers.training.config import load_run_config
from equiformers.training.run import train

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "demo-qm9-gap.yaml"


def main() -> int:
    configure_logging()
    run = load_run_config(CONFIG, sys.argv[1:])
    start = time.time()
    metrics = train(run)
    minutes = (time.time() - start) / 60
    mae, base = metrics["mae"]["gap"], metrics["baseline_mae_train_mean"]["gap"]
    out = Path(run.output_dir)
    print()
    print(f"QM9 HOMO-LUMO gap, {metrics['num_graphs']} held-out test molecules, {minutes:.1f} min in all")
    print(f"  Equiformer (small)         test MAE {mae:8.1f} meV")
    print(f"  predicting the train mean  test MAE {base:8.1f} meV")
    print(f"  ratio {mae / base:.3f}")
    print(f"plots: {out / 'parity_gap.png'}, {out / 'learning_curve_gap.png'}; model: {out / 'model.pt'}")
    if mae >= 0.5 * base:
        print("FAILED: the model is not well under half of the baseline MAE")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
