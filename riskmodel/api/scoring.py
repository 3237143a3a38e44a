"""The notebook API of batch scoring: one thin call over :mod:`riskmodel.scoring`."""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from riskmodel.api._common import Progress, say

if TYPE_CHECKING:
    from riskmodel.scoring.batch import ScoreResult


def score(
    model: str,
    data: Path | str,
    *,
    out: Path | str,
    mapping: Path | str | None = None,
    history: Path | str | None = None,
    budget: float = 0.05,
    yellow_budget: float = 0.10,
    exploration: float = 0.10,
    seed: int = 0,
    rules: Path | str | None = None,
    reasons: int = 3,
    reasons_for: tuple[str, ...] = ("red",),
    format: str = "parquet",
    chunk_rows: int = 50_000,
    drift_threshold: float = 0.25,
    workers: int | None = None,
    tracking_uri: str | None = None,
    progress: Progress | None = None,
) -> ScoreResult:
    """Score DATA's declarations with MODEL into OUT (the scoring output contract, README).

    MODEL: ``models:/name@alias``, ``models:/name/N``, ``runs:/<id>/model`` or a local model
    folder. DATA is read through ``mapping``, else through the mapping the model was trained
    with. ``history``: a DATA folder of newer facts (declarations, labels, flags, legs) that
    refresh the model's feature state before scoring (:meth:`FeaturePipeline.refresh`); any
    row problem in it stops the run (exit 3). Exit-code errors:
    :class:`~riskmodel.errors.ContractError` (3) for a broken input file,
    :class:`~riskmodel.errors.ModelError` (4) for a model that cannot be loaded or fed,
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
        workers=workers,
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
    if history is not None:
        from riskmodel.api._common import read_data

        say(progress, f"refreshing the feature state from {history}")
        loaded = read_data(
            Path(history),
            None if mapping is None else Path(mapping),
            require_labels=False,
            model_mapping=risk_model.meta.get("mapping"),
        )
        loaded.raise_on_problems()
        risk_model = dataclasses.replace(
            risk_model, pipeline=risk_model.pipeline.refresh(loaded.sources)
        )
    return score_batch(
        risk_model,
        Path(data),
        Path(out),
        source=ModelInfo.of(described),
        mapping=mapping_obj,
        options=options,
        progress=progress,
        history=None if history is None else Path(history),
    )


def score_period(
    model: str,
    data: Path | str,
    *,
    start: pd.Timestamp | str,
    out: Path | str,
    tracking_uri: str | None = None,
    progress: Progress | None = None,
    batch_dir: Path | str | None = None,
    **options: object,
) -> ScoreResult:
    """Score DATA's declarations from ``start`` on as the batch that would have arrived then.

    ``batch_dir``: where the batch's files are written and kept (its declarations, route legs
    and ports, as Parquet), so ``riskmodel verify`` can check the scoring inputs later; by
    default a temporary folder, removed after scoring.

    For a model whose feature state already holds DATA (``riskmodel demo`` scores the
    sample's test period): the model's feature state is refitted on DATA's facts known
    before ``start`` (same feature parameters, so the same features), and the declarations
    from ``start`` on, with their route legs, are scored by :func:`score` (``options`` are its
    keyword options). The manifest's feature cutoff is ``start``.
    """
    from features.contracts import columns
    from features.lookup import isin
    from features.mapping import Mapping
    from features.table import FeaturePipeline
    from riskmodel.api._common import read_data
    from riskmodel.api.training import _pipeline_params
    from riskmodel.errors import UsageError
    from riskmodel.scoring.batch import ModelInfo, ScoreOptions, score_batch
    from riskmodel.tracking import describe_model, load_risk_model

    start = pd.Timestamp(start)
    say(progress, f"loading {model}")
    described = describe_model(model, tracking_uri=tracking_uri)
    risk_model = load_risk_model(model, tracking_uri=tracking_uri)
    loaded = read_data(
        Path(data), None, require_labels=False, model_mapping=risk_model.meta.get("mapping")
    )
    loaded.raise_on_problems()
    sources = loaded.sources
    pipeline = FeaturePipeline(**_pipeline_params(risk_model)).fit(sources, cutoff=start)
    risk_model = dataclasses.replace(risk_model, pipeline=pipeline)
    decl = sources.declarations
    batch = decl[(decl["declared_at"] >= start).to_numpy(dtype=bool)].reset_index(drop=True)
    if batch.empty:
        raise UsageError(f"{data}: no declaration on or after {start}")
    extras = (*sources.extra_categorical, *sources.extra_numeric)
    mapping = None
    if extras:  # the batch is written in the contract layout plus the extras, as served
        mapping = Mapping(
            columns={c: c for c in columns("declarations") if c in batch.columns},
            extra_categorical=tuple(sources.extra_categorical),
            extra_numeric=tuple(sources.extra_numeric),
        )
    with contextlib.ExitStack() as stack:
        if batch_dir is None:
            folder = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="riskmodel-period-"))
            )
        else:
            folder = Path(batch_dir)
            folder.mkdir(parents=True, exist_ok=True)
            for name in ("declarations", "route_legs", "ports"):
                (folder / f"{name}.parquet").unlink(missing_ok=True)
        batch.to_parquet(folder / "declarations.parquet", index=False)
        if sources.route_legs is not None:
            legs = sources.route_legs
            mine = legs[isin(legs["declaration_id"], batch["declaration_id"])]
            mine.to_parquet(folder / "route_legs.parquet", index=False)
        if sources.ports is not None:
            sources.ports.to_parquet(folder / "ports.parquet", index=False)
        return score_batch(
            risk_model,
            folder,
            Path(out),
            source=ModelInfo.of(described),
            mapping=mapping,
            options=ScoreOptions(**options),  # type: ignore[arg-type]
            progress=progress,
        )
