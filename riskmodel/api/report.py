"""Explanation reports and evidence checks: ``explain`` and ``verify`` of the notebook API.

``explain(model, scores, out)`` reads a scoring folder (``riskmodel score`` output), recomputes
the exact SHAP values of its flagged rows with the model, and writes ``out/report.json``,
``out/report.html`` and, last, ``out/manifest.json`` (SHA-256 of every file written and of the
scoring files read, chained to the scoring manifest; HMAC-signed when
``RISKMODEL_SIGNING_KEY`` is set). ``verify(folder)`` recomputes a manifest's hashes.

Errors: ``pseudonymise`` without ``RISKMODEL_PSEUDONYM_KEY`` is a UsageError (2) raised before
anything is read; a missing or malformed scoring file a ContractError (3); a model that is
missing, lacks a flagged feature or did not score the batch a ModelError (4).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features.atomic import write_text_atomic
from riskmodel.api._common import Progress, say
from riskmodel.errors import UsageError
from riskmodel.report.verify import VerifyResult

__all__ = ["ExplainResult", "code_version", "explain", "verify"]

REPORT_FILES = ("report.json", "report.html")


@dataclass(frozen=True)
class ExplainResult:
    """Where the report went and what it holds."""

    folder: Path
    html: Path
    json: Path
    manifest: Path
    shipments: int
    signed: bool
    report: dict[str, Any] = field(repr=False, default_factory=dict)


def code_version() -> str:
    """The installed riskmodel version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"riskmodel {version('riskmodel')}"
    except PackageNotFoundError:
        return "riskmodel (not installed)"


def explain(
    model: str,
    scores: Path,
    out: Path,
    *,
    top: int = 20,
    reasons: int = 3,
    pseudonymise: bool = False,
    tracking_uri: str | None = None,
    progress: Progress | None = None,
) -> ExplainResult:
    """Write the explanation report of the scoring run in ``scores`` (see module doc).

    ``top``: red shipments explained one by one (highest risk first); ``reasons``: plain
    reasons per shipment; ``pseudonymise``: entity ids replaced by keyed pseudonyms
    (:mod:`riskmodel.report.pseudonym`).
    """
    from features.atomic import file_sha256
    from riskmodel import tracking
    from riskmodel.report.build import build_report, read_scoring_dir
    from riskmodel.report.card import card_from_meta, card_markdown
    from riskmodel.report.html import render_html
    from riskmodel.report.pseudonym import Pseudonymiser
    from riskmodel.report.verify import signing_key, write_manifest

    if top < 0:
        raise UsageError(f"--top must be >= 0, found {top}")
    if reasons < 0:
        raise UsageError(f"--reasons must be >= 0, found {reasons}")
    pseudonymiser = Pseudonymiser.from_env() if pseudonymise else None
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    say(progress, f"reading {scores}")
    run = read_scoring_dir(scores)
    say(progress, f"loading {model}")
    loaded = tracking.load_risk_model(model, tracking_uri=tracking_uri)
    source = tracking.describe_model(model, tracking_uri=tracking_uri)
    info = {"uri": source.uri, "name": source.name, "version": source.version}
    if source.run_id:
        info["run_id"] = source.run_id
    card = card_from_meta(loaded)
    card["markdown"] = card_markdown(
        card, name=source.name, version=source.version, run_id=source.run_id
    )
    say(progress, "computing SHAP contributions")
    report = build_report(
        loaded,
        run,
        top=top,
        reasons=reasons,
        model_info=info,
        card=card,
        pseudonymiser=pseudonymiser,
    )
    say(progress, "writing the report")
    page = render_html(report)
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / REPORT_FILES[0], out / REPORT_FILES[1]
    write_text_atomic(json_path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    write_text_atomic(html_path, page)
    scoring_manifest = run.files["manifest.json"]
    key = signing_key()
    write_manifest(
        out,
        written=[json_path, html_path],
        inputs=[p for name, p in run.files.items() if name != "manifest.json"],
        chain={
            "scoring_manifest": {
                "path": str(scoring_manifest.resolve()),
                "sha256": file_sha256(scoring_manifest),
            }
        },
        parameters={
            "model": model,
            "top": top,
            "reasons": reasons,
            "pseudonymised": pseudonymise,
        },
        code_version=code_version(),
        key=key,
    )
    return ExplainResult(
        folder=out,
        html=html_path,
        json=json_path,
        manifest=out / "manifest.json",
        shipments=len(report["shipments"]),
        signed=key is not None,
        report=report,
    )


def verify(folder: Path) -> VerifyResult:
    """Recompute the hashes (and, with ``RISKMODEL_SIGNING_KEY`` set, the signature) of a
    report or scoring folder's manifest; the result lists every check (``result.ok``)."""
    from riskmodel.report.verify import signing_key, verify_dir

    if not Path(folder).is_dir():
        raise UsageError(f"{folder} does not exist or is not a folder")
    return verify_dir(Path(folder), key=signing_key())
