"""The exact-constants hook: declarations, rebuilds after dtype changes, e3nn's Clebsch-Gordan buffers."""

import copy
import functools
import pickle

import pytest
import torch
from e3nn import o3
from torch import nn

import equiformers
from equiformers.models import base
from equiformers.nn.tensor_product import DepthwiseTensorProduct
from equiformers.so3 import declare_constant, declare_e3nn_wigner_3j, declared_constants, rebuild_constants


def one_third(dtype, device):
    return torch.full((2,), 1.0, dtype=dtype, device=device) / 3


def holder():
    module = nn.Module()
    module.inner = nn.Module()
    module.inner.register_buffer("third", one_third(torch.float32, "cpu"))
    return module


def w3j_buffers(module):
    return {name: buffer for name, buffer in module.named_buffers() if name.rsplit(".", 1)[-1].startswith("_w3j_")}


def exact_w3j(name):
    l1, l2, l3 = (int(v) for v in name.rsplit("_w3j_", 1)[1].split("_"))
    return o3.wigner_3j(l1, l2, l3, dtype=torch.float64)


def refresh_by_name(module):
    # models.base.refresh_wigner_3j, the name-parsing hook this one replaces, once it is deleted.
    with torch.no_grad():
        for name, buffer in w3j_buffers(module).items():
            buffer.copy_(exact_w3j(name))


def test_declare_and_rebuild_nested_path():
    root = nn.ModuleDict({"block": holder()})
    declare_constant(root["block"], "inner.third", one_third)
    assert list(declared_constants(root)) == ["block.inner.third"]
    root.double()
    assert not torch.equal(root["block"].inner.third, one_third(torch.float64, "cpu"))  # a cast keeps float32 rounding
    rebuild_constants(root)
    assert torch.equal(root["block"].inner.third, one_third(torch.float64, "cpu"))


def test_declare_rejects_unknown_buffers_and_wrong_shapes():
    module = holder()
    with pytest.raises(AttributeError):
        declare_constant(module, "inner.missing", one_third)
    declare_constant(module, "inner.third", lambda dtype, device: torch.zeros(3, dtype=dtype, device=device))
    with pytest.raises(ValueError, match="shape"):
        rebuild_constants(module)


def test_meta_buffers_are_skipped():
    module = holder()
    declare_constant(module, "inner.third", one_third)
    module.to("meta")
    rebuild_constants(module)  # nothing to compute on a shape-only model
    assert module.inner.third.device.type == "meta"


def test_e3nn_declarations_cover_every_clebsch_gordan_buffer():
    irreps = o3.Irreps("2x0e+2x1o+1x2e+1x3o")
    tp = o3.FullyConnectedTensorProduct(irreps, o3.Irreps.spherical_harmonics(3), irreps)
    declare_e3nn_wigner_3j(tp)
    assert set(declared_constants(tp)) == set(w3j_buffers(tp)) != set()
    for name, builder in declared_constants(tp).items():
        assert torch.equal(builder(torch.float64, torch.device("cpu")), exact_w3j(name))
        assert isinstance(builder, functools.partial)  # picklable


def test_depthwise_tensor_product_declares_and_survives_copies():
    dtp = DepthwiseTensorProduct("4x0e+2x1o+2x2e", "1x0e+1x1o+1x2e", "1x0e+1x1o+1x2e")
    assert set(declared_constants(dtp)) == set(w3j_buffers(dtp)) != set()
    for clone in (copy.deepcopy(dtp), pickle.loads(pickle.dumps(dtp))):
        assert set(declared_constants(clone)) == set(declared_constants(dtp))
        clone.double()
        rebuild_constants(clone)
        assert all(torch.equal(buffer, exact_w3j(name)) for name, buffer in w3j_buffers(clone).items())


def test_replaces_refresh_wigner_3j_on_a_model():
    model = equiformers.build_model("equiformer-qm9", num_layers=1, channels=[16, 8, 4]).double()
    targets = w3j_buffers(model)
    assert targets and set(declared_constants(model)) == set(targets)
    # Put back what a plain cast leaves, whatever AtomisticModel._apply does today.
    with torch.no_grad():
        for buffer in targets.values():
            buffer.copy_(buffer.float().double())
    cast = {name: buffer.clone() for name, buffer in targets.items()}
    reference = copy.deepcopy(model)
    getattr(base, "refresh_wigner_3j", refresh_by_name)(reference)
    expected = w3j_buffers(reference)
    rebuild_constants(model)
    rebuilt = w3j_buffers(model)
    assert all(torch.equal(rebuilt[name], expected[name]) for name in targets)
    assert all(rebuilt[name].dtype == torch.float64 for name in targets)
    assert any(not torch.equal(rebuilt[name], cast[name]) for name in targets)
