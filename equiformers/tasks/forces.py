"""Conservative forces and stress as derivatives of a model's energy.

``F = -dE/dx`` and ``sigma = (1/V) dE/d(strain)`` through autograd. In
training, ``create_graph=True`` keeps the graph so that a force loss can be
back-propagated to the weights (double backward).
"""

from typing import Dict

import torch

from ..data import keys as K

FORCES = K.FORCES


def has_direct_forces(model) -> bool:
    """Whether ``model`` predicts forces itself (a head output) rather than by differentiation."""
    return FORCES in model.outputs



def energy_forces_stress(model, data: Dict[str, torch.Tensor], energy_key: str = "energy",
                         compute_stress: bool = False, training: bool = False) -> Dict[str, torch.Tensor]:
    """Energy [B] (eV), forces [N, 3] (eV/Å) and optionally stress [B, 3, 3] (eV/Å^3).

    A model with a direct force output (an ``atom_vector`` head named ``forces``) returns its
    own forces; they are used as they are (not conservative), and no stress is computed.
    Otherwise this is the conservative-force wrapper: ``F = -dE/dx`` of the energy output.

    Stress uses the strain trick: positions and cell are deformed by a
    symmetric displacement ``eps`` (zero-valued, so values are unchanged) and
    ``sigma = (1/V) dE/d eps``. Only graphs with a periodic cell get a stress;
    others are zero.

    Example:
        >>> import equiformers
        >>> from ase.build import molecule
        >>> from equiformers.data import collate, from_ase
        >>> model = equiformers.build_model("equiformer-md17-l2", num_layers=1, channels=[8, 4], num_heads=2)
        >>> out = energy_forces_stress(model, collate([from_ase(molecule("H2O"), 5.0)]))
        >>> out["forces"].shape
        torch.Size([3, 3])
    """
    if has_direct_forces(model):
        out = dict(model(data))
        return out if training else {k: v.detach() for k, v in out.items()}
    data = dict(data)
    dtype = model.dtype
    pos = data[K.POSITIONS].to(dtype)
    num_graphs = data[K.NUM_ATOMS].shape[0]
    inputs = [pos.requires_grad_(True) if not pos.requires_grad else pos]
    if compute_stress:
        displacement = torch.zeros(num_graphs, 3, 3, dtype=dtype, device=pos.device, requires_grad=True)
        symmetric = 0.5 * (displacement + displacement.transpose(1, 2))
        batch = data[K.BATCH]
        pos = pos + torch.einsum("ni,nij->nj", pos, symmetric[batch])
        data[K.CELL] = data[K.CELL].to(dtype) + torch.einsum("bki,bij->bkj", data[K.CELL].to(dtype), symmetric)
        inputs.append(displacement)
    data[K.POSITIONS] = pos
    with torch.enable_grad():
        out = dict(model(data))
        energy = out[energy_key]
        grads = torch.autograd.grad(energy.sum(), inputs, create_graph=training, allow_unused=True)
    forces = grads[0] if grads[0] is not None else torch.zeros_like(inputs[0])
    out["forces"] = -forces
    if compute_stress:
        volume = torch.linalg.det(data[K.CELL]).abs()
        periodic = data[K.PBC].any(dim=1) & (volume > 0)
        virial = grads[1] if grads[1] is not None else torch.zeros_like(inputs[1])
        out["stress"] = torch.where(periodic[:, None, None], virial / volume.clamp(min=1e-12)[:, None, None],
                                    torch.zeros_like(virial))
    if not training:
        out = {k: v.detach() for k, v in out.items()}
    return out


class ConservativeForces(torch.nn.Module):
    """A model wrapped so that its forward also returns forces (and stress): the one place where
    energy models get ``-dE/dx``. A model with direct forces passes through unchanged.

    Example:
        >>> import equiformers
        >>> from ase.build import molecule
        >>> from equiformers.data import collate, from_ase
        >>> model = equiformers.build_model("equiformer-md17-l2", num_layers=1, channels=[8, 4], num_heads=2)
        >>> sorted(ConservativeForces(model)(collate([from_ase(molecule("H2O"), 5.0)])))
        ['energy', 'forces']
    """

    def __init__(self, model, energy_key: str = "energy", compute_stress: bool = False):
        super().__init__()
        self.model, self.energy_key, self.compute_stress = model, energy_key, compute_stress

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        return energy_forces_stress(self.model, data, self.energy_key, self.compute_stress, training=self.training)
