"""The report's content (``report.json``) from a scoring run's outputs and the model.

:func:`read_scoring_dir` reads what ``riskmodel score`` wrote (``manifest.json``,
``scores.*``, ``flagged.parquet``, ``corridors.*``); :func:`build_report` recomputes the exact
SHAP contributions of the flagged rows from their ``feature:<name>`` columns with the one
SHAP path of the project (:func:`riskmodel.scoring.reasons.contributions`) and returns the
document of DESIGN.md's "Report JSON" shape::

    {"format", "version", "generated_at", "pseudonymised",
     "model": {uri, name, version, run_id, feature_cutoff, training_cutoff, card, ...},
     "batch": {counts, channels, selected_by, risk_distribution, global_importance, drift,
               burden, scoring_manifest},
     "corridors": [{corridor_id, declarations, red, expected_seizures, ...}],
     "shipments": [{declaration_id, risk_score, raw_margin, base_value,
                    contributions: {feature: log-odds}, reasons: [{feature, value,
                    contribution, text}], selected_by, selection, channel, risk_rank,
                    declared_at, corridor_id, route, fields: {...}}]}

A shipment's reasons are the ``reasons`` largest contributions by size, up or down, worded by
:func:`riskmodel.scoring.reasons.top_reasons` exactly as in ``scores``' reason columns.
For every shipment ``base_value + sum(contributions) == raw_margin`` (log-odds); the
recomputed margin must equal the ``raw_margin`` of ``scores`` to 1e-6, otherwise the model is
not the one that scored the batch (:class:`ModelError`, exit 4). The document holds only
JSON types (NaN becomes ``null``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.atomic import file_sha256
from features.errors import ContractError
from riskmodel.errors import ModelError
from riskmodel.scoring.batch import FLAGGED_DECLARATION_COLUMNS

if TYPE_CHECKING:
    from riskmodel.model import RiskModel
    from riskmodel.report.pseudonym import Pseudonymiser

__all__ = [
    "DECLARATION_FIELDS",
    "REPORT_FORMAT",
    "ScoringRun",
    "build_report",
    "read_scoring_dir",
    "selection_text",
]

REPORT_FORMAT = "riskmodel-report"
MARGIN_TOLERANCE = 1e-6
FEATURE_PREFIX = "feature:"
GLOBAL_IMPORTANCE_TOP = 15
CORRIDORS_SHOWN = 20
HISTOGRAM_BINS = 20

DECLARATION_FIELDS: tuple[str, ...] = FLAGGED_DECLARATION_COLUMNS
"""Declaration fields shown for a shipment, in this order, whichever flagged.parquet holds."""

_SCORES_COLUMNS = ("declaration_id", "risk_score", "raw_margin", "risk_rank", "channel")


@dataclass
class ScoringRun:
    """What one ``riskmodel score`` run wrote, as read back (``files``: name -> path read)."""

    folder: Path
    manifest: dict[str, Any]
    scores: pd.DataFrame
    flagged: pd.DataFrame
    corridors: pd.DataFrame | None
    files: dict[str, Path] = field(default_factory=dict)


def _read_table(path: Path) -> pd.DataFrame:
    try:
        if path.suffix == ".csv":
            return pd.read_csv(path, dtype={"declaration_id": str, "corridor_id": str})
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise ContractError(f"{path}: unreadable scoring output: {exc}") from None


def _first(folder: Path, stem: str) -> Path | None:
    for suffix in (".parquet", ".csv"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return None


def read_scoring_dir(folder: Path | str) -> ScoringRun:
    """Read a scoring output folder; a missing file or column is a :class:`ContractError` (3).

    Needs ``manifest.json``, ``scores.parquet`` (or ``.csv``) and ``flagged.parquet``;
    ``corridors.*`` is optional.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ContractError(f"{folder}: scoring output folder not found")
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise ContractError(
            f"{manifest_path}: missing; not a complete scoring output (the manifest is "
            "written last)"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ContractError(f"{manifest_path}: unreadable JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise ContractError(f"{manifest_path}: expected a JSON object")
    files = {"manifest.json": manifest_path}
    scores_path = _first(folder, "scores")
    if scores_path is None:
        raise ContractError(f"{folder / 'scores.parquet'}: missing (nor scores.csv)")
    flagged_path = folder / "flagged.parquet"
    if not flagged_path.is_file():
        raise ContractError(f"{flagged_path}: missing")
    scores = _read_table(scores_path)
    flagged = _read_table(flagged_path)
    files[scores_path.name] = scores_path
    files[flagged_path.name] = flagged_path
    missing = [c for c in _SCORES_COLUMNS if c not in scores.columns]
    if missing:
        raise ContractError(f"{scores_path}: column(s) {missing} missing")
    if "declaration_id" not in flagged.columns:
        raise ContractError(f"{flagged_path}: column 'declaration_id' missing")
    corridors = None
    corridors_path = _first(folder, "corridors")
    if corridors_path is not None:
        corridors = _read_table(corridors_path)
        files[corridors_path.name] = corridors_path
    return ScoringRun(
        folder=folder,
        manifest=manifest,
        scores=scores,
        flagged=flagged,
        corridors=corridors,
        files=files,
    )


def _clean(value: Any) -> Any:
    """A JSON-safe scalar: numpy types unwrapped, NaN/NA/NaT -> None, timestamps ISO."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def selection_text(selected_by: str | None) -> str:
    """Why a declaration was selected, in plain words."""
    if selected_by == "model":
        return "The model's risk score ranks it within today's inspection budget."
    if selected_by == "exploration":
        return (
            "Chosen at random for exploration, not because of its score: random checks keep "
            "future training labels unbiased."
        )
    if selected_by and selected_by.startswith("rule:"):
        name = selected_by.removeprefix("rule:")
        return f"Selected by the officer rule '{name}' (mandatory, whatever its score)."
    return "Not selected."


def _feature_frame(model: RiskModel, flagged: pd.DataFrame, where: str) -> pd.DataFrame:
    """The model's input features from the ``feature:<name>`` columns of flagged rows."""
    names = model.feature_names
    missing = [n for n in names if f"{FEATURE_PREFIX}{n}" not in flagged.columns]
    if missing:
        raise ModelError(
            f"{where}: the model needs feature column(s) "
            f"{[FEATURE_PREFIX + n for n in missing[:10]]} that are absent "
            f"({len(missing)} in all): was the batch scored with another model?"
        )
    frame = pd.DataFrame({n: flagged[f"{FEATURE_PREFIX}{n}"] for n in names}, index=flagged.index)
    for name in model.categorical_features:
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def _histogram(scores: np.ndarray, bins: int) -> list[dict[str, Any]]:
    if len(scores) == 0:
        return []
    top = float(np.nanmax(scores)) or 1.0
    counts, edges = np.histogram(scores, bins=bins, range=(0.0, top))
    return [
        {"from": float(edges[i]), "to": float(edges[i + 1]), "count": int(counts[i])}
        for i in range(len(counts))
    ]


def _counts(scores: pd.DataFrame, manifest: Mapping[str, Any]) -> dict[str, Any]:
    channels = {c: int((scores["channel"] == c).sum()) for c in ("red", "yellow", "green")}
    selected = (
        scores["selected_by"].dropna().astype(str).value_counts().sort_index()
        if "selected_by" in scores.columns
        else pd.Series(dtype=int)
    )
    red = (
        scores.loc[scores["channel"] == "red", "selected_by"].dropna().astype(str).value_counts()
        if "selected_by" in scores.columns
        else pd.Series(dtype=int)
    )
    counted = manifest.get("counts") or {}
    risk = scores["risk_score"].to_numpy(dtype=float)
    quantiles = (
        {f"p{q}": float(np.quantile(risk, q / 100)) for q in (50, 90, 99)}
        | {"max": float(risk.max()), "mean": float(risk.mean())}
        if len(risk)
        else {}
    )
    return {
        "input_rows": counted.get("input_rows"),
        "scored": len(scores),
        "rejected": counted.get("rejected"),
        "channels": channels,
        "selected_by": {str(k): int(v) for k, v in selected.items()},
        "red_selected_by": {str(k): int(v) for k, v in red.sort_index().items()},
        "risk_summary": quantiles,
        "risk_distribution": _histogram(risk, HISTOGRAM_BINS),
    }


def _reasons(row: pd.Series, k: int) -> list[dict[str, Any]]:
    """The reasons of one row of :func:`top_reasons` (the same as scores' reason columns)."""
    out = []
    for i in range(1, k + 1):
        feature = _clean(row.get(f"reason_{i}_feature"))
        if feature is None:
            continue
        out.append(
            {
                "feature": str(feature),
                "value": _clean(row.get(f"reason_{i}_value")),
                "contribution": float(row[f"reason_{i}_contribution"]),
                "text": _clean(row.get(f"reason_{i}_text")),
            }
        )
    return out


def _group(name: str) -> str:
    from features.catalogue import feature_info

    try:
        return feature_info(name).group
    except KeyError:
        return "other"


def build_report(
    model: RiskModel,
    run: ScoringRun,
    *,
    top: int = 20,
    reasons: int = 3,
    model_info: Mapping[str, Any] | None = None,
    card: Mapping[str, Any] | None = None,
    pseudonymiser: Pseudonymiser | None = None,
) -> dict[str, Any]:
    """The report document (see module doc) for the ``top`` highest-ranked red shipments.

    Global importance is the mean absolute contribution over every flagged (red and yellow)
    row. Raises :class:`ModelError` (4) when the model lacks a feature column of
    ``flagged.parquet`` or its margins differ from ``scores``; :class:`ContractError` (3)
    when a red row of ``scores`` has no flagged row.
    """
    from riskmodel.scoring.reasons import Contributions, contributions, top_reasons

    if top < 0 or reasons < 0:
        raise ValueError("top and reasons must be >= 0")
    flagged_where = str(run.files.get("flagged.parquet", run.folder / "flagged.parquet"))
    flagged = run.flagged.reset_index(drop=True)
    features = _feature_frame(model, flagged, flagged_where)
    shap = contributions(model, features)
    ids = flagged["declaration_id"].astype(str).to_numpy()
    scored_margin = pd.Series(
        run.scores["raw_margin"].to_numpy(dtype=float),
        index=run.scores["declaration_id"].astype(str).to_numpy(),
    )
    expected = scored_margin.reindex(ids).to_numpy(dtype=float)
    if len(ids):
        gap = np.abs(np.asarray(shap.raw_margin, float) - expected)
        bad = np.flatnonzero(~(gap <= MARGIN_TOLERANCE))
        if len(bad):
            i = int(bad[0])
            raise ModelError(
                f"{flagged_where}: row {i + 1}: declaration {ids[i]!r} gets raw margin "
                f"{float(shap.raw_margin[i]):.9f} from this model but {expected[i]:.9f} in "
                f"scores ({len(bad)} row(s) differ): the model is not the one that scored "
                "this batch"
            )
    importance = shap.values.abs().mean(axis=0).sort_values(ascending=False, kind="stable")
    global_importance = [
        {"feature": str(n), "group": _group(str(n)), "mean_abs_contribution": float(v)}
        for n, v in importance.head(GLOBAL_IMPORTANCE_TOP).items()
        if v > 0
    ]

    hide = pseudonymiser or (lambda v: None if v is None else str(v))
    red = (
        run.scores[run.scores["channel"] == "red"]
        .sort_values(["risk_rank", "declaration_id"], kind="stable")
        .head(top)
    )
    position = pd.Series(np.arange(len(ids)), index=ids)
    absent = [str(d) for d in red["declaration_id"].astype(str) if d not in position.index]
    if absent:
        raise ContractError(
            f"{flagged_where}: {len(absent)} red declaration(s) of scores have no flagged row, "
            f"e.g. {absent[0]!r}"
        )
    rows = position.reindex(red["declaration_id"].astype(str).to_numpy()).to_numpy(dtype=int)
    chosen = Contributions(
        base_value=shap.base_value,
        values=shap.values.iloc[rows],
        raw_margin=np.asarray(shap.raw_margin)[rows],
    )
    reason_frame = top_reasons(chosen, features.iloc[rows], k=reasons)
    shipments = []
    records: list[dict[str, Any]] = [
        {str(k): v for k, v in rec.items()} for rec in red.to_dict(orient="records")
    ]
    for n, row in enumerate(records):
        i = int(rows[n])
        record = flagged.iloc[i]
        fields = {
            name: _clean(record[name]) for name in DECLARATION_FIELDS if name in flagged.columns
        }
        for name in ("importer_id", "declarant_id", "exporter_id", "container_id"):
            if name in fields and fields[name] is not None:
                fields[name] = hide(fields[name])
        selected_by = _clean(row.get("selected_by"))
        shipments.append(
            {
                "declaration_id": hide(str(row["declaration_id"])),
                "risk_score": float(row["risk_score"]),
                "risk_rank": int(row["risk_rank"]),
                "raw_margin": float(shap.raw_margin[i]),
                "base_value": float(shap.base_value),
                "contributions": {str(k): float(v) for k, v in shap.values.iloc[i].items()},
                "reasons": _reasons(reason_frame.iloc[n], reasons),
                "selected_by": selected_by,
                "selection": selection_text(selected_by),
                "channel": str(row["channel"]),
                "declared_at": _clean(row.get("declared_at")),
                "corridor_id": _clean(row.get("corridor_id")),
                "route": _clean(record["route"]) if "route" in flagged.columns else None,
                "fields": fields,
            }
        )

    corridors: list[dict[str, Any]] = []
    if run.corridors is not None and len(run.corridors):
        table = run.corridors
        if "rank" in table.columns:
            table = table.sort_values("rank", kind="stable")
        corridors = [
            {str(k): _clean(v) for k, v in rec.items()}
            for rec in table.head(CORRIDORS_SHOWN).to_dict(orient="records")
        ]
    manifest_path = run.files["manifest.json"]
    scoring_model = run.manifest.get("model") or {}
    info = {**scoring_model, **{k: v for k, v in (model_info or {}).items() if v is not None}}
    batch = _counts(run.scores, run.manifest)
    batch.update(
        {
            "flagged": len(flagged),
            "corridors_total": 0 if run.corridors is None else len(run.corridors),
            "global_importance": global_importance,
            "drift": run.manifest.get("drift"),
            "burden": run.manifest.get("burden"),
            "parameters": run.manifest.get("parameters"),
            "scoring_manifest": {
                "path": manifest_path.name,
                "sha256": file_sha256(manifest_path),
                "created_at": run.manifest.get("created_at"),
                "code_version": run.manifest.get("code_version"),
            },
        }
    )
    meta = model.meta
    return _json_safe(
        {
            "format": REPORT_FORMAT,
            "version": 1,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "pseudonymised": pseudonymiser is not None,
            "model": {
                "uri": info.get("uri"),
                "name": info.get("name"),
                "version": info.get("version"),
                "run_id": info.get("run_id"),
                "feature_cutoff": info.get("feature_cutoff"),
                "training_cutoff": meta.get("training_cutoff"),
                "split": meta.get("split"),
                "features": len(model.feature_names),
                "lightgbm_version": meta.get("lightgbm_version"),
                "card": dict(card) if card is not None else None,
            },
            "batch": batch,
            "corridors": corridors,
            "shipments": shipments,
        }
    )


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return _clean(value)
