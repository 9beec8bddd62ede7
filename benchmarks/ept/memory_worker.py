"""One measurement of ``memory_scaling.py``, alone in its process: one forward+backward of a model on one
prepared batch, its time and peak memory. Prints one JSON line; run by the parent, not by hand:

    python benchmarks/ept/memory_worker.py SPEC_JSON BATCH.pt --repeats 3 --threads 2 [--warmup] [--meter]

* time: the median of ``--repeats`` timed steps (after one untimed warm-up step with ``--warmup``);
  a step is the gradient of the sum of all outputs with respect to the weights (a training step
  without the optimiser), train mode, float32;
* memory: ``peak_rss_mb`` (the process's peak resident set size, VmHWM: imports, weights and batch included)
  and ``rss_before_mb`` (before the first step), and with ``--meter`` ``peak_tensor_mb``: the largest total
  size of the tensors alive at once during one more step (``benchmarks/peak_memory.py``; weights and the
  batch not counted).

An allocation refused under the parent's address-space cap prints ``{"status": "out_of_memory"}``.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for peak_memory
from peak_memory import PeakTensorMemory  # noqa: E402

OUT_OF_MEMORY = ("can't allocate memory", "not enough memory", "bad_alloc", "cannot allocate", "out of memory")


def status_mb(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, MB. Not ``ru_maxrss``: Linux
    carries a forked parent's peak through ``exec`` into it, so a child would report at least the parent's RSS."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(spec, batch_path: Path, repeats: int, warmup: bool, meter: bool) -> dict:
    from equiformers import build_model

    torch.manual_seed(0)
    model = build_model(spec).float().train()
    batch = torch.load(batch_path, weights_only=True)
    batch = {k: v.float() if v.is_floating_point() else v for k, v in batch.items()}

    def step():
        model.zero_grad(set_to_none=True)
        sum(value.sum() for value in model(batch).values()).backward()

    before = status_mb("VmRSS")
    if warmup:
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    result = {"status": "ok", "seconds": statistics.median(times), "times": times, "rss_before_mb": before,
              "parameters": sum(p.numel() for p in model.parameters())}
    if meter:
        model.zero_grad(set_to_none=True)
        with PeakTensorMemory() as counter:
            step()
        result["peak_tensor_mb"] = counter.peak_mb
    result["peak_rss_mb"] = status_mb("VmHWM")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", help="model spec as JSON")
    parser.add_argument("batch", type=Path, help="a collated, prepared batch (torch.save of a dict of tensors)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", action="store_true")
    parser.add_argument("--meter", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # this process only
    try:
        result = measure(json.loads(args.spec), args.batch, args.repeats, args.warmup, args.meter)
    except (MemoryError, RuntimeError) as err:
        if not isinstance(err, MemoryError) and not any(text in str(err).lower() for text in OUT_OF_MEMORY):
            raise
        result = {"status": "out_of_memory", "message": str(err).splitlines()[0][:300],
                  "peak_rss_mb": status_mb("VmHWM")}
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
