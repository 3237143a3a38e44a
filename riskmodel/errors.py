"""Every domain exception of the toolkit, with the exit code the CLI maps it to.

Input-data errors are defined in :mod:`features.errors` (``features`` never imports
``riskmodel``) and re-exported here so callers need one import.
"""

from __future__ import annotations

from features.errors import (
    EXIT_CONTRACT,
    EXIT_MODEL,
    EXIT_OK,
    EXIT_UNEXPECTED,
    EXIT_USAGE,
    ContractError,
    MappingError,
    Problem,
    RiskError,
    RowProblemsError,
)

__all__ = [
    "EXIT_CONTRACT",
    "EXIT_MODEL",
    "EXIT_OK",
    "EXIT_UNEXPECTED",
    "EXIT_USAGE",
    "ConfigError",
    "ContractError",
    "IntegrityError",
    "MappingError",
    "ModelError",
    "Problem",
    "RiskError",
    "RowProblemsError",
    "UsageError",
]


class UsageError(RiskError):
    """The command was called wrongly (bad option combination, missing path)."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """An experiment config is invalid; the message names the key."""


class ModelError(RiskError):
    """A model cannot be found, loaded, or does not fit the input."""

    exit_code = EXIT_MODEL


class IntegrityError(ContractError):
    """A file listed in a manifest changed, is missing, or the manifest's signature is wrong."""
