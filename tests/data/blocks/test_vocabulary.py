"""EPT's three vocabularies match the official tokeniser (jiaor17/EPT data/format.py, paper Table 6)."""

import pytest

from equiformers.data.blocks import BlockVocabulary
from equiformers.data.blocks import vocabulary as V
from equiformers.errors import ConfigError, InvalidStructureError


def test_sizes_and_layout():
    assert (V.NUM_BLOCK_TYPES, V.NUM_ATOM_TYPES, V.NUM_POSITIONS) == (150, 121, 14)
    assert [s for s, _ in V.BLOCKS[:4]] == ["#", "*", "?", "&"]
    assert V.BLOCKS[4] == ("G", "GLY") and V.BLOCKS[23] == ("P", "PRO")
    assert V.BLOCKS[24] == ("h", "H") and V.BLOCKS[141] == ("og", "OG")
    assert [s for s, _ in V.BLOCKS[142:]] == ["DA", "DG", "DC", "DT", "R-A", "R-G", "R-C", "R-U"]
    assert V.ATOMS[:3] == ["pad", "msk", "glb"] and V.ATOMS[3] == "H" and V.ATOMS[120] == "OG"
    assert V.POSITIONS == ["pad", "msk", "glb", "", "A", "B", "G", "D", "E", "Z", "H", "XT", "P", "sml"]


def test_lookups():
    assert V.residue_block("ALA") == 5 and V.residue_block("ala") == 5
    assert V.residue_block("XK2") == V.block_index("?")  # unknown residue -> UNK
    assert V.residue_block("C") == V.block_index("?")  # an element block is not a residue name
    assert V.element_block(6) == V.block_index("c") and V.atom_index(6) == V.ATOMS.index("C")
    with pytest.raises(InvalidStructureError):
        V.atom_index(119)
    with pytest.raises(InvalidStructureError, match="unknown block symbol"):
        V.block_index("XYZ")


@pytest.mark.parametrize("name, element, code", [
    ("N", "N", ""), ("CA", "C", "A"), ("CB", "C", "B"), ("OG1", "O", "G"), ("CD2", "C", "D"), ("NE2", "N", "E"),
    ("NZ", "N", "Z"), ("NH1", "N", "H"), ("OXT", "O", "XT"), ("O1P", "O", "P"), ("SD", "S", "D"),
    ("HH11", "H", ""),  # str.lstrip removes both H, as the official tokeniser does
])
def test_position_codes_as_official(name, element, code):
    assert V.position_code(name, element) == code
    assert V.POSITIONS[V.position_index(code)] == code


def test_block_table_compatibility_switch():
    BlockVocabulary(150).check([145])
    BlockVocabulary(142).check([0, 5, 141])
    with pytest.raises(InvalidStructureError, match="142"):
        BlockVocabulary(142).check([143])
    with pytest.raises(ConfigError, match="150"):
        BlockVocabulary(100)
