"""The console's drift warning: one line, largest PSI first, the rest counted."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel import api
from riskmodel.scoring.drift import drift_summary, split_drift, watched


def test_no_drift_no_warning() -> None:
    assert drift_summary([], {"a": 0.1}) is None


def test_one_line_with_the_largest_first_and_the_rest_counted() -> None:
    psi = {f"f{i}": float(i) for i in range(8)}
    line = drift_summary(list(psi), psi)
    assert line is not None and "\n" not in line
    assert line.startswith("warning: 8 feature(s) drifted from training: f7 (PSI 7.00), f6")
    assert "f2" not in line and "and 3 more" in line
    assert line.endswith("see drift in manifest.json")


def test_state_and_calendar_features_are_not_warned_about_but_declaration_ones_are() -> None:
    assert watched("value_per_kg") and watched("route_ais_gap_hours_total")
    assert watched("extra_bonded_warehouse")  # a mapping's extra: an input, watched
    for name in ("declared_month", "importer_age_days", "profile_hs_chapter_seizure_rate"):
        assert not watched(name), name
    psi = {"value_per_kg": 0.4, "declared_month": 5.0, "importer_age_days": 2.0, "quantity": 0.1}
    assert split_drift(psi, 0.25) == (["value_per_kg"], ["declared_month", "importer_age_days"])


def test_an_ordinary_batch_warns_about_nothing(
    scoring_setup, small_world: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The future of the world the model was fitted on, with its route legs: nothing unusual
    arrives, so nothing is drifting, while the state features' shift since the cutoff is
    listed apart. Without the legs, the route features do drift (they are all missing)."""
    batch = shutil.copytree(scoring_setup.future_dir, tmp_path / "batch")
    legs = pd.read_parquet(small_world / "route_legs.parquet")
    mine = legs["declaration_id"].isin(set(scoring_setup.future["declaration_id"]))
    legs[mine].to_parquet(batch / "route_legs.parquet", index=False)
    without = api.score(str(scoring_setup.model_dir), scoring_setup.future_dir, out=tmp_path / "n")
    assert "route_legs" in without.drifting
    result = api.score(str(scoring_setup.model_dir), batch, out=tmp_path / "o")
    drift = result.manifest["drift"]
    assert result.drifting == drift["drifting"] == [], drift["drifting"]
    assert all(not watched(name) for name in drift["state_shifted"])
    assert len(drift["psi"]) > len(drift["drifting"]) + len(drift["state_shifted"])


def test_a_large_chunk_is_counted_on_a_sample_that_still_sees_a_shift() -> None:
    from riskmodel.scoring.drift import SAMPLE_ROWS, DriftMeter, fit_reference

    rng = np.random.default_rng(5)
    n = 3 * SAMPLE_ROWS + 7
    reference = fit_reference(pd.DataFrame({"x": rng.normal(size=n)}), ["x"], [])
    same, shifted = DriftMeter(reference), DriftMeter(reference)
    same.add(pd.DataFrame({"x": rng.normal(size=n)}))
    shifted.add(pd.DataFrame({"x": rng.normal(loc=1.0, size=n)}))
    assert same.rows_ <= SAMPLE_ROWS < n
    assert same.psi()["x"] < 0.02 < 0.25 < shifted.psi()["x"]


def test_a_batch_too_small_for_a_psi_lists_no_drift() -> None:
    from riskmodel.scoring.drift import MIN_ROWS

    psi = {"value_per_kg": 9.0}
    assert split_drift(psi, 0.25, rows=MIN_ROWS - 1) == ([], [])
    assert split_drift(psi, 0.25, rows=MIN_ROWS) == (["value_per_kg"], [])
