"""Report benchmark: `riskmodel explain` of 200 red shipments in under 60 s.

A fresh 60k-declaration world (seed 2027) is cut at 90 % of its days; a model is trained on
the past (embedded MLflow) and the future is scored by ``riskmodel score`` (about 300 red).
The benchmark times ``api.explain(..., top=200)`` end to end (model loading from the registry
included) and prints each step, then verifies the report it wrote.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

SEED = 2027
N_DECLARATIONS = 60_000
SHIPMENTS = 200
LIMIT_S = 60.0

CONFIG = """[data]
path = "{data}"

[split]
valid_days = 45
test_days = 45
label_delay_days = 14

[model]
num_leaves = 31
learning_rate = 0.1
num_boost_round = 200
early_stopping_rounds = 20

[tracking]
experiment = "bench-report"
register_as = "seizure-risk"
"""


@pytest.mark.bench
def test_bench_report_200_shipments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from riskmodel import api
    from riskmodel.world import generate_world, write_world

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RISKMODEL_SIGNING_KEY", raising=False)
    world = tmp_path / "world"
    write_world(generate_world(n_declarations=N_DECLARATIONS, seed=SEED, days=365), world)
    declarations = pd.read_parquet(world / "declarations.parquet")
    first, last = declarations["declared_at"].min(), declarations["declared_at"].max()
    cutoff = (first + (last - first) * 0.9).normalize()
    past, future = tmp_path / "past", tmp_path / "future"
    past.mkdir()
    future.mkdir()
    before = declarations["declared_at"] < cutoff
    declarations[before].to_parquet(past / "declarations.parquet", index=False)
    declarations[~before].to_parquet(future / "declarations.parquet", index=False)
    kept = set(declarations.loc[before, "declaration_id"])
    labels = pd.read_parquet(world / "labels.parquet")
    labels[labels["declaration_id"].isin(kept) & (labels["inspected_at"] < cutoff)].to_parquet(
        past / "labels.parquet", index=False
    )
    flags = pd.read_parquet(world / "financial_flags.parquet")
    flags[flags["flagged_at"] < cutoff].to_parquet(past / "financial_flags.parquet", index=False)
    legs = pd.read_parquet(world / "route_legs.parquet")
    legs[legs["declaration_id"].isin(kept)].to_parquet(past / "route_legs.parquet", index=False)
    legs[~legs["declaration_id"].isin(kept)].to_parquet(future / "route_legs.parquet", index=False)
    for name in ("ports.parquet",):
        (past / name).write_bytes((world / name).read_bytes())
        (future / name).write_bytes((world / name).read_bytes())
    config = tmp_path / "bench.toml"
    config.write_text(CONFIG.format(data=past.as_posix()), encoding="utf-8")

    started = time.perf_counter()
    trained = api.train(config)
    trained_s = time.perf_counter() - started
    model_uri = f"models:/{trained.registered_name}/{trained.version}"
    started = time.perf_counter()
    scored = api.score(model_uri, future, out=tmp_path / "scores")
    scored_s = time.perf_counter() - started
    red = int(scored.manifest["counts"]["channels"]["red"])
    assert red >= SHIPMENTS, f"only {red} red shipments; the benchmark needs {SHIPMENTS}"

    steps: list[tuple[str, float]] = []
    started = time.perf_counter()
    result = api.explain(
        model_uri,
        tmp_path / "scores",
        tmp_path / "report",
        top=SHIPMENTS,
        progress=lambda step: steps.append((step, time.perf_counter())),
    )
    elapsed = time.perf_counter() - started
    assert result.shipments == SHIPMENTS
    html = result.html.read_text(encoding="utf-8")
    assert html.count('<svg class="waterfall"') == SHIPMENTS
    assert api.verify(result.folder).ok

    print(
        f"\nreport bench: world {N_DECLARATIONS} declarations seed {SEED}; "
        f"train {trained_s:.1f} s, score {len(declarations[~before])} declarations "
        f"({red} red) {scored_s:.1f} s"
    )
    ends = [at for _, at in steps[1:]] + [started + elapsed]
    for (step, at), end in zip(steps, ends, strict=True):
        print(f"  {step:<40} {end - at:6.2f} s")
    print(
        f"  explain {SHIPMENTS} shipments: {elapsed:.2f} s in all (limit {LIMIT_S:.0f} s); "
        f"report.html {result.html.stat().st_size / 1e6:.2f} MB, "
        f"report.json {result.json.stat().st_size / 1e6:.2f} MB"
    )
    assert elapsed < LIMIT_S
