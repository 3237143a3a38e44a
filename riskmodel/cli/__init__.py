"""The ``riskmodel`` command line: thin typer commands over :mod:`riskmodel.api`.

The only package that imports typer. ``_app`` holds the app, the shared options and the one
place a domain error becomes its exit code; each command group is one module (``data``:
sample, validate, features; ``training``: train, evaluate, tune, promote; ``scoring``: score;
``report``: explain, verify; ``demo``). Heavy libraries are imported inside the commands that
need them.
"""

from __future__ import annotations

from riskmodel.cli import data, demo, report, scoring, training
from riskmodel.cli._app import app

__all__ = ["app", "main"]

_COMMAND_MODULES = (data, training, scoring, report, demo)
"""Imported for their ``@app.command()`` registrations."""


def main() -> None:
    """Console-script entry point.

    SIGTERM (``kill``, ``timeout``, a scheduler stopping a job) ends the command the way
    Ctrl-C does: the exception unwinds through the commands' cleanup (a scoring run stops its
    workers and removes its staging folder; nothing half-written is left), and the process
    exits with 143 (128 + SIGTERM).
    """
    import signal

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    app()
