"""The field registry: built-in keys, lookups, units, did-you-mean errors, re-registration."""

import pytest

from equiformers.data import keys as K
from equiformers.errors import ConfigError, DatasetError


def test_existing_keys_keep_their_strings():
    assert (K.POSITIONS, K.ATOMIC_NUMBERS, K.CELL, K.PBC, K.EDGE_INDEX, K.EDGE_CELL_SHIFT, K.BATCH, K.NUM_ATOMS,
            K.PTR) == ("pos", "atomic_numbers", "cell", "pbc", "edge_index", "edge_cell_shift", "batch",
                       "num_atoms", "ptr")


def test_every_key_constant_is_registered():
    constants = {v for name, v in vars(K).items() if name.isupper() and isinstance(v, str)}
    assert constants <= set(K.registered_fields())
    for name in ("atom_type", "energy", "forces", "stress", "y", "block_index", "block_type", "atom_token",
                 "position_code", "segment", "num_blocks", "block_batch", "block_edge_index", "block_edge_type",
                 "edge_type"):
        assert K.field(name).name == name


@pytest.mark.parametrize("name, level, dtype_kind, index_space, cat_dim", [
    ("pos", "atom", "float", None, 0),
    ("cell", "graph", "float", None, 0),
    ("pbc", "graph", "bool", None, 0),
    ("edge_index", "edge", "int", "atoms", 1),
    ("edge_cell_shift", "edge", "float", None, 0),
    ("atom_type", "atom", "int", None, 0),
    ("block_index", "atom", "int", "blocks", 0),
    ("block_type", "block", "int", None, 0),
    ("segment", "block", "int", None, 0),
    ("num_blocks", "graph", "int", None, 0),
    ("block_batch", "block", "int", None, 0),
    ("block_edge_index", "block_edge", "int", "blocks", 1),
    ("block_edge_type", "block_edge", "int", None, 0),
    ("edge_type", "edge", "int", None, 0),
    ("forces", "atom", "float", None, 0),
    ("stress", "graph", "float", None, 0),
])
def test_builtin_fields(name, level, dtype_kind, index_space, cat_dim):
    f = K.field(name)
    assert (f.level, f.dtype_kind, f.index_space, f.cat_dim) == (level, dtype_kind, index_space, cat_dim)


def test_units():
    assert K.unit_of("energy") == "eV" and K.unit_of("forces") == "eV/Å" and K.unit_of("stress") == "eV/Å^3"
    assert K.unit_of("pos") == "Å" and K.unit_of("y") == ""


def test_qm9_registers_its_targets_with_units():
    from equiformers.data.qm9 import TARGETS, UNITS

    for name in TARGETS:
        f = K.field(name)
        assert (f.level, f.dtype_kind, f.unit) == ("graph", "float", UNITS[name])


def test_unknown_key_suggests_the_closest_and_the_fix():
    with pytest.raises(DatasetError, match=r"unknown data key 'edge_indx' \(did you mean 'edge_index'\?\).*register_field"):
        K.field("edge_indx")
    with pytest.raises(DatasetError, match="register_field") as err:
        K.field("zzzzzzzz")
    assert "did you mean" not in str(err.value)


def test_registering_the_same_definition_is_a_no_op():
    first = K.register_field("test_keys_dipole", "graph", "float", unit="D")
    assert K.register_field("test_keys_dipole", "graph", "float", unit="D") is first


def test_conflicting_registration_is_an_error_unless_overwritten():
    K.register_field("test_keys_charge", "atom", "float", unit="e")
    with pytest.raises(ConfigError, match="'test_keys_charge' is already registered"):
        K.register_field("test_keys_charge", "graph", "float", unit="e")
    assert K.field("test_keys_charge").level == "atom"
    K.register_field("test_keys_charge", "graph", "float", unit="e", overwrite=True)
    assert K.field("test_keys_charge").level == "graph"


@pytest.mark.parametrize("kwargs, message", [
    (dict(level="node", dtype_kind="float"), "level must be one of"),
    (dict(level="atom", dtype_kind="double"), "dtype_kind must be one of"),
    (dict(level="atom", dtype_kind="int", index_space="residues"), "index_space must be one of"),
    (dict(level="edge", dtype_kind="float", index_space="atoms"), "must be int"),
    (dict(level="edge", dtype_kind="int", cat_dim=2), "cat_dim must be 0 or 1"),
])
def test_bad_field_definitions_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        K.register_field("test_keys_bad", **kwargs)
    assert "test_keys_bad" not in K.registered_fields()


def test_registered_fields_is_a_copy():
    fields = K.registered_fields()
    fields.pop("pos")
    assert "pos" in K.registered_fields()
