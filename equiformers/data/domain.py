"""What a model saw in training, and the checks a new structure passes before it is predicted.

A model trained on C/H/O molecules gives a number for SiH4 or for two atoms on top of each
other without complaint: the number is garbage. Training records a :class:`TrainingDomain`
(elements, shortest interatomic distance, per-atom energy and force ranges) in the model file;
:class:`StructureChecks` refuses structures outside it (or warns, when the user allows them).

Example:
    >>> from ase.build import molecule
    >>> from equiformers.data import from_ase
    >>> from equiformers.data.graph import GraphSpec
    >>> graph = GraphSpec("radius", cutoff=5.0)
    >>> domain = TrainingDomain.of_dataset([from_ase(molecule("CH4"))], graph)
    >>> domain.elements, round(domain.min_distance, 3)
    ((1, 6), 1.09)
    >>> checks = StructureChecks(domain)
    >>> checks.check(graph.build(from_ase(molecule("SiH4"))))
    Traceback (most recent call last):
    ...
    equiformers.errors.InvalidStructureError: H4Si has Si, which the model never saw in training (it knows H, C); pass --allow-new-elements (Python: allow_new_elements=True) to predict anyway, with a warning
"""

import dataclasses
import warnings as _warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from ase.data import chemical_symbols

from ..errors import EquiformersWarning, InvalidStructureError
from . import keys as K

#: a structure whose shortest distance is below this fraction of the training set's is far outside it
FAR_BELOW = 0.75
#: structures whose distances are measured when a domain is recorded (elements and labels: all)
DISTANCE_SAMPLES = 5000


def _symbols(numbers) -> str:
    return ", ".join(chemical_symbols[int(z)] for z in sorted(set(int(z) for z in numbers)))


def _formula(numbers) -> str:
    from ase.formula import Formula

    return Formula.from_list([chemical_symbols[int(z)] for z in numbers]).format("hill")


def shortest_edge(record: Dict[str, torch.Tensor]) -> Tuple[float, int, int]:
    """``(distance in Å, source atom, target atom)`` of the shortest edge of a record with edges
    (``inf, -1, -1`` without edges)."""
    index = record[K.EDGE_INDEX]
    if index.shape[1] == 0:
        return float("inf"), -1, -1
    pos = record[K.POSITIONS].detach().double()
    vec = pos[index[0]] - pos[index[1]]
    shift = record.get(K.EDGE_CELL_SHIFT)
    if shift is not None and shift.numel():
        vec = vec + shift.double() @ record[K.CELL][0].detach().double()
    length = vec.norm(dim=1)
    k = int(length.argmin())
    return float(length[k]), int(index[0, k]), int(index[1, k])


@dataclass(frozen=True)
class TrainingDomain:
    """The training data's extent, stored in the model file (``metadata["domain"]``).

    Attributes:
        elements: atomic numbers present in the training set.
        min_distance: shortest interatomic distance (Å) in the training structures (a sample of
            up to 5,000 of them), measured within the model's graph.
        energy_per_atom: (min, max) of the energy label divided by the atom count, eV/atom.
        max_force: the largest per-atom force norm of the labels, eV/Å.
        structures: how many training structures were seen.
    """

    elements: Tuple[int, ...]
    min_distance: float = float("inf")
    energy_per_atom: Optional[Tuple[float, float]] = None
    max_force: Optional[float] = None
    structures: int = 0

    @classmethod
    def of_dataset(cls, dataset: Sequence[Dict[str, torch.Tensor]], graph, seed: int = 0) -> "TrainingDomain":
        """Scan ``dataset`` (records without edges); ``graph`` is the model's :class:`GraphSpec`."""
        n = len(dataset)
        measured = set(np.random.default_rng(seed).choice(n, DISTANCE_SAMPLES, replace=False).tolist()
                       if n > DISTANCE_SAMPLES else range(n))
        elements, shortest, energies, max_force = set(), float("inf"), [], None
        for i in range(n):
            record = dataset[i]
            numbers = record[K.ATOMIC_NUMBERS]
            elements.update(int(z) for z in torch.unique(numbers))
            if K.ENERGY in record:
                energies.append(float(record[K.ENERGY].reshape(-1)[0]) / len(numbers))
            if K.FORCES in record and record[K.FORCES].numel():
                max_force = max(max_force or 0.0, float(record[K.FORCES].double().norm(dim=-1).max()))
            if i in measured:
                shortest = min(shortest, shortest_edge(graph.build(record, max_edges=0))[0])
        energy_range = (min(energies), max(energies)) if energies else None
        return cls(tuple(sorted(elements)), shortest, energy_range, max_force, n)

    def to_dict(self) -> Dict[str, Any]:
        """Plain JSON-like values (lists, floats), as stored in model files."""
        raw = dataclasses.asdict(self)
        raw["elements"] = list(self.elements)
        raw["energy_per_atom"] = list(self.energy_per_atom) if self.energy_per_atom is not None else None
        return raw

    @classmethod
    def from_dict(cls, raw: Optional[Dict[str, Any]]) -> Optional["TrainingDomain"]:
        if not raw:
            return None
        energy = raw.get("energy_per_atom")
        return cls(tuple(int(z) for z in raw["elements"]), float(raw.get("min_distance", float("inf"))),
                   tuple(energy) if energy is not None else None, raw.get("max_force"), int(raw.get("structures", 0)))

    def describe(self) -> str:
        text = f"{self.structures} structures of {_symbols(self.elements)}; shortest distance {self.min_distance:.3f} Å"
        if self.energy_per_atom:
            text += f"; energy {self.energy_per_atom[0]:.4g} to {self.energy_per_atom[1]:.4g} eV/atom"
        if self.max_force is not None:
            text += f"; forces up to {self.max_force:.4g} eV/Å"
        return text


@dataclass(frozen=True)
class StructureChecks:
    """What a trained model accepts: used by ``predict``, the ASE calculator, ``md`` and ``relax``.

    Args:
        domain: the model's training domain (``None``: a model file without one; only overlaps checked).
        min_distance: atoms closer than this (Å) overlap: an error unless ``allow_overlap``.
        allow_overlap: warn instead of refusing overlapping atoms.
        allow_new_elements: warn instead of refusing elements absent from the training set.
    """

    domain: Optional[TrainingDomain] = None
    min_distance: float = 0.5
    allow_overlap: bool = False
    allow_new_elements: bool = False

    def check(self, record: Dict[str, torch.Tensor]) -> List[Tuple[str, str]]:
        """Raise :class:`InvalidStructureError` for a structure outside what is allowed; return the
        warnings ``[(kind, message)]`` for one that is allowed but doubtful. ``record`` has edges."""
        warnings: List[Tuple[str, str]] = []
        numbers = record[K.ATOMIC_NUMBERS]
        formula = _formula(numbers.tolist())
        if self.domain is not None:
            new = sorted(set(int(z) for z in torch.unique(numbers)) - set(self.domain.elements))
            if new:
                message = (f"{formula} has {_symbols(new)}, which the model never saw in training "
                           f"(it knows {_symbols(self.domain.elements)})")
                if not self.allow_new_elements:
                    raise InvalidStructureError(f"{message}; pass --allow-new-elements (Python: "
                                                "allow_new_elements=True) to predict anyway, with a warning")
                warnings.append(("elements", f"{message}: its predictions are extrapolations"))
        distance, i, j = shortest_edge(record)
        if distance < self.min_distance:
            message = (f"{formula}: atoms {i} ({chemical_symbols[int(numbers[i])]}) and {j} "
                       f"({chemical_symbols[int(numbers[j])]}) are {distance:.3f} Å apart, closer than "
                       f"{self.min_distance:g} Å (overlapping atoms)")
            if not self.allow_overlap:
                raise InvalidStructureError(f"{message}; fix the structure, or pass --allow-overlap "
                                            "(or a smaller --min-distance)")
            warnings.append(("overlap", message))
        elif self.domain is not None and distance < FAR_BELOW * self.domain.min_distance:
            warnings.append(("distance", f"{formula}: atoms {i} and {j} are {distance:.3f} Å apart, far below the "
                                         f"shortest distance in training ({self.domain.min_distance:.3f} Å): "
                                         "the prediction is an extrapolation"))
        return warnings

    def check_prediction(self, energy: float, num_atoms: int, max_force: Optional[float]) -> List[Tuple[str, str]]:
        """Warnings for predicted energies (eV) or forces (eV/Å) well outside the training labels."""
        warnings: List[Tuple[str, str]] = []
        domain = self.domain
        if domain is None:
            return warnings
        if domain.energy_per_atom is not None and np.isfinite(energy):
            low, high = domain.energy_per_atom
            margin = max(high - low, 0.05)
            per_atom = energy / max(num_atoms, 1)
            if not low - margin <= per_atom <= high + margin:
                warnings.append(("energy", f"predicted energy {per_atom:.4g} eV/atom is far outside the training "
                                           f"labels ({low:.4g} to {high:.4g} eV/atom)"))
        if domain.max_force is not None and max_force is not None and max_force > 2 * domain.max_force + 1.0:
            warnings.append(("forces", f"predicted force {max_force:.3g} eV/Å is far above the largest in training "
                                       f"({domain.max_force:.3g} eV/Å)"))
        return warnings


def emit_warnings(found: List[Tuple[str, str]], seen: Optional[set] = None) -> None:
    """Issue ``found`` as :class:`EquiformersWarning` s; with ``seen``, each kind only once."""
    for kind, message in found:
        if seen is not None:
            if kind in seen:
                continue
            seen.add(kind)
        _warnings.warn(message, EquiformersWarning, stacklevel=3)
