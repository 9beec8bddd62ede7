"""Exceptions raised for bad input.

Every error a user can cause (bad structure, bad config, bad file) is an
:class:`EquiformersError` whose message names the problem, so the command-line
interface can print one clear line instead of a stack trace.
"""


class EquiformersError(Exception):
    """Base class of every error the library raises for bad user input."""


class InvalidStructureError(EquiformersError, ValueError):
    """A structure cannot be used: no atoms, NaN coordinates, unknown element, ..."""


class ConfigError(EquiformersError, ValueError):
    """A config has an unknown or missing key, or a value of the wrong kind."""


class CheckpointError(EquiformersError, ValueError):
    """A checkpoint file is missing, corrupt, or belongs to another model."""


class DatasetError(EquiformersError, ValueError):
    """A dataset cannot be loaded: missing file, missing key, unknown target."""


class TrainingError(EquiformersError, RuntimeError):
    """Training cannot go on: a non-finite loss or weights (the last good checkpoint is kept)."""


class EquiformersWarning(UserWarning):
    """A doubtful but allowed input: a structure outside the training domain, an MD run running away."""
