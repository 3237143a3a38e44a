"""Domain exceptions for input data, each carrying the exit code the CLI uses.

``features`` never imports ``riskmodel``, so the base of every domain error lives here and
``riskmodel.errors`` builds on it. The CLI catches :class:`RiskError` once and exits with its
``exit_code``; nothing else exits the process.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_CONTRACT = 3
EXIT_MODEL = 4


class RiskError(Exception):
    """Base of every error the toolkit raises on purpose."""

    exit_code: int = EXIT_UNEXPECTED


class ContractError(RiskError):
    """An input violates the contract at file level (unreadable, empty, missing column...).

    Nothing is written when this is raised.
    """

    exit_code = EXIT_CONTRACT


class MappingError(ContractError):
    """A mapping file is unreadable or names columns that do not exist."""


@dataclass(frozen=True)
class Problem:
    """One row-level contract violation: where it is and what is wrong.

    ``row`` is the 1-based data row of the source file (the header is not counted);
    ``None`` when the problem concerns the whole file or column.
    """

    file: str
    row: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f": row {self.row}"
        if self.column is not None:
            where += f": column '{self.column}'"
        return f"{where}: {self.reason}"


class RowProblemsError(ContractError):
    """Rows violate the contract where every row must be valid (training, features)."""

    def __init__(self, problems: list[Problem], *, shown: int = 20) -> None:
        self.problems = problems
        lines = [str(p) for p in problems[:shown]]
        more = len(problems) - shown
        if more > 0:
            lines.append(f"... and {more} more")
        super().__init__(f"{len(problems)} row(s) violate the contract:\n" + "\n".join(lines))
