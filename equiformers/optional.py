"""Optional dependencies (RDKit, tblite, gemmi, packaged test data): imported or located when a feature
needs them, with an error that says which extra installs them instead of an ImportError deep in a stack
trace."""

import importlib
import importlib.util
from pathlib import Path

from .errors import DatasetError

#: extra of ``pip install 'equiformers[...]'`` that installs each optional module
EXTRAS = {"rdkit": "xtb", "tblite": "xtb", "gemmi": "bio", "MDAnalysisTests": "protein-data",
          "posebusters": "protein-data"}


def _missing(module: str, purpose: str) -> DatasetError:
    top = module.split(".")[0]
    extra = EXTRAS.get(top)
    how = f"pip install 'equiformers[{extra}]' (or pip install {top})" if extra else f"pip install {top}"
    return DatasetError(f"{purpose} needs {top}: {how}")


def require(module: str, purpose: str):
    """``import module``, or :class:`DatasetError` saying that ``purpose`` needs it and how to install it.

    Example:
        >>> require("math", "arithmetic").sqrt(4.0)
        2.0
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise _missing(module, purpose) from None


def package_folder(module: str, purpose: str) -> Path:
    """The folder of the installed package ``module``, found without importing it (data-only packages
    such as ``MDAnalysisTests`` import heavy libraries), or :class:`DatasetError` naming the extra.

    Example:
        >>> package_folder("json", "reading JSON").name
        'json'
    """
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise _missing(module, purpose)
    return Path(spec.origin).parent
