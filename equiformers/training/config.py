"""Run configuration: YAML files with dotted command-line overrides, checked strictly.

A run config has these sections (all keys optional except ``model`` and ``data.dataset``)::

    model: equiformer-qm9          # preset name, model YAML path, or {preset: ..., <overrides>, heads: ...}
                                   # or {from: model.pt, ...}: fine-tuning (see check_model_from)
    data: {dataset: qm9, targets: [gap], ...}         # DataConfig
    task: {type: regression, loss: l1}                # what is learnt (equiformers.tasks)
    training: {max_epochs: 300, lr: 5.0e-4, ...}      # TrainingConfig: optimiser, schedule, trainer
    output_dir: runs/qm9-gap
    seed: 0

Version 0.1 kept the task's settings under ``training:`` and chose the task from the dataset;
such configs still load: the settings move to ``task:`` and the type follows the dataset
(``frames``: energy_forces, else regression), with a log line saying so.
"""

import copy
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import yaml

from ..errors import ConfigError
from ..models.config import config_from_dict, config_to_dict

log = logging.getLogger(__name__)


@dataclass
class DataConfig:
    """Which data, split and batching.

    Attributes:
        dataset: ``"qm9"``, ``"frames"`` for energies and forces from ``path``
            (MD17/rMD17/MD22 ``.npz``, extended XYZ, ASE database, any ASE format), or
            ``"blocks"``: unlabelled block structures from ``path`` (a corpus ``.pt``, or a
            PDB/mmCIF/SDF/MOL2 file or folder) for denoising pretraining
            (:mod:`equiformers.data.blocks.dataset`; val/test default to 5 % each), or
            ``"protein_bfactors"``: windows of real crystal structures with per-residue B-factors
            (target ``bfactor``; :mod:`equiformers.data.blocks.bfactor_dataset`; val/test sizes count
            protein groups, default 15 % each).
        targets: target names (QM9: mu, alpha, homo, lumo, gap, r2, zpve, u0, u, h, g, cv;
            frames: energy, trained together with forces).
        path, energy_key, forces_key, npz_layout: where frames come from, the
            info/array keys of energies and forces, and the npz layout (auto, md17, rmd17).
        train_size, val_size, test_size: QM9: use the first N molecules of each split
            (``None``: all). Frames: training and validation frames drawn at random
            (default 950 and 50, the MD17 protocol); the rest is the test set.
        split_seed: seed of the random frame split.
        split_scheme: QM9 split: ``standard`` (110k/10k/rest, TorchMD-Net/Equiformer/EPT) or
            ``nvidia`` (NVIDIA SE(3)-Transformer: 100k train, 10 % test, rest validation).
        bonds: QM9 records carry their chemical bonds (RDKit, from the SMILES); ``null``: when the
            model reads bond types (its graph is ``bonded`` or its edge types are bonds).
        augment_rotation: rotate every training structure by a fresh uniformly random rotation
            each time it is read (Fuchs' SE(3)-Transformer QM9 set-up); validation/test unrotated.
        batch_size: training batch size; eval_batch_size for validation/test.
        num_workers: DataLoader worker processes.
        cache_dir: where processed datasets are cached.
        statistics_samples: at most this many training graphs are used to compute
            the average degree and atoms per graph.
    """

    dataset: str = "qm9"
    targets: List[str] = field(default_factory=lambda: ["gap"])
    path: Optional[str] = None
    energy_key: str = "energy"
    forces_key: str = "forces"
    npz_layout: str = "auto"
    split_seed: int = 0
    split_scheme: str = "standard"
    bonds: Optional[bool] = None
    augment_rotation: bool = False
    train_size: Optional[int] = None
    val_size: Optional[int] = None
    test_size: Optional[int] = None
    batch_size: int = 128
    eval_batch_size: int = 128
    num_workers: int = 0
    cache_dir: Optional[str] = None
    statistics_samples: int = 5000

    def validate(self) -> None:
        """Every number in range, before any data is read (one line naming the key and the range)."""
        for key in ("batch_size", "eval_batch_size", "statistics_samples"):
            if getattr(self, key) < 1:
                raise ConfigError(f"data.{key} must be a positive integer, got {getattr(self, key)}")
        for key in ("train_size", "val_size", "test_size"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ConfigError(f"data.{key} must be a positive integer or null (all), got {getattr(self, key)}")
        if self.num_workers < 0:
            raise ConfigError(f"data.num_workers must be 0 or more, got {self.num_workers}")
        if not self.targets:
            raise ConfigError("data.targets must name at least one target")
        if self.split_scheme not in ("standard", "nvidia"):
            raise ConfigError(f"data.split_scheme must be 'standard' or 'nvidia', got {self.split_scheme!r}")
        if self.split_scheme != "standard" and self.dataset != "qm9":
            raise ConfigError(f"data.split_scheme {self.split_scheme!r} is a QM9 split; dataset is {self.dataset!r}")


@dataclass
class TrainingConfig:
    """Optimisation. Defaults are the Equiformer QM9 settings.

    Attributes:
        max_epochs: epochs; max_steps: optimisation steps (``None``: no step limit);
            the schedule anneals over whichever of the two is fewer, so a run with a
            step budget gives the same model on any machine.
        max_time_minutes: optional wall-clock budget on top: training stops when it is
            spent (the schedule then anneals by time) and the run says so in its summary.
        lr, min_lr, warmup_lr, warmup_epochs, weight_decay: AdamW with linear
            warm-up and cosine decay (per step); no weight decay on norms,
            biases and radial bases.
        ema_decay: exponential moving average of weights (``None``: off).
        grad_clip: gradient-norm clipping (``None``: off).
        val_every_epochs: validation interval.
        resume: continue from ``output_dir/checkpoints/last.ckpt`` if it exists.
        deterministic: bit-reproducible training whatever the machine's load (Lightning's
            ``deterministic``: PyTorch's deterministic algorithms for the process; on CPU the
            backward of index gathers then accumulates serially instead of with atomic adds,
            whose order varies with thread timing and would change the result in the last bits,
            which training amplifies). About as fast on CPU.
        accelerator, devices, precision: passed to Lightning (``"auto"`` uses a GPU when present).
        progress_bar: show Lightning's progress bar.
    """

    max_epochs: int = 300
    max_steps: Optional[int] = None
    max_time_minutes: Optional[float] = None
    lr: float = 5e-4
    min_lr: float = 1e-6
    warmup_lr: float = 1e-6
    warmup_epochs: float = 5.0
    weight_decay: float = 5e-3
    ema_decay: Optional[float] = None
    grad_clip: Optional[float] = None
    val_every_epochs: int = 1
    resume: bool = True
    deterministic: bool = False
    accelerator: str = "auto"
    devices: Union[int, str] = "auto"
    precision: str = "32-true"
    progress_bar: bool = True

    def validate(self) -> None:
        if self.max_epochs < 1 or self.lr <= 0:
            raise ConfigError("training.max_epochs and training.lr must be positive")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"training.max_steps must be a positive integer or null, got {self.max_steps}")
        if self.max_time_minutes is not None and not self.max_time_minutes > 0:
            raise ConfigError(f"training.max_time_minutes must be positive or null, got {self.max_time_minutes}")


#: settings version 0.1 kept under ``training:``; they belong to the task now
_TASK_KEYS_IN_TRAINING = ("loss", "energy_weight", "force_weight", "per_atom_energy", "atom_energies",
                          "force_rms_scaling", "standardize", "output_scale", "output_shift")


@dataclass
class RunConfig:
    model: Any
    data: DataConfig
    training: TrainingConfig
    task: Dict[str, Any] = field(default_factory=lambda: {"type": "regression"})
    output_dir: str = "runs/equiformer"
    seed: int = 0

    def to_dict(self) -> Dict[str, Any]:
        return {"model": copy.deepcopy(self.model), "data": config_to_dict(self.data),
                "task": copy.deepcopy(self.task), "training": config_to_dict(self.training),
                "output_dir": self.output_dir, "seed": self.seed}


_TOP_KEYS = {"model", "data", "task", "training", "output_dir", "seed"}


def _task_section(raw: Dict[str, Any]) -> Dict[str, Any]:
    """The ``task:`` mapping, checked; 0.1 configs (task settings under ``training:``) are converted."""
    from ..tasks.base import TASKS, task_config_class

    training = raw.get("training") or {}
    moved = {k: training[k] for k in _TASK_KEYS_IN_TRAINING if k in training}
    task = raw.get("task")
    if task is None:
        kind = "energy_forces" if (raw.get("data") or {}).get("dataset") == "frames" else "regression"
        task = {"type": kind, **moved}
        if moved:
            log.info("run config: training.%s belong to the task now; read as task: %s (write a task: section "
                     "to silence this)", "/".join(moved), task)
    elif moved:
        raise ConfigError(f"training.{sorted(moved)[0]} belongs in the task: section now "
                          f"(task: {{type: {task.get('type', '...')}, {sorted(moved)[0]}: ...}})")
    if not isinstance(task, dict) or task.get("type") not in TASKS:
        raise ConfigError(f"task must be a mapping whose type is one of {sorted(TASKS)}, got {task!r}")
    config_from_dict(task_config_class(task["type"]), dict(task), where="task config")  # checks every key
    return dict(task)


def parse_override(text: str):
    """``"training.lr=1e-3"`` -> (["training", "lr"], 0.001); values are parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    key, value = text.split("=", 1)
    if not key:
        raise ConfigError(f"override {text!r} has an empty key")
    return key.split("."), yaml.safe_load(value) if value != "" else None


def apply_overrides(raw: Dict[str, Any], overrides: List[str]) -> Dict[str, Any]:
    raw = copy.deepcopy(raw)
    for text in overrides:
        path, value = parse_override(text)
        if path == ["data", "path"] and isinstance(value, str):
            value = str(Path(value).expanduser().resolve())  # relative to where the command runs
        node = raw
        for part in path[:-1]:
            if isinstance(node.get(part), str) and part == "model":
                node[part] = {"preset": node[part]}  # model: NAME plus model.x=... overrides
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {part!r} is not a section")
        node[path[-1]] = value
    return raw


#: keys of ``model: {from: ...}``
MODEL_FROM_KEYS = ("from", "config", "heads", "freeze_backbone")


def check_model_from(model: Any) -> None:
    """Check a fine-tuning ``model:`` mapping (no-op for any other model spec)::

        model:
          from: runs/pretrain/model.pt   # a model file (or training checkpoint): architecture + weights
          config: {graph: fully_connected}   # optional: config fields replaced (weights must still fit)
          heads: {gap: {type: ept_property, pool: graph}}   # optional: the heads (default: the task's)
          freeze_backbone: true          # optional (false): train the heads only

    The backbone's weights (and those of every head declared exactly as in the file) are copied
    from the file; other heads start from random initialisation. Works for every family.
    """
    if not (isinstance(model, dict) and "from" in model):
        return
    unknown = sorted(set(model) - set(MODEL_FROM_KEYS))
    if unknown:
        raise ConfigError(f"model: {{from: ...}} takes only {list(MODEL_FROM_KEYS)}; got {unknown} (a preset's "
                          "architecture cannot be mixed with a model file's weights)")
    if not isinstance(model["from"], str) or not model["from"]:
        raise ConfigError(f"model.from must be the path of a model file (model.pt), got {model['from']!r}")
    for key, kind in (("config", dict), ("heads", dict), ("freeze_backbone", bool)):
        if model.get(key) is not None and not isinstance(model[key], kind):
            raise ConfigError(f"model.{key} must be a {kind.__name__}, got {model[key]!r}")


def run_config_from_dict(raw: Dict[str, Any]) -> RunConfig:
    if not isinstance(raw, dict):
        raise ConfigError("a run config must be a YAML mapping with model/data/training sections")
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {sorted(unknown)} in run config; allowed: {sorted(_TOP_KEYS)}")
    if "model" not in raw:
        raise ConfigError("run config is missing the 'model' key (a preset name such as 'equiformer-qm9')")
    check_model_from(raw["model"])
    task = _task_section(raw)
    training = {k: v for k, v in (raw.get("training") or {}).items() if k not in _TASK_KEYS_IN_TRAINING}
    return RunConfig(
        model=raw["model"],
        data=config_from_dict(DataConfig, raw.get("data") or {}, where="data config"),
        training=config_from_dict(TrainingConfig, training, where="training config"),
        task=task,
        output_dir=str(raw.get("output_dir", "runs/equiformer")),
        seed=int(raw.get("seed", 0)),
    )


def load_run_config(path: Union[str, Path], overrides: Optional[List[str]] = None) -> RunConfig:
    """Read a run YAML, apply ``section.key=value`` overrides and validate every key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    raw = _resolve_data_path(raw, path.parent)
    model = raw.get("model") if isinstance(raw, dict) else None
    if isinstance(model, dict) and isinstance(model.get("from"), str):  # resolved as data.path is
        resolved = _resolve_data_path({"data": {"path": model["from"]}}, path.parent)["data"]["path"]
        raw = {**raw, "model": {**model, "from": resolved}}
    return run_config_from_dict(apply_overrides(raw, overrides or []))


def _resolve_data_path(raw: Dict[str, Any], config_dir: Path) -> Dict[str, Any]:
    """Make ``data.path`` absolute, so that a run (and the model file that records its config) works
    from any directory: a relative path is taken from the current directory when the file is there,
    else from the config file's folder when it is there, else from the current directory (data that
    is yet to be generated, as in the README's flow). Command-line overrides are from the current
    directory."""
    data = raw.get("data") if isinstance(raw, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("path"), str):
        return raw
    given = Path(data["path"]).expanduser()
    if given.is_absolute():
        return raw
    beside_config = config_dir / given
    resolved = beside_config if not given.exists() and beside_config.exists() else given
    return {**raw, "data": {**data, "path": str(resolved.resolve())}}
