"""Type maps: atomic numbers -> embedding rows, applied when data is prepared (not in ``forward``)."""

from typing import Sequence, Union

import torch
from torch import nn

from .elements import atomic_numbers_to_types, num_types, type_table, validate_element_spec

ElementSpec = Union[Sequence[str], int]


class TypeMap(nn.Module):
    """Maps atomic numbers to the model's type indices, rejecting elements the model does not know.

    ``elements`` is a list of symbols (one type each, in order) or an integer ``N`` (types are the
    atomic numbers ``0 <= Z < N``, as the reference MD17 model). Validation syncs with the host, so
    it runs once per structure when data is prepared (:meth:`AtomisticModel.prepare`), not per step.

    Shapes: atomic numbers [N] int64 -> types [N] int64.

    Example:
        >>> TypeMap(["H", "C", "O"])(torch.tensor([8, 1, 1])).tolist()
        [2, 0, 0]
    """

    def __init__(self, elements: ElementSpec):
        super().__init__()
        validate_element_spec(elements)
        self.elements = list(elements) if not isinstance(elements, int) else elements
        self.num_types = num_types(elements)
        self.register_buffer("type_of_z", type_table(elements), persistent=False)

    def forward(self, atomic_numbers: torch.Tensor) -> torch.Tensor:
        """Type index of each atom; unknown elements raise :class:`InvalidStructureError`."""
        return atomic_numbers_to_types(atomic_numbers, self.type_of_z.to(atomic_numbers.device), self.elements)

    def extra_repr(self) -> str:
        return f"elements={self.elements}"
