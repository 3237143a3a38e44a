"""The notebook API of batch scoring: one thin call over :mod:`riskmodel.scoring`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from riskmodel.api._common import Progress, say

if TYPE_CHECKING:
    from riskmodel.scoring.batch import ScoreResult


def score(
    model: str,
    data: Path | str,
    *,
    out: Path | str,
    mapping: Path | str | None = None,
    budget: float = 0.05,
    yellow_budget: float = 0.10,
    exploration: float = 0.10,
    seed: int = 0,
    rules: Path | str | None = None,
    reasons: int = 3,
    reasons_for: tuple[str, ...] = ("red",),
    format: str = "parquet",
    chunk_rows: int = 100_000,
    drift_threshold: float = 0.25,
    tracking_uri: str | None = None,
    progress: Progress | None = None,
) -> ScoreResult:
    """Score DATA's declarations with MODEL into OUT (the scoring output contract, README).

    MODEL: ``models:/name@alias``, ``models:/name/N``, ``runs:/<id>/model`` or a local model
    folder. DATA is read through ``mapping``, else through the mapping the model was trained
    with. Exit-code errors: :class:`~riskmodel.errors.ContractError` (3) for a broken input
    file, :class:`~riskmodel.errors.ModelError` (4) for a model that cannot be loaded or fed,
    :class:`~riskmodel.errors.UsageError` (2) for bad options; nothing is written then.
    """
    from features.mapping import load_mapping, parse_mapping
    from riskmodel.scoring.batch import ModelInfo, ScoreOptions, score_batch
    from riskmodel.scoring.channels import load_officer_rules
    from riskmodel.tracking import describe_model, load_risk_model

    options = ScoreOptions(
        budget=budget,
        yellow_budget=yellow_budget,
        exploration=exploration,
        seed=seed,
        reasons=reasons,
        reasons_for=tuple(reasons_for),
        rules=load_officer_rules(Path(rules)) if rules is not None else None,
        format=format,
        chunk_rows=chunk_rows,
        drift_threshold=drift_threshold,
    )
    options.check()
    say(progress, f"loading {model}")
    described = describe_model(model, tracking_uri=tracking_uri)
    risk_model = load_risk_model(model, tracking_uri=tracking_uri)
    if mapping is not None:
        mapping_obj = load_mapping(Path(mapping))
    elif risk_model.meta.get("mapping"):
        saved = risk_model.meta["mapping"]
        mapping_obj = parse_mapping(
            saved["toml"], path=Path(f"<model's mapping {saved.get('file', '')}>")
        )
    else:
        mapping_obj = None
    return score_batch(
        risk_model,
        Path(data),
        Path(out),
        source=ModelInfo(
            uri=described.uri,
            name=described.name,
            version=described.version,
            run_id=described.run_id,
        ),
        mapping=mapping_obj,
        options=options,
        progress=progress,
    )
