"""Runs INSIDE the official Equiformer's environment (e3nn 0.4.4): builds official models and
records what they compute. Started by ``make_fixture.py`` / ``race.py``, never imported by the library.

    python official_side.py fixture INPUTS.pt OUTPUT.pt       small random models in each mode, their
                                                              weights and outputs (float32)
    python official_side.py time INPUTS.pt MODE WHAT REPEATS  one timing in this process (JSON on stdout)

The official code is imported from the checkout on ``PYTHONPATH`` (package ``nets``) without its
``__init__``, which would pull in the OC20 trainers and OCP.
"""

import importlib
import json
import os
import sys
import time
import types

import torch

# mode -> (module, class, options besides the sizes); the sizes are the small ones of SMALL or a preset's
MODES = {
    "qm9_mlp_nonlinear": ("graph_attention_transformer", "GraphAttentionTransformer",
                          dict(nonlinear_message=True, basis_type="gaussian")),
    "qm9_mlp_linear": ("graph_attention_transformer", "GraphAttentionTransformer",
                       dict(nonlinear_message=False, basis_type="gaussian")),
    "qm9_dot_product": ("dp_attention_transformer", "DotProductAttentionTransformer",
                        dict(nonlinear_message=False)),  # Gaussian basis only
    "qm9_bessel": ("graph_attention_transformer", "GraphAttentionTransformer",
                   dict(nonlinear_message=True, basis_type="bessel")),
    "md17_exp": ("graph_attention_transformer_md17", "GraphAttentionTransformerMD17",
                 dict(nonlinear_message=True, basis_type="exp")),
}
SMALL = dict(irreps_node_embedding="16x0e+8x1e+4x2e", num_layers=2, irreps_node_attr="1x0e",
             irreps_sh="1x0e+1x1e+1x2e", max_radius=5.0, number_of_basis=16, fc_neurons=[16, 16],
             irreps_feature="32x0e", irreps_head="8x0e+4x1e+2x2e", num_heads=2,
             irreps_mlp_mid="48x0e+24x1e+12x2e", norm_layer="layer", alpha_drop=0.0)
PAPER = dict(irreps_node_embedding="128x0e+64x1e+32x2e", num_layers=6, irreps_node_attr="1x0e",
             irreps_sh="1x0e+1x1e+1x2e", max_radius=5.0, fc_neurons=[64, 64], irreps_feature="512x0e",
             irreps_head="32x0e+16x1e+8x2e", num_heads=4, irreps_mlp_mid="384x0e+192x1e+96x2e",
             norm_layer="layer")


def import_nets():
    import os

    for entry in sys.path:
        if os.path.isdir(os.path.join(entry, "nets")):
            package = types.ModuleType("nets")
            package.__path__ = [os.path.join(entry, "nets")]
            sys.modules["nets"] = package
            return
    raise SystemExit("the official checkout (with nets/) must be on PYTHONPATH")


def build(mode: str, sizes: dict):
    module_name, class_name, options = MODES[mode]
    cls = getattr(importlib.import_module(f"nets.{module_name}"), class_name)
    md17 = mode.startswith("md17")
    kwargs = dict(sizes, **options, irreps_in="64x0e" if md17 else "5x0e")
    if sizes is PAPER:
        kwargs["number_of_basis"] = 32 if md17 else (8 if options.get("basis_type") == "bessel" else 128)
        kwargs["alpha_drop"] = 0.0 if md17 else 0.2
    return cls(**kwargs), kwargs


def run(model, mode: str, molecule: dict, dtype=torch.float32):
    """Official outputs of one batch: the graph output [B] (and forces [N, 3] for MD17)."""
    pos = molecule["pos"].to(dtype).clone()
    batch, types_ = molecule["batch"], molecule["node_atom"]
    if mode.startswith("md17"):
        energy, forces = model(node_atom=types_, pos=pos, batch=batch)
        return energy.reshape(-1).detach(), forces.detach()
    return model(f_in=None, pos=pos, batch=batch, node_atom=types_).reshape(-1).detach(), None


def kept(state: dict) -> dict:
    """Parameters and meaningful buffers (not e3nn's compiled constants or masks)."""
    return {k: v.clone() for k, v in state.items()
            if not ("_compiled_main" in k or k.endswith("output_mask") or v.numel() == 0)}


def make_fixture(inputs_path: str, output_path: str) -> None:
    inputs = torch.load(inputs_path)
    record = {"official_commit": inputs["commit"], "modes": {}}
    for mode in MODES:
        torch.manual_seed(0)
        model, kwargs = build(mode, SMALL)
        with torch.no_grad():  # perturb every parameter: zero-initialised biases would hide mapping errors
            for p in model.parameters():
                p.add_(0.1 * torch.randn_like(p))
        model = model.eval()  # float32: the official embedding hard-codes .float()
        batch = inputs["md17" if mode.startswith("md17") else "qm9"]
        out, forces = run(model, mode, batch)
        record["modes"][mode] = {"kwargs": {k: v for k, v in kwargs.items() if k not in ("mean", "std")},
                                 "state_dict": kept(model.state_dict()), "output": out, "forces": forces}
        print(f"{mode}: {sum(p.numel() for p in model.parameters())} parameters, outputs {out.tolist()}",
              file=sys.stderr)
    torch.save(record, output_path)


def time_one(inputs_path: str, mode: str, what: str, repeats: int) -> None:
    """Median seconds of ``what`` (forward | forward_backward | energy_forces | train_step) at paper size."""
    inputs = torch.load(inputs_path)
    torch.manual_seed(0)
    model, _ = build(mode, PAPER)
    batch = dict(inputs["md17" if mode.startswith("md17") else "qm9"])
    batch["pos"], batch["forces"] = batch["pos"].float(), batch["forces"].float()
    model.train(what in ("forward_backward", "train_step"))
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        if what == "forward":
            with torch.no_grad():
                model(f_in=None, pos=batch["pos"], batch=batch["batch"], node_atom=batch["node_atom"])
        elif what == "forward_backward":
            out = model(f_in=None, pos=batch["pos"], batch=batch["batch"], node_atom=batch["node_atom"])
            out.sum().backward()
        elif what == "energy_forces":
            energy, forces = model(node_atom=batch["node_atom"], pos=batch["pos"].clone(), batch=batch["batch"])
        elif what == "train_step":  # energy + force loss, double backward, optimiser step (as main_md17)
            optimiser.zero_grad()
            energy, forces = model(node_atom=batch["node_atom"], pos=batch["pos"].clone(), batch=batch["batch"])
            loss = energy.abs().mean() + 80 * (forces - batch["forces"]).abs().mean()
            loss.backward()
            optimiser.step()

    step()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from peak_memory import peak_rss_mb

    times.sort()
    print(json.dumps({"seconds": times[len(times) // 2], "peak_rss_mb":
                      peak_rss_mb(),
                      "parameters": sum(p.numel() for p in model.parameters())}))


if __name__ == "__main__":
    import_nets()
    if sys.argv[1] == "fixture":
        make_fixture(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "time":
        time_one(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        raise SystemExit(__doc__)
