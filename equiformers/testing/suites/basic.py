"""The suite every model passes: symmetry, permutations, batching, reload, gradients, errors."""

from typing import Dict, List

import pytest
import torch

from ...data import collate, from_ase, keys as K
from ...data.transforms import permute_atoms
from ...errors import InvalidStructureError
from ...models.registry import build_model
from ..structures import rattled_molecules
from ..symmetry import random_rotation, wigner_D
from .common import relative_error, transform


class BasicModelSuite:
    """Reusable tests; subclasses provide the ``model_spec`` fixture."""

    #: relative tolerance of symmetry checks per dtype (a family may loosen it, with a reason)
    tolerance: Dict[torch.dtype, float] = {torch.float64: 1e-9, torch.float32: 1e-4}

    @pytest.fixture
    def structures(self) -> List:
        return rattled_molecules()

    def build(self, spec, dtype=torch.float64, seed: int = 0):
        torch.manual_seed(seed)
        return build_model(spec).to(dtype).eval()

    def batch(self, model, structures):
        """Structures prepared for ``model`` (types, the graph it declares) and collated."""
        return collate([model.prepare(from_ase(a)) for a in structures])

    def outputs(self, model, data) -> torch.Tensor:
        """Every graph-level output of ``model``, stacked: [B, outputs]."""
        out = model(data)
        return torch.stack([out[n] for n, info in model.outputs.items() if info.level == "graph"], dim=-1)

    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
    def test_invariant_under_rotation_and_translation(self, model_spec, structures, dtype):
        model = self.build(model_spec, dtype)
        data = self.batch(model, structures)
        rotation = random_rotation(torch.float64, torch.Generator().manual_seed(1))
        moved = transform(data, rotation, torch.tensor([3.0, -1.5, 0.7], dtype=torch.float64))
        assert relative_error(self.outputs(model, moved), self.outputs(model, data)) < self.tolerance[dtype]

    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
    def test_features_equivariant(self, model_spec, structures, dtype):
        """Every probe the backbone declares rotates with the exact Wigner matrices of its irreps."""
        model = self.build(model_spec, dtype)
        data = self.batch(model, structures)
        rotation = random_rotation(torch.float64, torch.Generator().manual_seed(2))
        probes = model.backbone.equivariance_probes()
        assert probes, "the backbone declares no equivariance probes"
        before, after = self._probe_outputs(model, data, probes), self._probe_outputs(
            model, transform(data, rotation, 0.0), probes)
        for (module, irreps), x, y in zip(probes, before, after):
            D = wigner_D(irreps, rotation).to(dtype)
            assert relative_error(y, x @ D.T) < self.tolerance[dtype], f"{type(module).__name__} output {irreps}"

    @staticmethod
    def _probe_outputs(model, data, probes):
        captured = {}
        hooks = [m.register_forward_hook(lambda mod, i, o, k=k: captured.__setitem__(k, o))
                 for k, (m, _) in enumerate(probes)]
        try:
            model(data)
        finally:
            for h in hooks:
                h.remove()
        return [captured[k] for k in range(len(probes))]

    def test_parity(self, model_spec, structures):
        """E(3) models (vectors labelled ``1o``) are invariant under inversion; SE(3) ones need not be."""
        model = self.build(model_spec)
        if model.backbone.vector_irrep != "1o":
            pytest.skip("SE(3) model: parity is not a symmetry")
        data = self.batch(model, structures)
        inverted = transform(data, -torch.eye(3, dtype=torch.float64), 0.0)
        assert relative_error(self.outputs(model, inverted), self.outputs(model, data)) < self.tolerance[torch.float64]

    def test_permutation_invariant(self, model_spec, structures):
        model = self.build(model_spec)
        data = self.batch(model, structures[2:3])
        perm = torch.randperm(data[K.POSITIONS].shape[0], generator=torch.Generator().manual_seed(3))
        permuted = permute_atoms(data, perm)
        assert relative_error(self.outputs(model, permuted), self.outputs(model, data)) < 1e-9

    def test_batch_equals_members_alone(self, model_spec, structures):
        model = self.build(model_spec)
        batched = self.outputs(model, self.batch(model, structures))
        alone = torch.cat([self.outputs(model, self.batch(model, [s])) for s in structures])
        assert relative_error(batched, alone) < 1e-12

    def test_no_cross_talk_between_graphs(self, model_spec, structures):
        """The gradient of one graph's output w.r.t. another graph's atoms is exactly zero."""
        model = self.build(model_spec)
        data = self.batch(model, structures[:2])
        data[K.POSITIONS] = data[K.POSITIONS].clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(self.outputs(model, data)[0].sum(), data[K.POSITIONS])
        n0 = int(data[K.NUM_ATOMS][0])
        assert grad[n0:].abs().max() == 0 and grad[:n0].abs().max() > 0

    def test_save_and_reload_identical(self, model_spec, structures, tmp_path):
        from ...training.checkpoint import load_model, save_model

        model = self.build(model_spec, torch.float32)
        data = self.batch(model, structures)
        path = save_model(model, tmp_path / "model.pt", note="test")
        reloaded, meta = load_model(path)
        assert meta == {"note": "test"} and reloaded.outputs == model.outputs
        for name, value in model(data).items():
            assert torch.equal(reloaded(data)[name], value), name

    def test_every_parameter_gets_a_gradient(self, model_spec, structures):
        model = self.build(model_spec, torch.float32).train()
        out = model(self.batch(model, structures))
        sum(v.pow(2).sum() for v in out.values()).backward()
        # a backbone may declare parameters its architecture never uses (their gradient must then be zero)
        unused = {f"backbone.{name}" for name in getattr(model.backbone, "unused_parameters", list)()}
        parameters = dict(model.named_parameters())
        missing = [n for n, p in parameters.items()
                   if n not in unused and (p.grad is None or not torch.isfinite(p.grad).all())]
        assert not missing, f"parameters without (finite) gradients: {missing[:5]}"
        declared_but_used = [n for n in unused if parameters[n].grad is not None and parameters[n].grad.abs().max() > 0]
        assert not declared_but_used, f"parameters declared unused have non-zero gradients: {declared_but_used}"

    def test_float32_matches_float64(self, model_spec, structures):
        model64, model32 = self.build(model_spec, torch.float64), self.build(model_spec, torch.float32)
        data = self.batch(model64, structures)
        assert relative_error(self.outputs(model32, data).double(), self.outputs(model64, data)) < 1e-4

    def test_unknown_element_is_a_clear_error_when_prepared(self, model_spec):
        from ase import Atoms

        model = self.build(model_spec)
        with pytest.raises(InvalidStructureError, match="unknown element"):
            model.prepare(from_ase(Atoms("UH", positions=[[0, 0, 0], [0, 0, 1.5]])))
