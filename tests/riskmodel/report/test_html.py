"""The waterfall's axis: ticks readable whatever the span of the margins."""

from __future__ import annotations

import pytest

from riskmodel.report.html import _ticks


@pytest.mark.parametrize(("lo", "hi"), [(-2.93, -2.845), (-1.2, 3.4), (-0.05, 0.05), (0.1, 0.1004)])
def test_ticks_are_distinct_ordered_and_inside_the_span(lo: float, hi: float) -> None:
    ticks = _ticks(lo, hi, lambda value: value)
    texts = [t["text"] for t in ticks]
    assert len(ticks) >= 2 or hi - lo < 1e-3
    assert len(set(texts)) == len(texts), texts  # no two ticks print alike
    positions = [t["x"] for t in ticks]
    assert positions == sorted(positions)
    assert all(lo - 1e-9 <= p <= hi + 1e-9 for p in positions)
    for tick in ticks:
        assert float(tick["text"]) == pytest.approx(tick["x"], abs=0.51 * (hi - lo) / 2)
