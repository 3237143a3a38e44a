"""Writes a scoring folder in the shared scoring contract from a real trained model.

Stand-in for ``riskmodel score`` (built in parallel) so the report tests and the report
benchmark read the contract's files: scores, flagged with ``feature:<name>`` columns,
corridors, rejects and the manifest, computed with the model's own pipeline, booster and
calibrator.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"
BUDGET = 0.05
RED_CAP = 60


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_scoring_dir(  # type: ignore[no-untyped-def]
    model, batch_dir: Path, out: Path, *, model_uri: str, budget: float = BUDGET, red_cap: int = RED_CAP
) -> pd.DataFrame:
    """Score ``batch_dir`` with ``model`` into ``out`` in the shared contract's layout.

    Red: the top ``BUDGET`` share (at most ``RED_CAP``), the second one by exploration and the
    third by a rule; yellow: the next band. Returns the scores frame.
    """
    from features.io import read_sources

    loaded = read_sources(batch_dir, require_labels=False)
    sources = loaded.sources
    declarations = sources.declarations.reset_index(drop=True)
    features = model.features(sources).reset_index(drop=True)
    margin = model.raw_margin_table(features)
    risk = model.calibrator.transform(margin)
    ids = declarations["declaration_id"].astype(str).to_numpy()
    order = np.lexsort((ids, -risk))
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(1, len(ids) + 1)
    n_red = min(max(1, int(len(ids) * budget)), red_cap)
    channel = np.where(rank <= n_red, "red", np.where(rank <= 2 * n_red, "yellow", "green"))
    selected = np.where(channel == "green", None, "model").astype(object)
    selected[order[1]] = "exploration"
    selected[order[2]] = "rule:precursor_from_new_importer"
    origin = declarations.get("origin_country", pd.Series([None] * len(ids))).astype(object)
    pol = declarations.get("port_of_loading", pd.Series([None] * len(ids))).astype(object)
    poe = declarations.get("port_of_entry", pd.Series([None] * len(ids))).astype(object)
    route = [f"{a}>{b}" if a and b else None for a, b in zip(pol, poe, strict=True)]
    corridor = [
        f"{o}:{r}" if o and r else None for o, r in zip(origin, route, strict=True)
    ]
    scores = pd.DataFrame(
        {
            "declaration_id": pd.Series(ids, dtype="string"),
            "declared_at": declarations["declared_at"].astype("datetime64[us]"),
            "risk_score": risk.astype("float64"),
            "raw_margin": margin.astype("float64"),
            "risk_rank": rank,
            "channel": channel,
            "selected_by": pd.Series(selected, dtype="string"),
            "corridor_id": pd.Series(corridor, dtype="string"),
            "model_uri": model_uri,
            "model_version": pd.Series([None] * len(ids), dtype="string"),
        }
    )
    out.mkdir(parents=True, exist_ok=True)
    scores.to_parquet(out / "scores.parquet", index=False)
    flagged_rows = np.flatnonzero(channel != "green")
    contract = [
        c
        for c in (
            "importer_id", "declarant_id", "exporter_id", "hs_code", "goods_description",
            "origin_country", "export_country", "port_of_loading", "port_of_entry",
            "customs_office", "transport_mode", "quantity", "gross_weight_kg",
            "declared_value_usd", "total_taxes_usd",
        )
        if c in declarations.columns
    ]
    flagged = pd.DataFrame(
        {
            "declaration_id": scores["declaration_id"].iloc[flagged_rows].to_numpy(),
            "channel": channel[flagged_rows],
            "selected_by": selected[flagged_rows],
        }
    )
    for c in contract:
        flagged[c] = declarations[c].iloc[flagged_rows].to_numpy()
    flagged["route"] = pd.Series(np.asarray(route, dtype=object)[flagged_rows], dtype="string")
    cats = set(model.categorical_features)
    columns = {}
    for name in model.feature_names:
        col = features[name].iloc[flagged_rows]
        columns[f"feature:{name}"] = (
            pd.Series(col.astype(object).where(col.notna(), None).to_numpy(), dtype="string")
            if name in cats
            else pd.Series(col.astype("Float64").to_numpy(dtype=float, na_value=np.nan))
        )
    flagged = pd.concat([flagged, pd.DataFrame(columns)], axis=1)
    flagged.to_parquet(out / "flagged.parquet", index=False)
    by = scores.groupby("corridor_id", dropna=True)
    corridors = pd.DataFrame(
        {
            "declarations": by.size(),
            "red": by["channel"].apply(lambda s: int((s == "red").sum())),
            "expected_seizures": by["risk_score"].sum(),
            "risk_rate": by["risk_score"].mean(),
        }
    ).reset_index()
    overall = float(scores["risk_score"].mean())
    corridors["shrunk_rate"] = (corridors["expected_seizures"] + 20 * overall) / (
        corridors["declarations"] + 20
    )
    corridors = corridors.sort_values(["expected_seizures", "shrunk_rate"], ascending=False)
    corridors["rank"] = np.arange(1, len(corridors) + 1)
    corridors.to_parquet(out / "corridors.parquet", index=False)
    rejects = pd.DataFrame(
        {"source": [], "row": [], "column": [], "declaration_id": [], "reason": []}
    ).astype({"row": "int64"})
    rejects.to_parquet(out / "rejects.parquet", index=False)
    outputs = ["scores.parquet", "rejects.parquet", "corridors.parquet", "flagged.parquet"]
    declarations_file = next(batch_dir.glob("declarations.*"))
    manifest = {
        "format": "riskmodel-scoring-manifest",
        "version": 1,
        "created_at": "2026-01-01T00:00:00+00:00",
        "code_version": "test",
        "model": {
            "uri": model_uri,
            "name": None,
            "version": None,
            "run_id": None,
            "feature_cutoff": str(model.pipeline.cutoff_),
        },
        "inputs": [
            {
                "path": str(declarations_file),
                "sha256": _sha(declarations_file),
                "bytes": declarations_file.stat().st_size,
                "rows": len(ids),
            }
        ],
        "parameters": {"budget": budget, "reasons": 3},
        "counts": {
            "input_rows": len(ids),
            "scored": len(ids),
            "rejected": 0,
            "channels": {c: int((channel == c).sum()) for c in ("red", "yellow", "green")},
        },
        "outputs": [
            {"path": name, "sha256": _sha(out / name), "rows": None} for name in outputs
        ],
        "drift": {"threshold": 0.2, "psi": {"value_per_kg": 0.31}, "drifting": ["value_per_kg"]},
        "burden": {
            "transport_mode": [
                {
                    "value": "sea",
                    "declarations": len(ids),
                    "share_of_batch": 1.0,
                    "red_share": n_red / len(ids),
                    "yellow_share": n_red / len(ids),
                }
            ]
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return scores
