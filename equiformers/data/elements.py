"""Element symbols, atomic numbers, and the mapping from elements to embedding rows."""

from typing import List, Sequence, Union

import torch
from ase.data import atomic_numbers as _SYMBOL_TO_Z
from ase.data import chemical_symbols

from ..errors import ConfigError, InvalidStructureError

MAX_Z = len(chemical_symbols) - 1  # 118


def validate_element_spec(elements: Union[Sequence[str], int]) -> None:
    if isinstance(elements, bool):
        raise ConfigError("elements must be a list of element symbols or an integer")
    if isinstance(elements, int):
        if not 1 <= elements <= MAX_Z + 1:
            raise ConfigError(f"elements = {elements}: an atomic-number range must be in 1..{MAX_Z + 1}")
        return
    if not isinstance(elements, (list, tuple)) or not elements:
        raise ConfigError(f"elements must be a non-empty list of symbols or an integer, got {elements!r}")
    for symbol in elements:
        if symbol not in _SYMBOL_TO_Z or symbol == "X":
            raise ConfigError(f"unknown element symbol {symbol!r} in elements")
    if len(set(elements)) != len(elements):
        raise ConfigError(f"elements has duplicates: {list(elements)}")


def type_table(elements: Union[Sequence[str], int]) -> torch.Tensor:
    """Lookup table ``[MAX_Z + 1]``: atomic number -> embedding row, or -1 if not supported."""
    table = torch.full((MAX_Z + 1,), -1, dtype=torch.long)
    if isinstance(elements, int):
        table[:elements] = torch.arange(elements)
    else:
        for row, symbol in enumerate(elements):
            table[_SYMBOL_TO_Z[symbol]] = row
    return table


def num_types(elements: Union[Sequence[str], int]) -> int:
    return elements if isinstance(elements, int) else len(elements)


def element_types_description(elements: Union[Sequence[str], int]) -> str:
    if isinstance(elements, int):
        return f"atomic numbers 0..{elements - 1}"
    return ", ".join(elements)


def atomic_numbers_to_types(z: torch.Tensor, table: torch.Tensor, elements) -> torch.Tensor:
    """Map atomic numbers to embedding rows; unknown elements raise a clear error."""
    if z.numel() and (z.min() < 0 or z.max() > MAX_Z):
        raise InvalidStructureError(f"atomic numbers must be in 0..{MAX_Z}, got {sorted(set(z.tolist()))}")
    types = table[z]
    if types.numel() and types.min() < 0:
        bad = sorted(set(z[types < 0].tolist()))
        names: List[str] = [chemical_symbols[b] if 0 < b <= MAX_Z else str(b) for b in bad]
        raise InvalidStructureError(
            f"unknown element(s) {', '.join(names)} (Z = {bad}): this model supports "
            f"{element_types_description(elements)}")
    return types
