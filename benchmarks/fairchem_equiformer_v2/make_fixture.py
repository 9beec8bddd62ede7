"""Make ``tests/fixtures/fairchem/``: small random-initialised fairchem-core 1.10 EquiformerV2
checkpoints, written by fairchem's own trainer (``*.pt``, fairchem's exact file layout), and
fairchem's predictions on real structures (``reference.pt``, tensors only).
``tests/models/equiformer_v2/test_fairchem_checkpoints.py`` loads each checkpoint with
``equiformers.training.load_model`` and matches them.

    .venv/bin/python benchmarks/fairchem_equiformer_v2/make_fixture.py [--venv .fairchem-venv]

fairchem runs in its own virtual environment, created on first use (environment.py: the official
``fairchem-core==1.10.0`` from PyPI with torch kept at ours, plus shims for its compiled imports);
the fairchem side is ``fairchem_side.py``.

Cases (every parameter perturbed away from its initialisation; normalizers as fairchem stores them):
  ``eqv2_molecule_direct``: the flat (pre-hydra) ``equiformer_v2`` model, direct forces, molecule;
  ``eqv2_periodic_direct``: hydra backbone + energy/force heads, periodic, OC22-style
      ``energy_lin_ref`` inside the model (fairchem 1.10 keeps it for strict loading, never adds it);
  ``eqv2_molecule_gradient`` / ``eqv2_periodic_gradient``: hydra backbone + energy head only
      (fairchem 1.10 has no gradient-force mode for EquiformerV2: forces and stress are finite
      differences of its float64 energy);
  ``eqV2_omat_style``: fairchem's released OMat24 ``eqV2_*`` layout (``configs/omat24/all/eqV2_31M.yml``:
      trainer, outputs with the stress decomposition, losses, hydra with ``max_num_elements: 96``,
      its data statistics, ``enforce_max_neighbors_strictly: false``, energy/force heads and the
      ``rank2_symmetric_head`` stress head; element references and four normalizers), small sizes
      and a cutoff/neighbour cap that do not bind (the caps' tie rules differ, see the README).
Structures: acetamide from ASE's g2 set (rattled), the real OC20 S2EF frame (CO on Al8Cu8Se16,
34 atoms) and a rutile RuO2 cell from the shared materials data (rattled).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import DEFAULT_VENV, FAIRCHEM, HERE, REPO, ensure_venv, fairchem_env  # noqa: E402

OUTPUT = REPO / "tests" / "fixtures" / "fairchem"
MATERIALS = REPO.parent / "shared" / "data" / "materials"
SEEDS = [0, 1, 2, 3, 4]

#: a small EquiformerV2 in fairchem's key names (the released configs' switches, tiny widths; a
#: coarser grid than the released 18: fairchem stores its S² grid
#: matrices in the state dict, and they would dominate the fixtures' size)
SMALL = {"num_layers": 2, "sphere_channels": 8, "attn_hidden_channels": 8, "num_heads": 2,
         "attn_alpha_channels": 4, "attn_value_channels": 4, "ffn_hidden_channels": 8, "norm_type": "layer_norm_sh",
         "lmax_list": [2], "mmax_list": [1], "grid_resolution": 10, "num_sphere_samples": 128, "edge_channels": 8,
         "use_atom_edge_embedding": True, "share_atom_edge_embedding": False, "use_m_share_rad": False,
         "distance_function": "gaussian", "num_distance_basis": 512, "attn_activation": "silu",
         "use_s2_act_attn": False, "use_attn_renorm": True, "ffn_activation": "silu", "use_gate_act": False,
         "use_grid_mlp": True, "use_sep_s2_act": True, "alpha_drop": 0.1, "drop_path_rate": 0.1, "proj_drop": 0.0,
         "weight_init": "uniform"}
ENERGY = {"energy": {"level": "system"}}
FORCES = {"forces": {"level": "atom", "train_on_free_atoms": True, "eval_on_free_atoms": True}}
LOSSES = [{"energy": {"fn": "mae", "coefficient": 4}}, {"forces": {"fn": "l2mae", "coefficient": 100}}]
METRICS = {"metrics": {"energy": ["mae"], "forces": ["mae"]}, "primary_metric": "forces_mae"}
OPTIM = {"batch_size": 4, "eval_batch_size": 4, "num_workers": 0, "lr_initial": 2e-4, "optimizer": "AdamW",
         "optimizer_params": {"weight_decay": 1e-3}, "max_epochs": 1, "clip_grad_norm": 100, "ema_decay": 0.999}


def hydra(backbone: dict, heads: dict) -> dict:
    return {"name": "hydra", "otf_graph": True, "pass_through_head_outputs": True,
            "backbone": {"model": "equiformer_v2_backbone", **backbone}, "heads": heads}


def cases() -> list:
    molecule = {"use_pbc": False, "regress_forces": True, "otf_graph": True, "max_neighbors": 50, "max_radius": 5.0,
                "max_num_elements": 90, **SMALL}
    periodic = {**molecule, "use_pbc": True, "max_neighbors": 500, "max_radius": 6.0,
                "enforce_max_neighbors_strictly": False}
    energy_head = {"energy": {"module": "equiformer_v2_energy_head"}}
    direct_heads = {**energy_head, "forces": {"module": "equiformer_v2_force_head"}}
    common = {"optim": OPTIM, "seeds": SEEDS}
    omat_outputs = {
        "energy": {"level": "system", "property": "energy"},
        "forces": {"level": "atom", "property": "forces", "train_on_free_atoms": True, "eval_on_free_atoms": True},
        "stress": {"level": "system", "property": "stress",
                   "decomposition": {"stress_isotropic": {"irrep_dim": 0}, "stress_anisotropic": {"irrep_dim": 2}}},
    }
    omat_losses = [{"energy": {"fn": "per_atom_mae", "coefficient": 2.5}},
                   {"forces": {"fn": "l2mae", "coefficient": 20}},
                   {"stress_isotropic": {"fn": "mae", "coefficient": 5}},
                   {"stress_anisotropic": {"fn": "mae", "reduction": "mean", "coefficient": 5}}]
    return [
        {"name": "eqv2_molecule_direct", "trainer": "equiformerv2_forces", "seed": 10, "structures": ["acetamide"],
         "model": {"name": "equiformer_v2", **molecule}, "outputs": {**ENERGY, **FORCES},
         "loss_functions": LOSSES, "evaluation_metrics": METRICS, "normalizers": {"energy": [-0.7554, 2.8873],
                                                                                  "forces": [0.0, 2.8873]}, **common},
        {"name": "eqv2_periodic_direct", "trainer": "ocp", "seed": 11, "structures": ["oc20_frame"],
         "model": hydra({**periodic, "use_energy_lin_ref": True, "load_energy_lin_ref": True, "num_layers": 1},
                        direct_heads),
         "outputs": {**ENERGY, **FORCES}, "loss_functions": LOSSES, "evaluation_metrics": METRICS,
         "normalizers": {"energy": [0.0, 1.7], "forces": [0.0, 1.7]}, **common},
        {"name": "eqv2_molecule_gradient", "trainer": "ocp", "seed": 12, "structures": ["acetamide"],
         "model": hydra({**molecule, "num_layers": 1}, energy_head), "outputs": ENERGY, "loss_functions": LOSSES[:1],
         "evaluation_metrics": {"metrics": {"energy": ["mae"]}, "primary_metric": "energy_mae"},
         "normalizers": {"energy": [0.3, 2.0]}, "finite_differences": True, **common},
        {"name": "eqv2_periodic_gradient", "trainer": "ocp", "seed": 13, "structures": ["ruo2"],
         "model": hydra({**periodic, "max_radius": 5.0, "num_layers": 1}, energy_head), "outputs": ENERGY,
         "loss_functions": LOSSES[:1], "evaluation_metrics": {"metrics": {"energy": ["mae"]},
                                                              "primary_metric": "energy_mae"},
         "normalizers": {"energy": [0.0, 1.5]}, "elementrefs": True, "finite_differences": True, **common},
        {"name": "eqV2_omat_style", "trainer": "equiformerv2_forces", "seed": 14, "structures": ["ruo2"],
         "model": hydra({**periodic, "use_pbc_single": True, "max_num_elements": 96, "lmax_list": [3], "mmax_list": [2],
                         "grid_resolution": 12, "num_layers": 1,
                         "avg_num_nodes": 31.17, "avg_degree": 61.95},
                        {**direct_heads, "stress": {"module": "rank2_symmetric_head", "output_name": "stress",
                                                    "use_source_target_embedding": True, "decompose": True}}),
         "outputs": omat_outputs, "loss_functions": omat_losses,
         "evaluation_metrics": {"metrics": {"energy": ["mae"], "forces": ["mae"], "stress": ["mae"]},
                                "primary_metric": "energy_mae"},
         "normalizers": {"energy": [0.0, 1.3], "forces": [0.0, 1.3], "stress_isotropic": [0.0, 0.02],
                         "stress_anisotropic": [0.0, 0.02]}, "elementrefs": True, **common},
    ]


def structures() -> dict:
    """Real structures as plain tensors (positions Å, float64)."""
    from ase.build import molecule
    from ase.db import connect
    from ase.io import read

    acetamide = molecule("CH3CONH2")
    acetamide.rattle(0.05, seed=0)
    frame = read(MATERIALS / "oc20_s2ef_frame.json")
    ruo2 = connect(MATERIALS / "oxides.db").get(id=121).toatoms()  # Ru2O4, rutile
    ruo2.rattle(0.05, seed=1)
    # A generic orientation: the fixed edge frames switch chart where an edge crosses the xz-plane,
    # which the images along an axis-aligned lattice vector sit on (finite differences of the
    # stress would straddle the switch; the models feel it only at grid-aliasing level).
    ruo2.rotate(37.0, (1.0, 2.0, 3.0), rotate_cell=True)
    out = {}
    for name, atoms in {"acetamide": acetamide, "oc20_frame": frame, "ruo2": ruo2}.items():
        out[name] = {"numbers": torch.tensor(atoms.numbers), "positions": torch.tensor(atoms.positions),
                     "cell": torch.tensor(np.asarray(atoms.cell.array)), "pbc": torch.tensor(atoms.pbc)}
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    python = ensure_venv(args.venv)
    inputs = structures()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "cases.json").write_text(json.dumps(cases()))
        torch.save(inputs, folder / "structures.pt")
        subprocess.run([str(python), str(HERE / "fairchem_side.py"), folder / "cases.json", folder / "structures.pt",
                        folder / "out"], env=fairchem_env(), check=True)
        record = torch.load(folder / "out" / "fairchem_outputs.pt", weights_only=True)
        args.output.mkdir(parents=True, exist_ok=True)
        for case in record["cases"].values():
            (args.output / case["file"]).write_bytes((folder / "out" / case["file"]).read_bytes())
    record.update(structures=inputs, fairchem=FAIRCHEM, seeds=SEEDS)
    torch.save(record, args.output / "reference.pt")
    total = sum(p.stat().st_size for p in args.output.glob("*.pt"))
    print(f"{args.output}: {len(record['cases'])} checkpoints + reference.pt, {total / 1e3:.0f} kB in all")


if __name__ == "__main__":
    main()
