"""Optional dependencies (RDKit, tblite, gemmi): imported when a feature needs them, with an error
that says which extra installs them instead of an ImportError deep in a stack trace."""

import importlib

from .errors import DatasetError

#: extra of ``pip install 'equiformers[...]'`` that installs each optional module
EXTRAS = {"rdkit": "xtb", "tblite": "xtb", "gemmi": "bio"}


def require(module: str, purpose: str):
    """``import module``, or :class:`DatasetError` saying that ``purpose`` needs it and how to install it.

    Example:
        >>> require("math", "arithmetic").sqrt(4.0)
        2.0
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        extra = EXTRAS.get(top)
        how = f"pip install 'equiformers[{extra}]' (or pip install {top})" if extra else f"pip install {top}"
        raise DatasetError(f"{purpose} needs {top}: {how}") from None
