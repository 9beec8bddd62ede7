"""Denoising pretraining (EPT's block-level denoising, paper §3.3): noise is drawn on the model's
device every step, the model predicts per-atom vectors on the noised structure, the loss compares
what they say about each block's motion with the motion that undoes the noise.

    task: {type: denoising, noise: block_rotation, sigma_translation: 0.04, sigma_rotation: 0.1}

``noise`` (paper Table 5's three strategies):

* ``block_rotation`` (EPT, default): each block translated by σ_tr ε_b (ε_b ~ N(0, I₃), Å) and rotated
  about its centroid by an IGSO(3) rotation of scale σ_rot; loss = w_tr MSE(t^_b, s_tr,b) +
  w_rot MSE(ω^_b, s_rot,b) with t^, ω^ read off the outputs by the torque/inertia solve
  (:mod:`.block_noise`, which documents the targets, the correct inertia and the guarded solve);
* ``block``: the translation only (eqs. 15-17); ``atom``: every atom moved by σ_tr ε_i, target
  (x_i - x~_i)/σ_tr per atom (eqs. 13-14).

Every graph is centred before and after noising (zero mean over its atoms). Edges are those of the
clean structure, as the official code (its graph constructor reads the clean coordinates); the
model recomputes every distance from the noised positions.

Reproducibility: training noise comes from one generator on the model's device, seeded with
``seed`` (default: torch's seed when the task is built, i.e. the run's seed, which ``equiformers
train`` gives torch first; offset by the process rank under DDP); validation and test noise is seeded from the seed
and the batch's contents, so every epoch is scored on the same noised structures. The training
generator's state is not checkpointed: a resumed run restarts the noise sequence.

``data.targets`` is not read: the task's outputs are ``translation`` and ``rotation`` (metrics in
units of σ_tr and in radians), or ``noise`` for atom noise.

Deviations from the official code (jiaor17/EPT 481a550, ``models/wrappers/denoise_pretrain.py``),
each deliberate: the correct inertia tensor and Leach's IGSO(3) convention by default (``inertia:
official`` and ``igso3_convention: diffab`` reproduce it); a pseudo-inverse with the target projected
onto the observable rotations instead of ``inv`` (see :mod:`.block_noise`); the loss covers the real
blocks only (the official mean also counts every global block, whose translation target is its
segment centroid's shift, zero for a single segment); the rotation MSE is averaged over blocks with
an observable rotation; one noise level (σ_tr, σ_rot) as every released config, not the unused
geometric grid of levels; ``d log p / dω`` is not computed (the official code never used it).
"""

from dataclasses import dataclass
from typing import Any, Dict, Optional

import numpy as np
import torch

from ..data import keys as K
from ..errors import ConfigError, DatasetError
from ..so3.igso3 import CONVENTIONS, IGSO3, check_igso3_scale
from . import block_noise as G
from .base import Task, batches

NOISE_TYPES = ("block_rotation", "block", "atom")
PREDICTIONS = ("direct", "gradient")
_BIG_PRIME = 1_000_003


@dataclass
class DenoisingConfig:
    """Settings (defaults: every released EPT pretraining config, with our correct-physics defaults).

    Attributes:
        noise: ``block_rotation`` | ``block`` | ``atom`` (see the module docstring).
        output: the model output holding the per-atom vectors f_i (``prediction: direct``: an atom
            vector output such as EPT's ``ept_vector`` head) or the energy E (``gradient``: a graph
            scalar; f_i = -dE/dx~_i, the official ``pred_type=gradient``).
        prediction: ``direct`` or ``gradient``.
        sigma_translation: σ_tr in Å (0.04), the block translation (or atom) noise scale.
        sigma_rotation: σ_rot, the IGSO(3) scale (0.1) in ``igso3_convention``.
        igso3_convention: ``leach`` (the paper's citation; default) or ``diffab`` (the official code:
            σ_rot there is √2 times narrower than here; use it to reproduce the official distribution).
        inertia: ``correct`` (default) or ``official`` (the official code's batch-wide Frobenius-norm
            tensor, to reproduce its objective; see :mod:`.block_noise`).
        rotation_rcond: eigenvalues of I_b below this fraction of the largest are unobservable rotations.
        translation_weight, rotation_weight: loss weights (1, 1 as the official code).
        seed: seed of the noise generators (``None``: the run's seed).
    """

    type: str = "denoising"
    noise: str = "block_rotation"
    output: str = "noise"
    prediction: str = "direct"
    sigma_translation: float = 0.04
    sigma_rotation: float = 0.1
    igso3_convention: str = "leach"
    inertia: str = "correct"
    rotation_rcond: float = 1e-3
    translation_weight: float = 1.0
    rotation_weight: float = 1.0
    seed: Optional[int] = None

    def validate(self) -> None:
        choices = {"noise": NOISE_TYPES, "prediction": PREDICTIONS, "inertia": G.INERTIA_MODES,
                   "igso3_convention": tuple(CONVENTIONS)}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"task.{key} must be one of {list(allowed)}, got {getattr(self, key)!r}")
        if not self.sigma_translation > 0:
            raise ConfigError(f"task.sigma_translation must be a positive distance in Å, got {self.sigma_translation}")
        if self.noise == "block_rotation":
            check_igso3_scale(self.sigma_rotation, self.igso3_convention)
        if not 0 < self.rotation_rcond < 1:
            raise ConfigError(f"task.rotation_rcond must be in (0, 1), got {self.rotation_rcond}")
        if self.translation_weight < 0 or self.rotation_weight < 0:
            raise ConfigError("task.translation_weight and task.rotation_weight must be >= 0")


class DenoisingTask(Task):
    """Denoising pretraining on any model with a per-atom vector (or energy) output; block noise
    needs records with blocks (the ``blocks`` dataset, or any record given to EPT)."""

    type = "denoising"
    Config = DenoisingConfig

    def __init__(self, config: DenoisingConfig, targets=None):
        names = {"atom": ["noise"], "block": ["translation"], "block_rotation": ["translation", "rotation"]}
        super().__init__(config, names[config.noise])  # data.targets is not read (see the module docstring)
        self.needs_autograd = config.prediction == "gradient"  # -dE/dx in validation too
        self.sampler = IGSO3(config.sigma_rotation, config.igso3_convention) if config.noise == "block_rotation" \
            else None
        self._train_generators: Dict[str, torch.Generator] = {}
        # torch's seed when the task is built: 'equiformers train' seeds torch with the run's seed first
        self._base_seed = int(config.seed if config.seed is not None else torch.initial_seed())

    # --- the model ------------------------------------------------------------------------
    def default_heads(self) -> Dict[str, Dict[str, Any]]:
        kind = "atom_vector" if self.config.prediction == "direct" else "graph_scalar"
        return {self.config.output: {"type": kind}}

    def required_outputs(self):
        return [self.config.output]

    def check_model(self, model) -> None:
        super().check_model(model)
        info = model.outputs[self.config.output]
        want = ("atom", "vector") if self.config.prediction == "direct" else ("graph", "scalar")
        if (info.level, info.kind) != want:
            raise ConfigError(f"task.prediction {self.config.prediction} reads a {want[0]}-level {want[1]} from "
                              f"output {self.config.output!r}, which is a {info.level}-level {info.kind}")

    def fit_output_statistics(self, model, train_set) -> None:
        """Nothing to fit: the targets are already in units of σ_tr and radians (scale 1)."""

    @property
    def progress_metric(self) -> str:
        return f"mae_{self.targets[-1]}"

    @property
    def units(self) -> Dict[str, str]:
        units = {"translation": "σ_tr", "rotation": "rad", "noise": "σ_tr"}
        return {name: units[name] for name in self.targets}

    # --- noise ----------------------------------------------------------------------------
    def _seed(self) -> int:
        seed = self._base_seed
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            seed += _BIG_PRIME * torch.distributed.get_rank()
        return int(seed) % (2 ** 62)

    def generator(self, batch: Dict[str, torch.Tensor], training: bool) -> torch.Generator:
        """The training generator of this device (created and seeded once), or a fresh evaluation
        generator seeded from the seed and the batch (same noise for the same batch every epoch)."""
        device = batch[K.POSITIONS].device
        if training:
            key = str(device)
            if key not in self._train_generators:
                self._train_generators[key] = torch.Generator(device=device).manual_seed(self._seed())
            return self._train_generators[key]
        content = int(batch[K.NUM_ATOMS].sum()) * 7919 + int(batch[K.ATOMIC_NUMBERS].sum()) * 104729 + \
            int(batch[K.NUM_ATOMS].shape[0])
        return torch.Generator(device=device).manual_seed((self._seed() * _BIG_PRIME + content + 1) % (2 ** 62))

    def add_noise(self, batch: Dict[str, torch.Tensor], generator: torch.Generator) -> Dict[str, torch.Tensor]:
        """Noise one batch: ``{"clean", "noised"}`` centred positions [N, 3] (float64; ``noised`` as
        the model sees it, in the batch's dtype and back) and ``rotation`` [Nb, 3] (rad) for block noise."""
        cfg = self.config
        pos = batch[K.POSITIONS]
        batch_index, num_graphs = batch[K.BATCH], batch[K.NUM_ATOMS].shape[0]
        clean = G.centred(pos.detach().to(torch.float64), batch_index, num_graphs)
        out = {}
        if cfg.noise == "atom":
            noised = clean + cfg.sigma_translation * torch.randn(clean.shape, dtype=torch.float64,
                                                                  device=pos.device, generator=generator)
        else:
            if K.BLOCK_INDEX not in batch:
                raise DatasetError("block denoising needs records with blocks (block_index): use the 'blocks' dataset "
                                   "or an EPT model (its prepare adds blocks), or task.noise: atom")
            block_index, num_blocks = batch[K.BLOCK_INDEX], int(batch[K.NUM_BLOCKS].sum())
            shift = cfg.sigma_translation * torch.randn(num_blocks, 3, dtype=torch.float64, device=pos.device,
                                                        generator=generator)
            rotation = self.sampler.sample(num_blocks, generator, pos.device) if self.sampler is not None else \
                torch.zeros_like(shift)
            noised = G.move_blocks(clean, block_index, num_blocks, shift, rotation)
            out["rotation"] = rotation
        noised = G.centred(noised, batch_index, num_graphs).to(pos.dtype).to(torch.float64)
        return {**out, "clean": clean, "noised": noised}

    # --- training hooks -----------------------------------------------------------------------
    def predict(self, model, batch, training):
        """The model's outputs on the noised batch, plus ``denoising``: predictions, targets and weights
        of every term (see :meth:`compare`)."""
        noise = self.add_noise(batch, self.generator(batch, training))
        data = {**batch, K.POSITIONS: noise["noised"].to(batch[K.POSITIONS].dtype)}
        if self.config.prediction == "direct":
            out = dict(model(data))
            vectors = out[self.config.output]
        else:
            with torch.enable_grad():
                pos = data[K.POSITIONS].detach().requires_grad_(True)
                out = dict(model({**data, K.POSITIONS: pos}))
                vectors = -torch.autograd.grad(out[self.config.output].sum(), pos, create_graph=training)[0]
        out["denoising"] = self.compare(vectors, noise, batch)
        return out

    def compare(self, vectors: torch.Tensor, noise: Dict[str, torch.Tensor], batch) -> Dict[str, tuple]:
        """``{term: (prediction [M, 3], target [M, 3], weight [M, 3] of 0/1)}`` (float64) from the
        per-atom vectors [N, 3] and the noise of :meth:`add_noise`."""
        cfg = self.config
        if cfg.noise == "atom":
            target = (noise["clean"] - noise["noised"]) / cfg.sigma_translation
            return {"noise": (vectors.to(torch.float64), target, torch.ones_like(target))}
        block_index, num_blocks = batch[K.BLOCK_INDEX], int(batch[K.NUM_BLOCKS].sum())
        translation, rotation, projector, _ = G.block_motion_from_vectors(
            noise["noised"], vectors, block_index, num_blocks, cfg.inertia, cfg.rotation_rcond)
        target = G.translation_targets(noise["clean"], noise["noised"], block_index, num_blocks, cfg.sigma_translation)
        terms = {"translation": (translation, target, torch.ones_like(target))}
        if cfg.noise == "block_rotation":
            # the target, -w, restricted to the rotations the block's atoms can show (guarded solve)
            target = torch.einsum("bij,bj->bi", projector, -noise["rotation"])
            counted = (torch.diagonal(projector, dim1=-2, dim2=-1).sum(-1) > 0.5).to(target.dtype)
            terms["rotation"] = (torch.einsum("bij,bj->bi", projector, rotation), target,
                                 counted.unsqueeze(-1).expand_as(target))
        return terms

    def loss_terms(self, model, out, batch):
        weights = {"translation": self.config.translation_weight, "rotation": self.config.rotation_weight,
                   "noise": 1.0}
        return {name: (weights[name], _masked_mse(*values).to(out[self.config.output].dtype))
                for name, values in out["denoising"].items()}

    def metrics(self, out, batch):
        return {f"mae_{name}": _masked_mae(pred.detach(), target, weight).float()
                for name, (pred, target, weight) in out["denoising"].items()}

    def evaluate(self, model, dataset, train_set, batch_size: int, progress: bool = False) -> Dict[str, Any]:
        """Per-component MAE and RMSE of every term on ``dataset`` (evaluation noise, seeded per batch)
        next to predicting zero (the baseline), with parity arrays of the observable components."""
        device, dtype = next(model.parameters()).device, next(model.parameters()).dtype
        pred, ref = {n: [] for n in self.targets}, {n: [] for n in self.targets}
        with torch.no_grad():
            for batch in batches(dataset, batch_size, progress, "testing", device, dtype):
                for name, (p, t, w) in self.predict(model, batch, training=False)["denoising"].items():
                    keep = w.reshape(-1) > 0.5
                    pred[name].append(p.detach().reshape(-1)[keep].cpu())
                    ref[name].append(t.reshape(-1)[keep].cpu())
        p = {n: torch.cat(v).numpy() if v else np.zeros(0) for n, v in pred.items()}
        r = {n: torch.cat(v).numpy() if v else np.zeros(0) for n, v in ref.items()}
        mean = lambda x: float(x.mean()) if x.size else float("nan")  # noqa: E731
        return {"num_graphs": int(len(dataset)), "units": self.units,
                "mae": {n: mean(np.abs(p[n] - r[n])) for n in self.targets},
                "rmse": {n: float(np.sqrt(mean(np.square(p[n] - r[n])))) for n in self.targets},
                "baseline_mae_train_mean": {n: mean(np.abs(r[n])) for n in self.targets},
                "baseline_names": {n: "zero motion" for n in self.targets},
                "_parity": {n: (p[n], r[n]) for n in self.targets}}


def _masked_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Σ |pred - target|² / Σ weight: the mean squared error per component of the counted rows (zero,
    still attached to the graph, when none counts). The rotation rows are projected onto the
    observable rotations, so an unobservable component is zero in both and adds no error."""
    error = (pred - target).pow(2).sum()
    return error / weight.sum().clamp(min=1.0)


def _masked_mae(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per component of the counted rows."""
    return ((pred - target).abs() * (weight > 0)).sum() / weight.sum().clamp(min=1.0)

