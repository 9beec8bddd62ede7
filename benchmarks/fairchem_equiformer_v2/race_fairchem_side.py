"""The fairchem side of ``race.py``: runs in fairchem's own environment, never in ours.

    python race_fairchem_side.py checkpoint CASES.json OUT_DIR          # write checkpoints (fairchem's trainer)
    python race_fairchem_side.py time CHECKPOINT STRUCTURES.pt SYSTEM MODE REPEATS
    python race_fairchem_side.py rotate CHECKPOINT STRUCTURES.pt SYSTEM SEED

``time`` prints one JSON line: the median seconds of ``MODE`` (``forward``: energy and direct forces
without gradients; ``train_step``: energy + force loss, backward, AdamW step) on the structures of
``SYSTEM``, from positions (fairchem builds its graph inside ``forward``: ``otf_graph``), the peak
tensor memory of one more call and the process's peak RSS. ``rotate`` prints energies and forces of
the structure and of a rotated copy (fairchem as shipped: a random edge roll on every call).
"""

import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import fairchem_side  # noqa: E402  (its graph-building patches, trainer-written checkpoints)
from fairchem_side import OCPCalculator, data_list_collater, to_atoms, use_frames, write_checkpoint  # noqa: E402
from peak_memory import PeakTensorMemory, peak_rss_mb  # noqa: E402


def load(checkpoint: str):
    calc = OCPCalculator(checkpoint_path=checkpoint, cpu=True, seed=0)
    use_frames("random")  # as shipped
    return calc


def batch_of(calc, structures):
    return data_list_collater([calc.a2g.convert(to_atoms(s)) for s in structures], otf_graph=True)


def time_mode(checkpoint: str, structures_path: str, system: str, mode: str, repeats: int) -> dict:
    calc = load(checkpoint)
    model = calc.trainer.model
    structures = torch.load(structures_path, weights_only=True)[system]
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train(mode == "train_step")

    def step():
        batch = batch_of(calc, structures)  # from positions, as ours (graph built in forward)
        if mode == "forward":
            with torch.no_grad():
                model(batch)
            return
        optimiser.zero_grad()
        out = model(batch)
        loss = out["energy"].abs().mean() + 80 * out["forces"].norm(dim=-1).mean()
        loss.backward()
        optimiser.step()

    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    with PeakTensorMemory() as meter:
        step()
    return {"seconds": statistics.median(times), "peak_tensor_mb": meter.peak_mb,
            "peak_rss_mb": peak_rss_mb(),
            "parameters": sum(p.numel() for p in model.parameters())}


def rotated_outputs(checkpoint: str, structures_path: str, system: str, seed: int) -> dict:
    calc = load(checkpoint)
    structure = torch.load(structures_path, weights_only=True)[system][0]
    rotation = torch.load(structures_path, weights_only=True)["rotations"][seed].float()
    turned = dict(structure, positions=structure["positions"] @ rotation.double().T,
                  cell=structure["cell"] @ rotation.double().T)
    calc.trainer.model.eval()
    out = {}
    for name, s in (("plain", structure), ("turned", turned)):
        torch.manual_seed(seed)
        with torch.no_grad():
            result = calc.trainer.model(batch_of(calc, [s]))
        out[name] = {"energy": float(result["energy"].sum()), "forces": result["forces"].double().tolist()}
    return out


def main():
    command = sys.argv[1]
    if command == "checkpoint":
        cases, folder = json.loads(Path(sys.argv[2]).read_text()), Path(sys.argv[3])
        folder.mkdir(parents=True, exist_ok=True)
        for case in cases:
            path = write_checkpoint(case, folder)
            print(json.dumps({"case": case["name"], "file": str(path)}))
        return
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if command == "time":
        print(json.dumps(time_mode(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]))))
    elif command == "rotate":
        print(json.dumps(rotated_outputs(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))))


if __name__ == "__main__":
    fairchem_side.logging.disable(fairchem_side.logging.WARNING)
    fairchem_side.setup_imports()
    main()
