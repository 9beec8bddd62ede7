"""``equiformers train``: build data and model from a run config, fit with Lightning, export, test, plot."""

import json
import logging
import warnings
from pathlib import Path
from typing import Any, Dict

import lightning as L
import torch
from lightning.pytorch.callbacks import EMAWeightAveraging, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from ..data.statistics import fit_atom_energies, force_rms, graph_statistics, target_statistics
from ..errors import CheckpointError, ConfigError
from ..models.registry import build_model, resolve_model_spec
from .checkpoint import read_model_record, save_model
from .config import RunConfig
from .datamodule import AtomicDataModule
from .energy_force import EnergyForceTask
from .inference import evaluate
from .module import RegressionTask
from .plots import learning_curve, parity_plot
from .progress import TimeEstimate, describe_summary, training_summary

log = logging.getLogger(__name__)


def resolve_model_for_data(run: RunConfig, datamodule: AtomicDataModule) -> Dict[str, Any]:
    """The model spec with outputs set to the targets and normalisation constants from the training data."""
    spec = resolve_model_spec(run.model)
    config = dict(spec.get("config", {}))
    config["outputs"] = list(run.data.targets)
    datamodule.cutoff = config.get("cutoff", 5.0)  # statistics at the model's own cutoff
    missing = [k for k in ("avg_degree", "avg_num_nodes") if config.get(k) is None]
    if missing:
        stats = graph_statistics(datamodule.dataset("train"), run.data.statistics_samples, seed=run.seed)
        log.info("training-data statistics (%d graphs): avg_degree %.4f, avg_num_nodes %.4f",
                 stats["samples"], stats["avg_degree"], stats["avg_num_nodes"])
        for key in missing:
            config[key] = stats[key]
    return {"model": spec["model"], "config": config}


def _existing_model_spec(checkpoint: Path) -> Dict[str, Any]:
    try:
        return read_model_record(checkpoint)["model"]
    except CheckpointError as err:
        raise CheckpointError(f"cannot resume from {checkpoint}: {err}") from None


def train(run: RunConfig) -> Dict[str, Any]:
    """Train, keep the best validation checkpoint, export ``model.pt``, test it and write plots.

    Returns the test metrics (also written to ``output_dir/test_metrics.json``).
    """
    out = Path(run.output_dir)
    ckpt_dir = out / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    resume = run.training.resume and last.is_file()
    L.seed_everything(run.seed, workers=True, verbose=False)
    datamodule = AtomicDataModule(run.data, cutoff=5.0)
    spec = _existing_model_spec(last) if resume else resolve_model_for_data(run, datamodule)
    datamodule.cutoff = spec["config"].get("cutoff", 5.0)  # (a resumed run: no dataset was built yet)
    model = build_model(spec)
    train_set = datamodule.dataset("train")
    energy_model = run.data.dataset == "frames"
    if not resume:  # a resumed run takes all scaling buffers from its checkpoint
        (_scale_energy_model if energy_model else _scale_graph_model)(model, train_set, run)
    units = dict(getattr(train_set, "units", {}))
    run_dict = run.to_dict()
    run_dict["model"] = spec
    task = (EnergyForceTask if energy_model else RegressionTask)(model, run.data.targets, units, run.training,
                                                                  run_dict)

    monitor = "val/loss"
    callbacks = [ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=monitor, mode="min", save_last=True),
                 TimeEstimate()]
    if run.training.ema_decay:
        callbacks.append(EMAWeightAveraging(decay=run.training.ema_decay))
    # one log folder per (re)start: Lightning's CSV logger would overwrite an existing metrics.csv
    attempt = f"run{len(list((out / 'logs').glob('run*')))}"
    loggers = [CSVLogger(out, name="logs", version=attempt), TensorBoardLogger(out, name="tensorboard", version="")]
    trainer = L.Trainer(
        max_epochs=run.training.max_epochs, max_steps=run.training.max_steps or -1, accelerator=run.training.accelerator, devices=run.training.devices,
        precision=run.training.precision, gradient_clip_val=run.training.grad_clip, callbacks=callbacks,
        logger=loggers, check_val_every_n_epoch=run.training.val_every_epochs, log_every_n_steps=10,
        enable_progress_bar=run.training.progress_bar, enable_model_summary=False, default_root_dir=out,
        inference_mode=not energy_model,  # validating forces needs autograd
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "run_config.json").write_text(json.dumps(run_dict, indent=2))
    if resume:
        print(f"resuming from {last}")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*LeafSpec.*")
        warnings.filterwarnings("ignore", ".*smaller than the logging interval.*")
        trainer.fit(task, datamodule=datamodule, ckpt_path=str(last) if resume else None)
    if not trainer.is_global_zero:  # with DDP, one process exports, tests and plots
        return {"model_path": str(out / "model.pt")}
    summary = training_summary(trainer, task)
    log.info(describe_summary(summary, run.training.max_time_minutes))

    best = Path(callbacks[0].best_model_path) if callbacks[0].best_model_path else last
    if not best.is_file():
        raise CheckpointError(f"training produced no checkpoint in {ckpt_dir}")
    record = torch.load(best, map_location="cpu", weights_only=True)["equiformers"]
    model.load_state_dict(record["state_dict"])
    model_path = save_model(model, out / "model.pt", **record["metadata"])
    metrics = evaluate(str(model_path), "test", batch_size=run.data.eval_batch_size)
    metrics["training"] = summary
    (out / "test_metrics.json").write_text(json.dumps({k: v for k, v in metrics.items() if k != "_parity"},
                                                      indent=2))
    _write_plots(out, metrics, units)
    metrics["model_path"] = str(model_path)
    return metrics


def _scale_graph_model(model, train_set, run: RunConfig) -> None:
    stats = target_statistics(train_set.target_array().double())
    if run.training.standardize:
        model.head.set_standardization(stats["mean"], stats["std"])
    else:
        n_targets = len(run.data.targets)
        model.head.set_standardization(torch.full((n_targets,), run.training.output_shift or 0.0),
                                       torch.full((n_targets,), run.training.output_scale or 1.0))


def _scale_energy_model(model, train_set, run: RunConfig) -> None:
    """E0s per element (fitted or given), output scale from the force RMS (or energy std), no shift."""
    if run.data.targets != ["energy"]:
        raise ConfigError("energy/force training predicts data.targets: [energy]")
    embedding = model.atom_embedding
    setting = run.training.atom_energies
    if setting == "least_squares":
        e0 = fit_atom_energies(train_set, embedding.num_types, embedding.types)
    else:
        e0 = torch.zeros(embedding.num_types, dtype=torch.float64)
        if isinstance(setting, dict):
            from ase.data import atomic_numbers

            for symbol, value in setting.items():
                if symbol not in atomic_numbers:
                    raise ConfigError(f"training.atom_energies: unknown element {symbol!r}")
                row = int(embedding.type_of_z[atomic_numbers[symbol]])
                if row < 0:
                    raise ConfigError(f"training.atom_energies: the model has no element {symbol!r}")
                e0[row] = float(value)
    model.head.set_atom_reference(e0.unsqueeze(-1))
    residual = train_set.target_array().double().squeeze(-1)
    scale = force_rms(train_set) if run.training.force_rms_scaling else float(residual.std())
    model.head.set_standardization(torch.zeros(1), torch.tensor([max(scale, 1e-6)]))
    log.info("energy model: E0 %s; output scale %.4g eV", "fitted" if setting == "least_squares" else setting,
             scale)


def _write_plots(out: Path, metrics: Dict[str, Any], units: Dict[str, str]) -> None:
    for name, (pred, target) in metrics["_parity"].items():
        unit = metrics["units"].get(name, units.get(name, ""))
        parity_plot(pred, target, name, unit, out / f"parity_{name}.png", metrics["mae"][name])
        learning_curve(sorted((out / "logs").glob("run*/metrics.csv"), key=lambda p: int(p.parent.name[3:])),
                       out / f"learning_curve_{name}.png", name, unit)


def check_run_config(run: RunConfig) -> None:
    """Fail early, before any data is loaded, on a model spec that cannot be built."""
    try:
        resolve_model_spec(run.model)
    except ConfigError as err:
        raise ConfigError(f"model: {err}") from None
