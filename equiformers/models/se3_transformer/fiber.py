"""Fibers: how many channels a feature has of each degree, and the tensor layouts they imply.

A *fiber* (the SE(3)-Transformer's name) is an ordered ``{degree: channels}`` map, e.g.
``{0: 32, 1: 32, 2: 32, 3: 32}``. Features move between layers in two layouts:

* flat (the library's ``irreps`` layout): ``[N, sum_l C_l (2l+1)]``, degree-major, then channel,
  then component, i.e. e3nn's ``mul_ir`` order for irreps ``"32x0e+32x1e+..."``. Every degree
  is labelled even: the SE(3)-Transformer's kernels mix both parities (J runs over every value
  from |l-k| to l+k), so the model is SE(3)- but not E(3)-equivariant.
* per degree (inside layers): ``{degree: [N, C_l, 2l+1]}``, NVIDIA's layout, which the
  batched kernel products need. Converting is a view per degree (no copy on the way in).
"""

from dataclasses import dataclass
from typing import Dict, Iterator, Mapping, Tuple

import torch
from e3nn import o3

from ...errors import ConfigError

Features = Dict[int, torch.Tensor]  # degree -> [N or E, channels, 2 * degree + 1]


@dataclass(frozen=True)
class Fiber:
    """Channels per degree, degrees ascending. Build with :meth:`create` or :meth:`of`.

    Example:
        >>> f = Fiber.of({0: 4, 1: 2})
        >>> f.degrees, f.dim, str(f.irreps)
        ((0, 1), 10, '4x0e+2x1e')
        >>> {d: tuple(t.shape) for d, t in f.split(torch.zeros(3, 10)).items()}
        {0: (3, 4, 1), 1: (3, 2, 3)}
    """

    structure: Tuple[Tuple[int, int], ...]

    @classmethod
    def of(cls, channels: Mapping[int, int], what: str = "fiber") -> "Fiber":
        """A fiber from ``{degree: channels}``; a degree with no channels is a :class:`ConfigError`."""
        items = []
        for degree, count in sorted((int(d), c) for d, c in channels.items()):
            if degree < 0:
                raise ConfigError(f"{what}: degrees must be >= 0, got {degree}")
            if int(count) != count or count < 1:
                raise ConfigError(f"{what}: degree {degree} has {count} channels; every degree needs at least one "
                                  "(leave a degree out instead of giving it 0 channels)")
            items.append((degree, int(count)))
        if not items:
            raise ConfigError(f"{what} has no degrees")
        return cls(tuple(items))

    @classmethod
    def create(cls, num_degrees: int, channels: int) -> "Fiber":
        """Degrees ``0 .. num_degrees - 1`` with ``channels`` each."""
        return cls.of({d: channels for d in range(num_degrees)})

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        return iter(self.structure)

    def __getitem__(self, degree: int) -> int:
        """Channels of ``degree`` (0 when the fiber has no such degree)."""
        return dict(self.structure).get(degree, 0)

    def __contains__(self, degree: int) -> bool:
        return self[degree] > 0

    @property
    def degrees(self) -> Tuple[int, ...]:
        return tuple(d for d, _ in self.structure)

    @property
    def max_degree(self) -> int:
        return self.degrees[-1]

    @property
    def channels(self) -> Tuple[int, ...]:
        return tuple(c for _, c in self.structure)

    @property
    def dim(self) -> int:
        """Total number of numbers: ``sum_l C_l (2l+1)``."""
        return sum(c * (2 * d + 1) for d, c in self.structure)

    @property
    def irreps(self) -> o3.Irreps:
        """e3nn irreps of the flat layout, every degree labelled even (see the module docstring)."""
        return o3.Irreps([(c, (d, 1)) for d, c in self.structure])

    @property
    def uniform_channels(self) -> bool:
        """Whether every degree has the same number of channels."""
        return len(set(self.channels)) == 1

    @property
    def contiguous(self) -> bool:
        """Whether the degrees are exactly ``0 .. max_degree`` (a fully fused basis needs it)."""
        return self.degrees == tuple(range(self.max_degree + 1))

    def scaled(self, divisor: int) -> "Fiber":
        """Channels divided by ``divisor`` (the value fiber of an attention block)."""
        return Fiber.of({d: c // divisor for d, c in self.structure}, what=f"fiber / {divisor}")

    def restricted(self, degrees) -> "Fiber":
        """Only the degrees also in ``degrees``."""
        return Fiber.of({d: c for d, c in self.structure if d in set(degrees)})

    def __add__(self, other: "Fiber") -> "Fiber":
        """Channels added degree by degree (concatenated features, e.g. values and keys)."""
        merged = dict(self.structure)
        for d, c in other.structure:
            merged[d] = merged.get(d, 0) + c
        return Fiber.of(merged)

    # --- layouts ---------------------------------------------------------------------------
    def split(self, flat: torch.Tensor) -> Features:
        """Flat ``[M, dim]`` -> ``{degree: [M, C_l, 2l+1]}`` (views)."""
        chunks = flat.split([c * (2 * d + 1) for d, c in self.structure], dim=-1)
        return {d: x.reshape(*flat.shape[:-1], c, 2 * d + 1) for (d, c), x in zip(self.structure, chunks)}

    def merge(self, features: Features) -> torch.Tensor:
        """``{degree: [M, C_l, 2l+1]}`` -> flat ``[M, dim]`` (degrees of this fiber, in order)."""
        return torch.cat([features[d].reshape(*features[d].shape[:-2], -1) for d in self.degrees], dim=-1)

    def check(self, features: Features, what: str) -> None:
        """Raise a ``ValueError`` naming ``what`` when ``features`` do not have this fiber's shape."""
        got = {d: tuple(x.shape[-2:]) for d, x in features.items()}
        want = {d: (c, 2 * d + 1) for d, c in self.structure}
        if got != want:
            raise ValueError(f"{what}: features of shape {got} (degree: (channels, 2l+1)), expected {want}")

    def __str__(self) -> str:
        return "{" + ", ".join(f"{d}: {c}" for d, c in self.structure) + "}"
