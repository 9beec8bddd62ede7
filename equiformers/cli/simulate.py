"""``equiformers md``, ``equiformers relax`` and ``equiformers data``: ASE driven by a saved model."""

import warnings
from pathlib import Path

import numpy as np

from ..errors import ConfigError, EquiformersWarning, InvalidStructureError
from .options import add_structure_options, check_ranges, structure_policy


def read_frame(path: str, index: int):
    """Frame ``index`` of a structure file; negative indices count from the end, as in Python."""
    from ..training.inference import read_structures

    frames = read_structures(path)
    if not -len(frames) <= index < len(frames):
        raise ConfigError(f"--frame {index} is out of range: {path} has {len(frames)} frame(s) "
                          f"(valid: {-len(frames)} to {len(frames) - 1}; negative counts from the end)")
    return frames[index]


def load_calculator(args, atoms):
    """The calculator of ``args.checkpoint``, attached to ``atoms`` and checked on them at once
    (unknown elements, overlapping atoms and oversized graphs fail before any step is taken)."""
    import torch

    from ..calculators import EquiformerCalculator

    atoms.calc = EquiformerCalculator(args.checkpoint, device=args.device,
                                      dtype=torch.float64 if args.float64 else torch.float32,
                                      max_edges=args.max_edges, **structure_policy(args))
    atoms.get_potential_energy()
    return atoms.calc


class RunawayWatch:
    """Warns once when MD runs away: the temperature above ``max_temperature`` (K), or (NVE) the
    total energy drifting more than ``max_drift`` eV per atom from the start."""

    def __init__(self, dyn, atoms, max_temperature: float, max_drift: float, check_energy: bool):
        self.dyn, self.atoms, self.max_temperature, self.max_drift = dyn, atoms, max_temperature, max_drift
        self.start = atoms.get_total_energy() if check_energy else None
        self.warned = set()

    def __call__(self) -> None:
        temperature = self.atoms.get_temperature()
        if "temperature" not in self.warned and temperature > self.max_temperature:
            self.warned.add("temperature")
            warnings.warn(f"MD is running away: {temperature:.0f} K at step {self.dyn.nsteps}, above "
                          f"{self.max_temperature:.0f} K (--max-temperature); the model may be unstable for this "
                          "structure, or --timestep too large", EquiformersWarning, stacklevel=2)
        if self.start is not None and "energy" not in self.warned:
            drift = (self.atoms.get_total_energy() - self.start) / len(self.atoms)
            if abs(drift) > self.max_drift:
                self.warned.add("energy")
                warnings.warn(f"NVE total energy drifted by {drift:+.4f} eV/atom by step {self.dyn.nsteps}, more than "
                              f"{self.max_drift:g} (--max-energy-drift): the trajectory is not trustworthy; try a "
                              "smaller --timestep, --float64, or a model trained with smooth_cutoff",
                              EquiformersWarning, stacklevel=2)


def set_initial_momenta(atoms, args, rng) -> None:
    """Maxwell-Boltzmann velocities at ``--temperature`` (rest at 0 K) unless ``--keep-momenta``.

    A frame written by MD carries the momenta of that run's temperature; keeping them silently would
    ignore ``--temperature``, so replacing or keeping them is always reported."""
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    had_momenta = bool(atoms.get_momenta().any())
    input_temperature = atoms.get_temperature() if had_momenta else 0.0
    if args.keep_momenta:
        print(f"note: keeping the input frame's momenta (T = {input_temperature:.0f} K; --keep-momenta)"
              if had_momenta else "note: the input frame has no momenta, so --keep-momenta starts from rest",
              flush=True)
        return
    if args.temperature > 0:
        MaxwellBoltzmannDistribution(atoms, temperature_K=args.temperature, rng=rng)
        replacement = f"Maxwell-Boltzmann velocities at {args.temperature:g} K"
    else:
        atoms.set_momenta(np.zeros((len(atoms), 3)))
        replacement = "zero velocities (--temperature 0)"
    if had_momenta:
        print(f"note: the input frame's momenta (T = {input_temperature:.0f} K) were replaced by {replacement}; "
              "--keep-momenta keeps them", flush=True)


def run_md(args) -> None:
    """Molecular dynamics (NVE velocity Verlet, or Langevin NVT with --temperature and --friction)."""
    from ase import units
    from ase.io.trajectory import Trajectory
    from ase.md.langevin import Langevin
    from ase.md.verlet import VelocityVerlet

    check_ranges(args, positive=("timestep", "interval", "log_interval", "max_temperature", "max_energy_drift"),
                 non_negative=("steps", "temperature", "friction"))
    atoms = read_frame(args.structure, args.frame)
    load_calculator(args, atoms)
    if not atoms.calc.model.smooth_at_cutoff:
        print("note: this model was trained with smooth_cutoff off (the paper's softmax): its energy jumps "
              "when a pair crosses the cutoff, so NVE energy drifts in steps; train with "
              "model.smooth_cutoff: true for MD", flush=True)
    rng = np.random.default_rng(args.seed)
    set_initial_momenta(atoms, args, rng)
    dt = args.timestep * units.fs
    if args.friction > 0:
        dyn = Langevin(atoms, timestep=dt, temperature_K=args.temperature, friction=args.friction / units.fs,
                       fixcm=False, rng=rng)
    else:
        dyn = VelocityVerlet(atoms, timestep=dt)
    trajectory = Trajectory(args.output, "w", atoms)
    dyn.attach(trajectory.write, interval=args.interval)
    start = atoms.get_total_energy()
    max_temperature = args.max_temperature or max(3 * args.temperature, args.temperature + 1000.0,
                                                  3 * atoms.get_temperature())
    dyn.attach(RunawayWatch(dyn, atoms, max_temperature, args.max_energy_drift, check_energy=args.friction == 0))
    dyn.attach(lambda: print(f"step {dyn.nsteps:7d}  E_pot {atoms.get_potential_energy():12.5f} eV  "
                             f"E_tot {atoms.get_total_energy():12.5f} eV  T {atoms.get_temperature():7.1f} K",
                             flush=True), interval=args.log_interval)
    try:
        dyn.run(args.steps)
    except InvalidStructureError as err:  # e.g. atoms driven onto each other: stop with what was written
        raise InvalidStructureError(f"MD stopped at step {dyn.nsteps} (trajectory so far in {args.output}): {err}"
                                    ) from None
    finally:
        trajectory.close()
    print(f"{args.steps} steps; total energy changed by {atoms.get_total_energy() - start:+.5f} eV; "
          f"trajectory written to {args.output}")


def run_relax(args) -> None:
    """Geometry optimisation (BFGS or FIRE) to ``--fmax``; writes the trajectory and the final structure."""
    from ase.io import write
    from ase.optimize import BFGS, FIRE

    check_ranges(args, positive=("fmax",), non_negative=("steps",))
    atoms = read_frame(args.structure, args.frame)
    load_calculator(args, atoms)
    start = atoms.get_potential_energy()
    optimiser = {"bfgs": BFGS, "fire": FIRE}[args.optimizer](atoms, trajectory=args.output, logfile="-")
    converged = optimiser.run(fmax=args.fmax, steps=args.steps)
    final = Path(args.output).with_suffix(".final.xyz")
    write(final, atoms)
    print(f"{'converged' if converged else 'NOT converged'} after {optimiser.nsteps} steps: "
          f"E {start:.5f} -> {atoms.get_potential_energy():.5f} eV, max force "
          f"{np.abs(atoms.get_forces()).max():.4f} eV/Å; final structure {final}")


def run_data_md17_xtb(args) -> None:
    from ..data.generate_xtb import MDSettings, generate_md17_xtb

    check_ranges(args, positive=("interval", "timestep"), non_negative=("steps", "temperature"))
    settings = MDSettings(steps=args.steps, interval=args.interval, timestep_fs=args.timestep,
                          temperature_K=args.temperature, seed=args.seed)
    path = generate_md17_xtb(args.molecule, args.output, settings, smiles=args.smiles)
    print(f"frames: {path} (extxyz, eV); {path.with_suffix('.npz')} (revised-MD17 layout, kcal/mol)")


def run_data_corpus(args) -> None:
    import json

    from ..data.blocks.corpus import build_corpus, corpus_report, describe_report, save_corpus

    check_ranges(args, positive=("max_atoms",), non_negative=("qm9",))
    corpus = build_corpus(args.sources, qm9=args.qm9, max_atoms=args.max_atoms, strict=args.strict)
    path = save_corpus(corpus, args.output)
    report = corpus_report(corpus)
    Path(path).with_suffix(".report.json").write_text(json.dumps(report, indent=2))
    print(f"corpus: {path} (report: {Path(path).with_suffix('.report.json')})\n{describe_report(report)}")


def run_data_bfactors(args) -> None:
    import json

    from ..data.blocks.bfactor_corpus import bfactor_report, build_bfactor_corpus, describe_bfactor_report
    from ..data.blocks.corpus import save_corpus

    check_ranges(args, positive=("max_atoms", "group_identity"))
    corpus = build_bfactor_corpus(args.sources, max_atoms=args.max_atoms, group_identity=args.group_identity,
                                  strict=args.strict)
    path = save_corpus(corpus, args.output)
    report = bfactor_report(corpus)
    Path(path).with_suffix(".report.json").write_text(json.dumps(report, indent=2))
    print(f"B-factor data: {path} (report: {Path(path).with_suffix('.report.json')})\n"
          f"{describe_bfactor_report(report)}")


def add_commands(sub) -> None:
    common = {"--device": dict(default=None, help="cpu or cuda (default: cuda if available)"),
              "--frame": dict(type=int, default=-1, help="which frame of the structure file (default: last)"),
              "--float64": dict(action="store_true", help="run the model in float64")}
    p = sub.add_parser("md", help="molecular dynamics with a trained energy model")
    p.add_argument("checkpoint")
    p.add_argument("structure", help="any file ASE reads")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--timestep", type=float, default=0.5, help="fs")
    p.add_argument("--temperature", type=float, default=300.0,
                   help="K: Maxwell-Boltzmann initial velocities (replacing the frame's momenta) and Langevin target")
    p.add_argument("--keep-momenta", action="store_true",
                   help="start from the input frame's momenta instead of drawing velocities at --temperature")
    p.add_argument("--friction", type=float, default=0.0, help="1/fs; > 0 selects Langevin NVT, 0 is NVE")
    p.add_argument("--interval", type=int, default=10, help="write every N steps")
    p.add_argument("--log-interval", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default="md.traj")
    p.add_argument("--max-temperature", type=float, default=None,
                   help="K: warn when the temperature exceeds this (default: max(3 T, T + 1000 K))")
    p.add_argument("--max-energy-drift", type=float, default=0.05,
                   help="eV/atom: NVE warns when the total energy drifts more than this (default 0.05)")
    for flag, kw in common.items():
        p.add_argument(flag, **kw)
    add_structure_options(p)
    p.set_defaults(func=run_md)
    p = sub.add_parser("relax", help="geometry optimisation with a trained energy model")
    p.add_argument("checkpoint")
    p.add_argument("structure")
    p.add_argument("--fmax", type=float, default=0.01, help="eV/Å")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--optimizer", choices=["bfgs", "fire"], default="bfgs")
    p.add_argument("--output", default="relax.traj")
    for flag, kw in common.items():
        p.add_argument(flag, **kw)
    add_structure_options(p)
    p.set_defaults(func=run_relax)
    p = sub.add_parser("data", help="generate reference data")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    q = data_sub.add_parser("md17-xtb", help="MD17-style frames from GFN2-xTB Langevin MD at 500 K")
    q.add_argument("molecule", help="aspirin, benzene, ethanol, malonaldehyde, naphthalene, salicylic_acid, "
                                    "toluene, uracil (or any name with --smiles)")
    q.add_argument("--smiles", default=None)
    q.add_argument("--steps", type=int, default=20_000)
    q.add_argument("--interval", type=int, default=10, help="keep every N-th step")
    q.add_argument("--timestep", type=float, default=0.5, help="fs")
    q.add_argument("--temperature", type=float, default=500.0)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--output", default="data", help="output folder")
    q.set_defaults(func=run_data_md17_xtb)
    q = data_sub.add_parser("corpus", help="a block corpus for denoising pretraining (EPT) from PDB/mmCIF/SDF/MOL2 "
                                           "files and folders, with a size/coverage report")
    q.add_argument("sources", nargs="*", help="structure files or folders (searched recursively)")
    q.add_argument("--qm9", type=int, default=0, help="also the first N molecules of QM9's training split")
    q.add_argument("--max-atoms", type=int, default=None,
                   help="cut larger structures into contiguous windows of whole blocks of at most this many atoms")
    q.add_argument("--strict", action="store_true", help="stop at the first unreadable file instead of skipping it")
    q.add_argument("--output", default="corpus.pt", help="corpus file (.pt); the report goes beside it")
    q.set_defaults(func=run_data_corpus)
    q = data_sub.add_parser("bfactors", help="per-residue B-factor labels (z-scored per chain) of real X-ray "
                                             "structures, cut into windows and grouped by protein (EPT fine-tuning)")
    q.add_argument("sources", nargs="+", help="PDB/mmCIF files or folders (searched recursively), or "
                                              "'mdanalysistests' (the protein-data extra)")
    q.add_argument("--max-atoms", type=int, default=1024, help="atoms per window (default 1024)")
    q.add_argument("--group-identity", type=float, default=0.3,
                   help="structures whose chains align at this sequence identity share a split group (0.3)")
    q.add_argument("--strict", action="store_true", help="stop at the first refused file instead of skipping it")
    q.add_argument("--output", default="bfactors.pt", help="data file (.pt); the report goes beside it")
    q.set_defaults(func=run_data_bfactors)
