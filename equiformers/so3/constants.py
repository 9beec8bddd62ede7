"""Exact constant buffers that survive dtype changes: declare a builder, rebuild after ``_apply``.

``module.double()`` only casts buffers, so a constant built in float32 (e3nn builds its
Clebsch-Gordan buffers in the default dtype) keeps float32 rounding (~1e-8) and float64
equivariance fails at the 1e-7 level. A module therefore declares each such buffer with a
builder ``builder(dtype, device) -> Tensor`` that computes it from scratch (in float64 or
exactly, then cast), and :func:`rebuild_constants` recomputes every declared buffer of a model in
its current dtype and device. A model calls it from its ``_apply`` override, after
``super()._apply``.

Declarations live on the declaring module in a plain dict attribute ``{buffer path: builder}``
(paths are relative to that module, so a submodule re-created by pickling is still found). Use
picklable builders (module-level functions, ``functools.partial``), not lambdas, so models can be
saved whole.
"""

import functools
from typing import Callable, Dict

import torch
from e3nn import o3
from torch import nn

Builder = Callable[[torch.dtype, torch.device], torch.Tensor]
DECLARATIONS_ATTRIBUTE = "exact_constants"


def declare_constant(module: nn.Module, buffer_name: str, builder: Builder) -> None:
    """Declare ``module``'s buffer ``buffer_name`` (a dotted path below ``module``) as rebuilt by ``builder``.

    ``builder(dtype, device)`` must return the buffer's value, same shape, in that dtype/device.
    Declaring the same buffer again replaces its builder.

    Example:
        >>> def one_third(dtype, device):
        ...     return torch.ones(1, dtype=dtype, device=device) / 3
        >>> layer = nn.Module()
        >>> layer.register_buffer("third", one_third(torch.float32, "cpu"))
        >>> declare_constant(layer, "third", one_third)
        >>> _ = layer.double()
        >>> float(layer.third) == 1 / 3  # cast only: float32 rounding remains
        False
        >>> rebuild_constants(layer)
        >>> float(layer.third) == 1 / 3
        True
    """
    module.get_buffer(buffer_name)  # fail now, not at the first dtype change, on a wrong name
    declarations = getattr(module, DECLARATIONS_ATTRIBUTE, None)
    if declarations is None:
        declarations = {}
        setattr(module, DECLARATIONS_ATTRIBUTE, declarations)
    declarations[buffer_name] = builder


def declared_constants(root_module: nn.Module) -> Dict[str, Builder]:
    """Every declared buffer below ``root_module``: ``{full buffer name: builder}``.

    Example:
        >>> tp = o3.TensorProduct("1x1o", "1x2e", "1x1o", [(0, 0, 0, "uvw", True)])
        >>> declare_e3nn_wigner_3j(tp)
        >>> sorted(declared_constants(nn.ModuleDict({"tp": tp})))
        ['tp._compiled_main_left_right._w3j_1_2_1']
    """
    found = {}
    for prefix, module in root_module.named_modules():
        for name, builder in getattr(module, DECLARATIONS_ATTRIBUTE, {}).items():
            found[f"{prefix}.{name}" if prefix else name] = builder
    return found


def rebuild_constants(root_module: nn.Module) -> None:
    """Recompute every declared buffer below ``root_module`` in place, in its current dtype and device.

    Buffers on the ``meta`` device (shape-only models) are skipped. Raises ``ValueError`` when a
    builder's shape disagrees with its buffer.

    Example:
        >>> tp = o3.TensorProduct("1x1o", "1x2e", "1x1o", [(0, 0, 0, "uvw", True)])
        >>> declare_e3nn_wigner_3j(tp)
        >>> _ = tp.double()
        >>> rebuild_constants(tp)
        >>> torch.equal(tp._compiled_main_left_right._w3j_1_2_1, o3.wigner_3j(1, 2, 1, dtype=torch.float64))
        True
    """
    with torch.no_grad():
        for name, builder in declared_constants(root_module).items():
            buffer = root_module.get_buffer(name)
            if buffer.device.type == "meta":
                continue
            value = builder(buffer.dtype, buffer.device)
            if value.shape != buffer.shape:
                raise ValueError(f"constant {name!r}: builder gives shape {tuple(value.shape)}, "
                                 f"buffer has {tuple(buffer.shape)}")
            buffer.copy_(value)


def declare_e3nn_wigner_3j(tensor_product: o3.TensorProduct) -> None:
    """Declare the Clebsch-Gordan (``o3.wigner_3j``) buffers of an e3nn ``TensorProduct`` (or subclass).

    The degrees (l1, l2, l3) come from the public ``instructions`` and irreps. e3nn (0.5, 0.6)
    keeps one buffer per degree triple in each of its generated kernel submodules, named
    ``_w3j_{l1}_{l2}_{l3}``; e3nn offers no public way to reach them, so that private name is used
    here and nowhere else. Paths whose code e3nn specialises (an l = 0 input, 1 ⊗ 1 → 1) hold no
    buffer and need none. Raises ``RuntimeError`` if a rank-3 floating buffer is left undeclared,
    i.e. if e3nn changed its layout.

    Example:
        >>> tp = o3.TensorProduct("1x1o", "1x2e", "1x1o", [(0, 0, 0, "uvw", True)])
        >>> declare_e3nn_wigner_3j(tp)
        >>> list(tp.exact_constants)
        ['_compiled_main_left_right._w3j_1_2_1']
    """
    degrees = {(tensor_product.irreps_in1[ins.i_in1].ir.l, tensor_product.irreps_in2[ins.i_in2].ir.l,
                tensor_product.irreps_out[ins.i_out].ir.l) for ins in tensor_product.instructions}
    for prefix, submodule in tensor_product.named_modules():
        own_buffers = dict(submodule.named_buffers(recurse=False))
        for l1, l2, l3 in sorted(degrees):
            leaf = f"_w3j_{l1}_{l2}_{l3}"
            if leaf in own_buffers:
                declare_constant(tensor_product, f"{prefix}.{leaf}" if prefix else leaf,
                                 functools.partial(o3.wigner_3j, l1, l2, l3))
    declared = getattr(tensor_product, DECLARATIONS_ATTRIBUTE, {})
    missed = [name for name, buffer in tensor_product.named_buffers()
              if buffer.is_floating_point() and buffer.dim() == 3 and name not in declared]
    if missed:
        raise RuntimeError(f"undeclared e3nn constant buffers {missed}: the installed e3nn stores its "
                           "Clebsch-Gordan coefficients differently; update declare_e3nn_wigner_3j")
