"""A test suite every model family passes (in the spirit of NequIP's model-test mixins).

Subclass :class:`ModelTestSuite` in a test module and provide a ``model_spec``
fixture (parametrise it over the configurations to cover)::

    class TestMyModel(ModelTestSuite):
        @pytest.fixture(params=[{...}, {...}])
        def model_spec(self, request):
            return request.param

Checks: rotation/translation invariance of the outputs and equivariance of
intermediate features (float64 to 1e-9, float32 to 1e-4 relative), parity
for E(3) models, atom permutations, batch = members alone, save/reload
identity, gradients reaching every parameter, and clear errors on bad input.
"""

from typing import Dict, List

import pytest
import torch

from ..data import collate, from_ase, keys as K
from ..errors import InvalidStructureError
from ..models.registry import build_model
from .structures import rattled_molecules
from .symmetry import random_rotation, wigner_D

TOLERANCE = {torch.float64: 1e-9, torch.float32: 1e-4}


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b).abs().max() / b.abs().max().clamp(min=1e-30)).detach())


def transform(data: Dict[str, torch.Tensor], matrix: torch.Tensor, shift: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Apply ``x -> x @ matrix.T + shift`` to positions (and the cell's lattice vectors)."""
    out = dict(data)
    out[K.POSITIONS] = data[K.POSITIONS] @ matrix.T.to(data[K.POSITIONS].dtype) + shift
    out[K.CELL] = data[K.CELL] @ matrix.T.to(data[K.CELL].dtype)
    return out


def permute(data: Dict[str, torch.Tensor], perm: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Relabel atoms of a single graph: new atom ``i`` is old atom ``perm[i]``."""
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(len(perm))
    out = dict(data)
    for key in (K.POSITIONS, K.ATOMIC_NUMBERS, K.BATCH):
        out[key] = data[key][perm]
    out[K.EDGE_INDEX] = inverse[data[K.EDGE_INDEX]]
    return out


class ModelTestSuite:
    """Reusable tests; subclasses provide the ``model_spec`` fixture."""

    cutoff = 5.0

    @pytest.fixture
    def structures(self) -> List:
        return rattled_molecules()

    def build(self, spec, dtype=torch.float64, seed: int = 0):
        torch.manual_seed(seed)
        return build_model(spec).to(dtype).eval()

    def batch(self, structures, cutoff):
        return collate([from_ase(a, cutoff) for a in structures])

    def outputs(self, model, data) -> torch.Tensor:
        out = model(data)
        return torch.stack([out[name] for name in model.config.outputs], dim=-1)

    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
    def test_invariant_under_rotation_and_translation(self, model_spec, structures, dtype):
        model = self.build(model_spec, dtype)
        data = self.batch(structures, model.cutoff)
        rotation = random_rotation(torch.float64, torch.Generator().manual_seed(1))
        moved = transform(data, rotation, torch.tensor([3.0, -1.5, 0.7], dtype=torch.float64))
        before, after = self.outputs(model, data), self.outputs(model, moved)
        assert relative_error(after, before) < TOLERANCE[dtype]

    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
    def test_features_equivariant(self, model_spec, structures, dtype):
        """Every block's output features rotate with the exact Wigner matrices of their irreps."""
        model = self.build(model_spec, dtype)
        data = self.batch(structures, model.cutoff)
        rotation = random_rotation(torch.float64, torch.Generator().manual_seed(2))
        features = self._block_outputs(model, data), self._block_outputs(model, transform(data, rotation, 0.0))
        checked = 0
        for block, before, after in zip(model.blocks, *features):
            D = wigner_D(block.irreps_out, rotation).to(dtype)
            assert relative_error(after, before @ D.T) < TOLERANCE[dtype], f"block output {block.irreps_out}"
            checked += int(block.irreps_out.lmax > 0)
        assert checked > 0 or model.config.num_layers == 1, "no block with l > 0 features was checked"

    @staticmethod
    def _block_outputs(model, data):
        captured = []
        hooks = [b.register_forward_hook(lambda m, i, o: captured.append(o)) for b in model.blocks]
        try:
            model(data)
        finally:
            for h in hooks:
                h.remove()
        return captured

    def test_parity(self, model_spec, structures):
        """E(3) models are invariant under inversion; SE(3) models need not be (they can tell mirror images)."""
        model = self.build(model_spec)
        if getattr(model.config, "symmetry", "se3") != "e3":
            pytest.skip("SE(3) model: parity is not a symmetry")
        data = self.batch(structures, model.cutoff)
        inverted = transform(data, -torch.eye(3, dtype=torch.float64), 0.0)
        assert relative_error(self.outputs(model, inverted), self.outputs(model, data)) < 1e-9

    def test_permutation_invariant(self, model_spec, structures):
        model = self.build(model_spec)
        data = self.batch(structures[2:3], model.cutoff)
        perm = torch.randperm(data[K.POSITIONS].shape[0], generator=torch.Generator().manual_seed(3))
        assert relative_error(self.outputs(model, permute(data, perm)), self.outputs(model, data)) < 1e-9

    def test_batch_equals_members_alone(self, model_spec, structures):
        model = self.build(model_spec)
        batched = self.outputs(model, self.batch(structures, model.cutoff))
        alone = torch.cat([self.outputs(model, self.batch([s], model.cutoff)) for s in structures])
        assert relative_error(batched, alone) < 1e-12

    def test_no_cross_talk_between_graphs(self, model_spec, structures):
        """The gradient of one graph's output w.r.t. another graph's atoms is exactly zero."""
        model = self.build(model_spec)
        data = self.batch(structures[:2], model.cutoff)
        data[K.POSITIONS] = data[K.POSITIONS].clone().requires_grad_(True)
        first = self.outputs(model, data)[0].sum()
        (grad,) = torch.autograd.grad(first, data[K.POSITIONS])
        n0 = int(data[K.NUM_ATOMS][0])
        assert grad[n0:].abs().max() == 0 and grad[:n0].abs().max() > 0

    def test_save_and_reload_identical(self, model_spec, structures, tmp_path):
        from ..training.checkpoint import load_model, save_model

        model = self.build(model_spec, torch.float32)
        data = self.batch(structures, model.cutoff)
        path = save_model(model, tmp_path / "model.pt", note="test")
        reloaded, meta = load_model(path)
        assert meta == {"note": "test"}
        assert torch.equal(self.outputs(reloaded, data), self.outputs(model, data))

    def test_every_parameter_gets_a_gradient(self, model_spec, structures):
        model = self.build(model_spec, torch.float32).train()
        self.outputs(model, self.batch(structures, model.cutoff)).pow(2).sum().backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
        assert not missing, f"parameters without (finite) gradients: {missing[:5]}"

    def test_float32_matches_float64(self, model_spec, structures):
        data = self.batch(structures, self.cutoff)
        out64 = self.outputs(self.build(model_spec, torch.float64), data)
        out32 = self.outputs(self.build(model_spec, torch.float32), data)
        assert relative_error(out32.double(), out64) < 1e-4

    def test_unknown_element_is_a_clear_error(self, model_spec):
        from ase import Atoms

        model = self.build(model_spec)
        data = self.batch([Atoms("UH", positions=[[0, 0, 0], [0, 0, 1.5]])], model.cutoff)
        with pytest.raises(InvalidStructureError, match="unknown element"):
            model(data)
