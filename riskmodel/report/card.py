"""The model card: what a model is for, what it learned from, how well it does, whom it burdens.

:func:`build_card` runs at training time (the evaluation and the test period are at hand) and
returns a JSON-friendly dict stored in the model's ``meta.json`` (``meta["model_card"]``), so
it travels with the model folder into MLflow and into every report; :func:`card_markdown`
renders it as the Markdown logged beside each registered version (``model_card.md``).
:func:`card_from_meta` gives the partial card of a model trained before cards existed.

Sections: intended use; training data window and sources; features by group; figures at
1/5/10 % against the baselines (test period); calibration (Brier, reliability table); known
limits; inspection burden on the test period per origin country, transport mode and
importer size band at the default 5 % budget (who would be opened, relative to their share
of declarations), computed with the scoring run's own ``burden`` and ``size_band``; the size
band here counts the importer's declarations in the 365 days before (a point-in-time feature),
where a scoring run counts all its declarations in the model's history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from riskmodel.evaluate import Evaluation
    from riskmodel.model import RiskModel
    from riskmodel.split import TimeSplit

__all__ = [
    "BURDEN_BUDGET",
    "build_card",
    "card_from_meta",
    "card_markdown",
]

BURDEN_BUDGET = 0.05
BURDEN_ROWS = 12
_FIGURES = ("precision", "recall", "seized_kg_share")
_BUDGET_NAMES = ("1pct", "5pct", "10pct")

INTENDED_USE = (
    "Rank incoming customs declarations by the probability that an inspection finds drugs "
    "or precursors, so a targeting unit can open the riskiest within its inspection budget.",
    "Scores support an officer's decision; they are not a finding of wrongdoing against any "
    "trader, and every selection is explained shipment by shipment.",
    "Not for: decisions about people outside customs control, sanctions without "
    "inspection, or administrations and trade flows unlike the training data without "
    "re-validation.",
)

KNOWN_LIMITS = (
    "Labels exist only for inspected declarations, chosen mostly by legacy rules: the model "
    "learns partly what the rules looked at (the training config's [training] selection says "
    "whether the random inspections were up-weighted; either way the bias is not removed).",
    "A non-seizure is not proof of innocence: an inspection can miss concealed goods.",
    "Outcomes become known after a delay, so the most recent weeks carry fewer labels.",
    "Routes and concealment methods shift after crackdowns; watch the drift warnings of each "
    "scoring run and retrain when they persist.",
    "Figures on few seizures are uncertain; the counts below say how many there were.",
)


def _burden(
    model: RiskModel,
    table: pd.DataFrame,
    split: TimeSplit,
    declarations: pd.DataFrame | None,
) -> dict[str, Any]:
    from riskmodel.evaluate import top_share
    from riskmodel.scoring.drift import burden, size_band

    rows = np.flatnonzero(split.period_mask(table, "test"))
    if len(rows) == 0:
        return {"budget": BURDEN_BUDGET, "declarations": 0}
    test = table.iloc[rows].reset_index(drop=True)
    score = model.predict_table(test)
    opened = top_share(score, BURDEN_BUDGET) >= 0.5
    groups: dict[str, Any] = {}
    lookup = declarations.set_index("declaration_id") if declarations is not None else None
    for column in ("origin_country", "transport_mode"):
        if column in test.columns:
            groups[column] = test[column].astype(object).to_numpy()
        elif lookup is not None and column in lookup.columns:
            ids = test["declaration_id"].to_numpy()
            groups[column] = lookup[column].reindex(ids).astype(object).to_numpy()
    if "importer_declarations_365d" in test.columns:
        counts = pd.to_numeric(test["importer_declarations_365d"], errors="coerce")
        groups["importer_size_band"] = size_band(counts.fillna(0).to_numpy(dtype=float))
    tables = burden(
        {name: pd.Categorical(values) for name, values in groups.items()},
        np.where(opened, "red", "green"),
    )
    out: dict[str, Any] = {
        "budget": BURDEN_BUDGET,
        "declarations": len(rows),
        "opened": int(opened.sum()),
    }
    for column, entries in tables.items():
        out[column] = [
            {
                "value": e["value"] if e["value"] is not None else "unknown",
                "declarations": e["declarations"],
                "share_of_batch": e["share_of_batch"],
                "share_of_opened": e["declarations"] * e["red_share"] / max(int(opened.sum()), 1),
                "opened_rate": e["red_share"],
            }
            for e in entries[:BURDEN_ROWS]
        ]
    return out


def _features(model: RiskModel) -> list[dict[str, Any]]:
    from features.catalogue import GROUPS, feature_info

    by_group: dict[str, list[str]] = {}
    for name in model.feature_names:
        try:
            group = feature_info(name).group
        except KeyError:
            group = "other"
        by_group.setdefault(group, []).append(name)
    order = [g for g in GROUPS if g in by_group] + [g for g in by_group if g not in GROUPS]
    return [{"group": g, "count": len(by_group[g]), "names": by_group[g]} for g in order]


def _window(model: RiskModel, table: pd.DataFrame | None) -> dict[str, Any]:
    split = model.meta.get("split") or {}
    window: dict[str, Any] = {
        "training_cutoff": model.meta.get("training_cutoff"),
        "valid_start": split.get("valid_start"),
        "test_start": split.get("test_start"),
        "label_delay_days": split.get("label_delay_days"),
    }
    if table is not None and len(table):
        window["first_declaration"] = pd.Timestamp(table["declared_at"].min()).isoformat()
        window["last_declaration"] = pd.Timestamp(table["declared_at"].max()).isoformat()
    return window


def card_from_meta(model: RiskModel) -> dict[str, Any]:
    """The card a model carries (``meta["model_card"]``), else what its metadata tells."""
    stored = model.meta.get("model_card")
    if isinstance(stored, Mapping):
        return dict(stored)
    return {
        "intended_use": list(INTENDED_USE),
        "data": {"window": _window(model, None), "sources": [], "rows": model.meta.get("rows")},
        "features": _features(model),
        "groups_absent": list(model.meta.get("groups_absent") or []),
        "figures": {"columns": [], "rows": []},
        "calibration": {},
        "limits": [
            *KNOWN_LIMITS,
            "This model was trained before model cards existed: its figures and inspection "
            "burden are in its MLflow run, not here.",
        ],
        "burden": {},
    }


def build_card(
    model: RiskModel,
    *,
    evaluation: Evaluation,
    table: pd.DataFrame,
    split: TimeSplit,
    fingerprints: Mapping[str, Any] | None = None,
    declarations: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The model card of a freshly trained model (see module doc); JSON types only."""
    columns = [f"{f}_at_{b}" for f in _FIGURES for b in _BUDGET_NAMES]
    scorers = {"model": evaluation.metrics, **evaluation.baselines}
    figure_rows = [
        {
            "scorer": name,
            **{c: _num(metrics.get(f"test_{c}")) for c in columns},
            "pr_auc": _num(metrics.get("test_pr_auc")),
            "oracle_ratio_at_5pct": _num(metrics.get("test_oracle_ratio_at_5pct")),
        }
        for name, metrics in scorers.items()
    ]
    reliability = evaluation.reliability
    sources = [
        {"source": str(k), "rows": v.get("rows"), "sha256": v.get("sha256")}
        for k, v in (fingerprints or {}).items()
        if isinstance(v, Mapping)
    ]
    counts = evaluation.counts
    limits = list(KNOWN_LIMITS)
    seizures = counts.get("test_seizures")
    if seizures is not None and seizures < 30:
        limits.append(
            f"The test period holds only {seizures} seizure(s) among "
            f"{counts.get('test_inspected', 0)} inspections: its figures are rough."
        )
    return {
        "intended_use": list(INTENDED_USE),
        "data": {
            "window": _window(model, table),
            "sources": sources,
            "rows": {**(model.meta.get("rows") or {}), **{k: int(v) for k, v in counts.items()}},
        },
        "features": _features(model),
        "groups_absent": list(model.meta.get("groups_absent") or []),
        "figures": {"columns": [*columns, "pr_auc", "oracle_ratio_at_5pct"], "rows": figure_rows},
        "calibration": {
            "brier": _num(evaluation.metrics.get("test_brier")),
            "reliability": [
                {k: _num(v) for k, v in rec.items()}
                for rec in reliability.to_dict(orient="records")
            ]
            if len(reliability)
            else [],
        },
        "limits": limits,
        "burden": _burden(model, table, split, declarations),
    }


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _md(value: Any) -> str:
    """A Markdown table cell: input text cannot open HTML or break the table."""
    text = "-" if value is None else str(value)
    for raw, safe in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("\n", " ")):
        text = text.replace(raw, safe)
    return text


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "-" if value is None else format(float(value), spec)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines


def card_markdown(
    card: Mapping[str, Any],
    *,
    name: str | None = None,
    version: int | str | None = None,
    run_id: str | None = None,
) -> str:
    """The card as Markdown (every value from data escaped for Markdown and HTML)."""
    title = f"Model card: {name or 'seizure-risk model'}"
    if version is not None:
        title += f" version {version}"
    lines = [f"# {_md(title)}", ""]
    if run_id:
        lines += [f"MLflow run `{_md(run_id)}`.", ""]
    lines += ["## Intended use", ""] + [f"- {_md(t)}" for t in card.get("intended_use", [])]
    data = card.get("data") or {}
    window = data.get("window") or {}
    lines += ["", "## Training data", ""]
    lines += [f"- {_md(k.replace('_', ' '))}: {_md(v)}" for k, v in window.items()]
    if data.get("sources"):
        lines += [
            "",
            *_table(
                ["source", "rows", "sha256"],
                [[s["source"], s["rows"], s["sha256"]] for s in data["sources"]],
            ),
        ]
    rows = data.get("rows") or {}
    if rows:
        lines += ["", *_table(["rows", "count"], [[k, v] for k, v in rows.items()])]
    lines += ["", "## Features by group", ""]
    for group in card.get("features", []):
        lines.append(
            f"- **{_md(group['group'])}** ({group['count']}): "
            + ", ".join(_md(n) for n in group["names"])
        )
    if card.get("groups_absent"):
        lines.append(f"- absent (source missing): {', '.join(map(_md, card['groups_absent']))}")
    figures = card.get("figures") or {}
    lines += ["", "## Figures on the test period, against the baselines", ""]
    if figures.get("rows"):
        columns = figures["columns"]
        lines += _table(
            ["scorer", *columns],
            [[r["scorer"], *[_fmt(r.get(c)) for c in columns]] for r in figures["rows"]],
        )
    else:
        lines.append("Not recorded in this model.")
    calibration = card.get("calibration") or {}
    lines += ["", "## Calibration", "", f"Brier score: {_fmt(calibration.get('brier'), '.5f')}"]
    if calibration.get("reliability"):
        lines += [
            "",
            *_table(
                ["predicted (mean)", "observed rate", "inspections"],
                [
                    [
                        _fmt(r.get("mean_predicted"), ".4f"),
                        _fmt(r.get("observed_rate"), ".4f"),
                        _fmt(r.get("count"), ".0f"),
                    ]
                    for r in calibration["reliability"]
                ],
            ),
        ]
    lines += ["", "## Known limits", ""] + [f"- {_md(t)}" for t in card.get("limits", [])]
    burden = card.get("burden") or {}
    lines += ["", "## Inspection burden on the test period", ""]
    if burden.get("declarations"):
        lines.append(
            f"Top {float(burden['budget']):.0%} of {burden['declarations']} test declarations "
            "by risk score: who would be opened, against their share of declarations."
        )
        for key in ("origin_country", "transport_mode", "importer_size_band"):
            if burden.get(key):
                lines += [
                    "",
                    f"### {key.replace('_', ' ')}",
                    "",
                    *_table(
                        ["value", "declarations", "share of all", "share of opened", "opened rate"],
                        [
                            [
                                r["value"],
                                r["declarations"],
                                _fmt(r["share_of_batch"], ".1%"),
                                _fmt(r["share_of_opened"], ".1%"),
                                _fmt(r["opened_rate"], ".1%"),
                            ]
                            for r in burden[key]
                        ],
                    ),
                ]
    else:
        lines.append("Not recorded in this model.")
    return "\n".join(lines) + "\n"
