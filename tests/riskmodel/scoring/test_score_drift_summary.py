"""The console's drift warning: one line, largest PSI first, the rest counted."""

from __future__ import annotations

from riskmodel.scoring.drift import drift_summary


def test_no_drift_no_warning() -> None:
    assert drift_summary([], {"a": 0.1}) is None


def test_one_line_with_the_largest_first_and_the_rest_counted() -> None:
    psi = {f"f{i}": float(i) for i in range(8)}
    line = drift_summary(list(psi), psi)
    assert line is not None and "\n" not in line
    assert line.startswith("warning: 8 feature(s) drifted from training: f7 (PSI 7.00), f6")
    assert "f2" not in line and "and 3 more" in line
    assert line.endswith("see drift in manifest.json")
