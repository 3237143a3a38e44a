"""`riskmodel explain` and `riskmodel verify`: the reviewer's report and its evidence check."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from riskmodel.cli._app import QuietOpt, TrackingOpt, app, err, out, status


@app.command()
def explain(
    model: Annotated[str, typer.Option(help="MLflow model URI or local model folder")],
    scores: Annotated[
        Path,
        typer.Option(exists=True, file_okay=False, help="output folder of `riskmodel score`"),
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", file_okay=False, help="REPORT_DIR to write the report into")
    ],
    top: Annotated[int, typer.Option(min=0, help="red shipments explained one by one")] = 20,
    reasons: Annotated[int, typer.Option(min=0, help="plain-language reasons per shipment")] = 3,
    pseudonymise: Annotated[
        bool,
        typer.Option(
            help="replace entity ids by keyed pseudonyms (key in RISKMODEL_PSEUDONYM_KEY)"
        ),
    ] = False,
    tracking_uri: TrackingOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Write REPORT_DIR/report.html (self-contained), report.json and manifest.json.

    With RISKMODEL_SIGNING_KEY set, the manifest is HMAC-signed. Exit codes: 2 usage (e.g.
    --pseudonymise without its key), 3 scoring folder incomplete, 4 model not found or not
    the one that scored the batch.
    """
    from riskmodel import api

    with status("explaining", quiet=quiet) as progress:
        result = api.explain(
            model,
            scores,
            out_dir,
            top=top,
            reasons=reasons,
            pseudonymise=pseudonymise,
            tracking_uri=tracking_uri,
            progress=progress,
        )
    out.print(f"{result.shipments} shipment(s) explained", markup=False, highlight=False)
    out.print(f"report: {result.html}", markup=False, highlight=False, soft_wrap=True)
    out.print(f"json: {result.json}", markup=False, highlight=False, soft_wrap=True)
    signed = "signed" if result.signed else "unsigned"
    out.print(f"manifest ({signed}): {result.manifest}", markup=False, highlight=False)


@app.command()
def verify(
    folder: Annotated[
        Path, typer.Argument(file_okay=False, help="a report folder or a scoring output folder")
    ],
) -> None:
    """Check a report or scoring folder against its manifest.json (hashes, HMAC with a key).

    Recomputes the SHA-256 of every file listed, and the HMAC when RISKMODEL_SIGNING_KEY is
    set. Exit 0 when all match; 3 naming each file that changed or is missing (or a bad
    signature); 2 when FOLDER does not exist.
    """
    from riskmodel import api
    from riskmodel.errors import IntegrityError

    result = api.verify(folder)
    for check in result.checks:
        line = f"{check.status:9} {check.item}"
        if check.detail:
            line += f" ({check.detail})"
        (err if check.failed else out).print(line, markup=False, highlight=False, soft_wrap=True)
    if not result.ok:
        names = ", ".join(c.item for c in result.failures)
        raise IntegrityError(f"{folder}: verification failed for {names}")
    out.print(f"{folder}: {result.kind} verified", markup=False, highlight=False, soft_wrap=True)
