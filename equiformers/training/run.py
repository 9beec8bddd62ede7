"""``equiformers train``: build data and model from a run config, fit with Lightning, export, test, plot."""

import dataclasses
import json
import logging
import warnings
from pathlib import Path
from typing import Any, Dict

import lightning as L
import torch
from lightning.pytorch.callbacks import EMAWeightAveraging, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from ..data.datasets import PreparedDataset, needs_bonds
from ..data.domain import TrainingDomain
from ..data.statistics import graph_statistics
from ..errors import CheckpointError, ConfigError
from ..models.registry import build_model, family_class, graph_spec_of, resolve_model_spec
from ..tasks.base import Task, build_task
from .checkpoint import read_model_record, save_model
from .config import RunConfig
from .datamodule import AtomicDataModule
from .inference import evaluate
from .module import TaskModule
from .plots import learning_curve, parity_plots
from .progress import TimeEstimate, describe_summary, training_summary

log = logging.getLogger(__name__)


def base_model_spec(model: Any) -> Dict[str, Any]:
    """``resolve_model_spec``, plus fine-tuning: ``{from: FILE, config, heads}`` is the file's
    architecture with ``config`` fields replaced and ``heads`` (if given) instead of the file's
    (:func:`~.config.check_model_from`)."""
    if not (isinstance(model, dict) and "from" in model):
        return resolve_model_spec(model)
    stored = read_model_record(Path(model["from"]))["model"]
    spec = {"model": stored["model"], "config": {**stored.get("config", {}), **(model.get("config") or {})}}
    if model.get("heads"):
        spec["heads"] = model["heads"]
    return resolve_model_spec(spec)


def initialise_from(model: torch.nn.Module, path: str) -> None:
    """Copy the weights of the model file ``path`` into ``model`` (fine-tuning): every tensor outside
    the heads, and those of heads declared exactly as in the file (with their output scaling).
    Raises :class:`ConfigError` when the backbone's tensors are missing from the file or do not fit
    (a ``model.config`` change that alters the architecture)."""
    record = read_model_record(Path(path))
    source, stored_heads = record["state_dict"], record["model"].get("heads") or {}
    kept_heads = [name for name, spec in model.head_specs.items() if stored_heads.get(name) == spec]
    kept_outputs = {o for name in kept_heads for o in model.heads[name].output_info()}
    wanted = {k for k in model.state_dict() if not k.startswith(("heads.", "output_scaling."))}
    wanted |= {k for k in model.state_dict() if k.split(".")[:2] in ([["heads", h] for h in kept_heads]
                                                                      + [["output_scaling", o] for o in kept_outputs])}
    target = model.state_dict()
    missing = sorted(k for k in wanted if k not in source)
    misfit = sorted(k for k in wanted if k in source and source[k].shape != target[k].shape)
    if missing or misfit:
        name = (missing or misfit)[0]
        detail = "absent from the file" if missing else f"{tuple(source[name].shape)} in the file, " \
                                                          f"{tuple(target[name].shape)} here"
        raise ConfigError(f"model.from {path}: {len(missing) + len(misfit)} backbone tensor(s) do not fit the model "
                          f"to fine-tune (e.g. {name}: {detail}); model.config may only change settings that "
                          "keep the architecture")
    model.load_state_dict({k: source[k] for k in wanted}, strict=False)
    log.info("fine-tuning from %s: %d tensors copied (backbone%s), new heads %s", path, len(wanted),
             f" + heads {kept_heads}" if kept_heads else "", sorted(set(model.head_specs) - set(kept_heads)))


def resolve_model_for_data(run: RunConfig, datamodule: AtomicDataModule, task: Task) -> Dict[str, Any]:
    """The model spec with the task's default heads (unless the spec declares heads) and
    normalisation constants computed from the training data."""
    spec = base_model_spec(run.model)
    heads = spec.get("heads") or task.default_heads()
    config = dict(spec.get("config", {}))
    family_fields = {f.name for f in dataclasses.fields(family_class(spec["model"]).Config)}
    missing = [k for k in ("avg_degree", "avg_num_nodes") if k in family_fields and config.get(k) is None]
    if missing:
        graph_spec = graph_spec_of({"model": spec["model"], "config": config})
        train_graphs = PreparedDataset(datamodule.raw_dataset("train"), graph_spec.build)
        stats = graph_statistics(train_graphs, run.data.statistics_samples, seed=run.seed)
        log.info("training-data statistics (%d graphs): avg_degree %.4f, avg_num_nodes %.4f",
                 stats["samples"], stats["avg_degree"], stats["avg_num_nodes"])
        for key in missing:
            config[key] = stats[key]
    return {"model": spec["model"], "config": config, "heads": heads}


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
    task = build_task(run.task, run.data.targets)
    if run.data.bonds is None:  # QM9 bonds from the SMILES when the model reads bond types
        run.data.bonds = needs_bonds(graph_spec_of(_existing_model_spec(last) if resume else base_model_spec(run.model)))
    datamodule = AtomicDataModule(run.data)
    spec = _existing_model_spec(last) if resume else resolve_model_for_data(run, datamodule, task)
    model = build_model(spec)
    tune = run.model if isinstance(run.model, dict) and "from" in run.model else {}
    if tune and not resume:  # fine-tuning: weights from the file (a resumed run has them in its checkpoint)
        initialise_from(model, tune["from"])
    if tune.get("freeze_backbone"):
        model.backbone.requires_grad_(False)  # AdamW skips parameters without gradients (no decay either)
        log.info("backbone frozen: training the heads only")
    task.check_model(model)
    datamodule.prepare = model.prepare
    if not resume:  # a resumed run takes all scaling buffers from its checkpoint
        task.fit_output_statistics(model, datamodule.raw_dataset("train"))
    domain = TrainingDomain.of_dataset(datamodule.raw_dataset("train"), model.graph_spec, seed=run.seed)
    log.info("training domain (recorded in the model file): %s", domain.describe())
    run_dict = run.to_dict()
    run_dict["model"] = spec
    module = TaskModule(model, task, run.training, run_dict, domain.to_dict())

    monitor = "val/loss"
    callbacks = [ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=monitor, mode="min", save_last=True),
                 TimeEstimate()]
    if run.training.ema_decay:
        callbacks.append(EMAWeightAveraging(decay=run.training.ema_decay))
    # one log folder per (re)start: Lightning's CSV logger would overwrite an existing metrics.csv
    attempt = f"run{len(list((out / 'logs').glob('run*')))}"
    loggers = [CSVLogger(out, name="logs", version=attempt), TensorBoardLogger(out, name="tensorboard", version="")]
    trainer = L.Trainer(
        max_epochs=run.training.max_epochs, max_steps=run.training.max_steps or -1,
        accelerator=run.training.accelerator, devices=run.training.devices,
        precision=run.training.precision, gradient_clip_val=run.training.grad_clip, callbacks=callbacks,
        logger=loggers, check_val_every_n_epoch=run.training.val_every_epochs, log_every_n_steps=10,
        enable_progress_bar=run.training.progress_bar, enable_model_summary=False, default_root_dir=out,
        inference_mode=not task.needs_autograd,  # e.g. validating forces as -dE/dx
        deterministic=run.training.deterministic,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "run_config.json").write_text(json.dumps(run_dict, indent=2))
    if resume:
        print(f"resuming from {last}")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*LeafSpec.*")
        warnings.filterwarnings("ignore", ".*smaller than the logging interval.*")
        warnings.filterwarnings("ignore", ".*exists and is not empty.*")  # resuming: our own checkpoints
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(last) if resume else None)
    if not trainer.is_global_zero:  # with DDP, one process exports, tests and plots
        return {"model_path": str(out / "model.pt")}
    summary = training_summary(trainer, module)
    log.info(describe_summary(summary, run.training.max_time_minutes))

    best = Path(callbacks[0].best_model_path) if callbacks[0].best_model_path else last
    if not best.is_file():
        raise CheckpointError(f"training produced no checkpoint in {ckpt_dir}")
    record = torch.load(best, map_location="cpu", weights_only=True)["equiformers"]
    model.load_state_dict(record["state_dict"])
    model_path = save_model(model, out / "model.pt", **record["metadata"])
    log.info("testing the best checkpoint (%s) on the test split", best.name)
    metrics = evaluate(str(model_path), "test", batch_size=run.data.eval_batch_size,
                       progress=run.training.progress_bar)
    metrics["training"] = summary
    (out / "test_metrics.json").write_text(json.dumps({k: v for k, v in metrics.items() if k != "_parity"},
                                                      indent=2))
    _write_plots(out, metrics)
    metrics["model_path"] = str(model_path)
    return metrics


def _write_plots(out: Path, metrics: Dict[str, Any]) -> None:
    parity_plots(metrics, out)
    logs = sorted((out / "logs").glob("run*/metrics.csv"), key=lambda p: int(p.parent.name[3:]))
    for name in metrics["_parity"]:
        learning_curve(logs, out / f"learning_curve_{name}.png", name, metrics["units"].get(name, ""))


def check_run_config(run: RunConfig) -> None:
    """Fail early, before any data is loaded, on a model spec (every config value checked) or a
    task that cannot be built."""
    try:
        graph_spec_of(base_model_spec(run.model))
    except ConfigError as err:
        raise ConfigError(f"model: {err}") from None
    build_task(run.task, run.data.targets)
