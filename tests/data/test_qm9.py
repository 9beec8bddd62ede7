"""QM9 from qm9pack: real rows, unit conversions, split, cache."""

import numpy as np
import pytest
import torch

from equiformers.data.qm9 import (ATOM_REFERENCES, HARTREE_TO_MEV, TARGETS, QM9Dataset, load_qm9_arrays,
                                  split_indices)
from equiformers.errors import DatasetError


@pytest.fixture(scope="module")
def arrays():
    return load_qm9_arrays()


def column(arrays, name):
    return arrays["targets"][:, TARGETS.index(name)]


def test_size_and_first_molecule(arrays):
    assert len(arrays["index"]) == 130_831
    assert arrays["index"][0] == 1 and arrays["ptr"][1] == 5  # CH4
    assert arrays["z"][:5].tolist() == [6, 1, 1, 1, 1]
    methane = arrays["targets"][0]
    # raw row: gap 0.5048 Ha, HOMO -0.3877 Ha, U0 -40.47893 Ha, mu 0 D, alpha 13.21 a0^3, Cv 6.469
    assert methane[TARGETS.index("gap")] == pytest.approx(0.5048 * HARTREE_TO_MEV, rel=1e-12)
    assert methane[TARGETS.index("homo")] == pytest.approx(-0.3877 * 27211.386, rel=1e-6)
    atomisation = -40.47893 - (ATOM_REFERENCES["u0"][6] + 4 * ATOM_REFERENCES["u0"][1])
    assert methane[TARGETS.index("u0")] == pytest.approx(atomisation * HARTREE_TO_MEV, rel=1e-12)
    assert methane[TARGETS.index("u0")] == pytest.approx(-17172.18, abs=0.01)  # meV
    assert methane[TARGETS.index("alpha")] == 13.21 and methane[TARGETS.index("cv")] == 6.469


def test_dataset_means_match_published_statistics(arrays):
    # published means (shared/reference/data.md), compared to the precision they are quoted with
    expected = {"mu": (2.673, 1e-3), "alpha": (75.28, 1e-2), "r2": (1189.4, 0.1), "cv": (31.62, 1e-2),
                "homo": (-0.2402, 1e-4), "lumo": (0.0118, 1e-4), "gap": (0.2520, 1e-4), "zpve": (0.1491, 1e-4)}
    for name, (value, last_digit) in expected.items():
        mean = float(column(arrays, name).mean())
        if name in ("homo", "lumo", "gap", "zpve"):
            mean /= HARTREE_TO_MEV  # stored in meV, quoted in hartree
        assert abs(mean - value) <= last_digit, name
    assert float(arrays["ptr"][-1]) / len(arrays["index"]) == pytest.approx(18.03, abs=0.01)


def test_atomisation_energies_are_negative_and_extensive(arrays):
    u0 = column(arrays, "u0")
    assert (u0 < 0).all()
    n_atoms = (arrays["ptr"][1:] - arrays["ptr"][:-1]).double()
    assert np.corrcoef(u0.numpy(), n_atoms.numpy())[0, 1] < -0.8


def test_standard_split():
    splits = split_indices(130_831)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [110_000, 10_000, 10_831]
    assert len(np.unique(np.concatenate(list(splits.values())))) == 130_831
    assert splits["train"][:3].tolist() == split_indices(130_831)["train"][:3].tolist()


def test_dataset_items_and_subsets():
    ds = QM9Dataset(["gap", "u0"], 5.0, "val", subset=10)
    assert len(ds) == 10 and ds.units == {"gap": "meV", "u0": "meV"}
    item = ds[0]
    assert item["pos"].dtype == torch.float64 and item["gap"].shape == (1,)
    assert torch.allclose(ds.target_array()[0], torch.cat([item["gap"], item["u0"]]))


def test_second_load_uses_cache(isolated_cache):
    import time

    load_qm9_arrays()
    start = time.time()
    load_qm9_arrays()
    assert time.time() - start < 5
    assert (isolated_cache / "qm9_v1.pt").is_file()


def test_bad_targets_and_splits_are_clear_errors():
    with pytest.raises(DatasetError, match="unknown QM9 target"):
        QM9Dataset(["bandgap"], 5.0)
    with pytest.raises(DatasetError, match="unknown split"):
        QM9Dataset(["gap"], 5.0, split="holdout")
