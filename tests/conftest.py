import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Processed datasets go to a fresh folder per test session (QM9 is parsed once, ~7 s)."""
    folder = tmp_path_factory.mktemp("equiformers-cache")
    old = os.environ.get("EQUIFORMERS_CACHE")
    os.environ["EQUIFORMERS_CACHE"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("EQUIFORMERS_CACHE", None)
    else:
        os.environ["EQUIFORMERS_CACHE"] = old
