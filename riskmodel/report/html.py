"""``report.html``: one self-contained page from the report document (:mod:`.build`).

Rendered by jinja2 with autoescaping on for every value (``templates/report.html.j2``); the
page has inline CSS and inline SVG charts whose geometry is computed here and whose labels
go through the template's escaping. It references nothing outside itself: no script, font,
stylesheet or image from the network, so it opens offline and from a file.

Waterfall: one per shipment, in log-odds (the model's raw margin), from the base value (the
average declaration) through the largest contributions, the rest summed, to the
declaration's margin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["WATERFALL_BARS", "bar_chart", "histogram_chart", "render_html", "waterfall"]

WATERFALL_BARS = 10
"""Contributions drawn one by one in a waterfall; the rest are summed into one bar."""

_LABEL_W = 330
_PLOT_W = 380
_ROW_H = 22
_PAD = 12


def _scale(lo: float, hi: float) -> tuple[float, float]:
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    margin = (hi - lo) * 0.05
    return lo - margin, hi + margin


def _ticks(lo: float, hi: float, x: Any) -> list[dict[str, Any]]:
    import math

    span = hi - lo
    raw = span / 5
    step = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        if raw <= step * mult:
            step *= mult
            break
    first = math.ceil(lo / step) * step
    # as many decimals as the step needs, so ticks 0.02 apart never print alike
    decimals = max(0, -math.floor(math.log10(step)))
    ticks = []
    k = 0
    while (value := first + k * step) <= hi + 1e-12:
        text = f"{value:+.{decimals}f}"
        ticks.append({"x": x(value), "text": "0" if float(text) == 0 else text})
        k += 1
    return ticks


def waterfall(shipment: Mapping[str, Any], *, bars: int = WATERFALL_BARS) -> dict[str, Any]:
    """SVG geometry of one shipment's waterfall (log-odds, left to right).

    Returns ``width``, ``height``, ``rows`` (label, value text, x, w, y, kind in
    base/up/down/total), ``ticks`` and the axis position.
    """
    from features.catalogue import feature_info

    contributions: dict[str, float] = dict(shipment["contributions"])
    base = float(shipment["base_value"])
    order = sorted(contributions, key=lambda n: (-abs(contributions[n]), n))
    shown = [n for n in order[:bars] if contributions[n] != 0.0]
    rest = [n for n in order if n not in set(shown)]
    steps: list[tuple[str, float]] = [(_label(n, feature_info), contributions[n]) for n in shown]
    rest_sum = float(sum(contributions[n] for n in rest))
    if rest:
        steps.append((f"{len(rest)} other features together", rest_sum))
    positions = [base]
    running = base
    for _, value in steps:
        running += value
        positions.append(running)
    lo, hi = _scale(min(positions), max(positions))

    def x(value: float) -> float:
        return round(_LABEL_W + (value - lo) / (hi - lo) * _PLOT_W, 2)

    rows = [
        {
            "label": "average declaration (base value)",
            "value": f"{base:+.3f}",
            "x": x(min(0.0, base)) if lo <= 0 <= hi else x(lo),
            "w": 0.0,
            "kind": "base",
            "at": x(base),
        }
    ]
    running = base
    for label, value in steps:
        start, end = running, running + value
        rows.append(
            {
                "label": label,
                "value": f"{value:+.3f}",
                "x": x(min(start, end)),
                "w": max(round(abs(x(end) - x(start)), 2), 1.0),
                "kind": "up" if value > 0 else "down",
                "at": x(end),
            }
        )
        running = end
    rows.append(
        {
            "label": "this declaration (raw margin)",
            "value": f"{float(shipment['raw_margin']):+.3f}",
            "x": x(float(shipment["raw_margin"])),
            "w": 0.0,
            "kind": "total",
            "at": x(float(shipment["raw_margin"])),
        }
    )
    for i, row in enumerate(rows):
        row["y"] = _PAD + i * _ROW_H
    height = _PAD * 2 + len(rows) * _ROW_H + 24
    return {
        "width": _LABEL_W + _PLOT_W + 70,
        "height": height,
        "rows": rows,
        "ticks": _ticks(lo, hi, x),
        "axis_y": _PAD + len(rows) * _ROW_H + 4,
        "zero": x(0.0) if lo <= 0 <= hi else None,
    }


def _label(name: str, feature_info: Any) -> str:
    try:
        group = feature_info(name).group.replace("_", " ")
    except KeyError:
        group = "other"
    return f"{name} ({group})"


def bar_chart(items: Sequence[Mapping[str, Any]], *, key: str, label: str) -> dict[str, Any]:
    """Horizontal bars of ``items[key]`` labelled by ``items[label]`` (SVG geometry)."""
    top = max((float(i[key]) for i in items), default=0.0) or 1.0
    rows = [
        {
            "label": str(item[label]),
            "value": f"{float(item[key]):.3f}",
            "y": _PAD + n * _ROW_H,
            "w": max(round(float(item[key]) / top * _PLOT_W, 2), 1.0),
        }
        for n, item in enumerate(items)
    ]
    return {
        "width": _LABEL_W + _PLOT_W + 70,
        "height": _PAD * 2 + len(rows) * _ROW_H,
        "x0": _LABEL_W,
        "rows": rows,
    }


def histogram_chart(bins: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Vertical bars of a risk-score histogram (counts on a square-root scale)."""
    width, height, bottom = 720, 180, 150
    if not bins:
        return {"width": width, "height": height, "bars": [], "bottom": bottom, "labels": []}
    top = max(int(b["count"]) for b in bins) or 1
    bar_w = (width - 60) / len(bins)
    bars = []
    for n, b in enumerate(bins):
        h = round((int(b["count"]) / top) ** 0.5 * (bottom - 20), 2)
        bars.append(
            {
                "x": round(40 + n * bar_w, 2),
                "w": round(bar_w - 2, 2),
                "y": round(bottom - h, 2),
                "h": h,
                "count": int(b["count"]),
                "range": f"{float(b['from']):.3f}-{float(b['to']):.3f}",
            }
        )
    labels = [
        {"x": bars[0]["x"], "text": f"{float(bins[0]['from']):.2f}"},
        {"x": bars[-1]["x"] + bars[-1]["w"], "text": f"{float(bins[-1]['to']):.2f}"},
    ]
    return {"width": width, "height": height, "bars": bars, "bottom": bottom, "labels": labels}


def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("riskmodel.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(report: Mapping[str, Any]) -> str:
    """The self-contained page for a report document (every input string escaped)."""
    batch = report["batch"]
    charts = {
        "importance": bar_chart(
            batch.get("global_importance") or [], key="mean_abs_contribution", label="feature"
        ),
        "histogram": histogram_chart(batch.get("risk_distribution") or []),
        "waterfalls": [waterfall(s) for s in report["shipments"]],
    }
    template = _environment().get_template("report.html.j2")
    return str(template.render(report=report, charts=charts))
