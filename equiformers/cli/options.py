"""Options shared by the commands that run a trained model on new structures, and their checks.

``predict``, ``md`` and ``relax`` refuse structures outside what the model can answer for
(elements it never saw, overlapping atoms, graphs too large to build) unless the user allows
them; every number a user types is range-checked before any file is read.
"""

import math
import sys
import warnings
from typing import Any, Dict

from ..errors import ConfigError, EquiformersWarning


def check_ranges(args, positive=(), non_negative=()) -> None:
    """Raise a one-line :class:`ConfigError` naming the first option out of range (NaN and inf included).

    Options are given by their ``args`` attribute names; the message names the flag the user typed."""
    for names, rule, ok in ((positive, "> 0", lambda v: v > 0), (non_negative, ">= 0", lambda v: v >= 0)):
        for name in names:
            value = getattr(args, name)
            if value is None:
                continue
            if not (math.isfinite(value) and ok(value)):
                raise ConfigError(f"--{name.replace('_', '-')} must be a finite number {rule}, got {value}")


def add_structure_options(parser) -> None:
    """``--min-distance``, ``--allow-overlap``, ``--allow-new-elements`` and ``--max-edges``."""
    parser.add_argument("--min-distance", type=float, default=0.5,
                        help="Å: atoms closer than this are overlapping, an error unless --allow-overlap (default 0.5)")
    parser.add_argument("--allow-overlap", action="store_true",
                        help="warn about overlapping atoms instead of refusing the structure")
    parser.add_argument("--allow-new-elements", action="store_true",
                        help="predict structures with elements absent from the training data (with a warning)")
    parser.add_argument("--max-edges", type=int, default=None,
                        help="refuse structures whose graph would exceed this many edges (default 5,000,000 "
                             "or $EQUIFORMERS_MAX_EDGES; 0: no limit)")


def structure_policy(args) -> Dict[str, Any]:
    """The keyword arguments of :class:`~equiformers.data.domain.StructureChecks` from the options (checked)."""
    check_ranges(args, positive=("min_distance",), non_negative=("max_edges",))
    return {"min_distance": args.min_distance, "allow_overlap": args.allow_overlap,
            "allow_new_elements": args.allow_new_elements}


def show_warnings_plainly() -> None:
    """Print our warnings as ``warning: ...`` lines on stderr (Python's format names a source line)."""
    original = warnings.showwarning
    if getattr(original, "plain_equiformers", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, EquiformersWarning):
            print(f"warning: {message}", file=sys.stderr, flush=True)
        else:
            original(message, category, filename, lineno, file, line)

    show.plain_equiformers = True
    warnings.showwarning = show
