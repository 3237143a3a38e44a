"""Tiny typed frames and hypothesis strategies for small generated worlds.

Frames are typed as ``features.io`` types them (docs/architecture.md "Frames"): text as
pandas ``str``, timestamps ``datetime64[us]``, numbers ``float64``, ``inspected``/``seized``
nullable ``boolean``, ``leg_seq`` ``Int64``. Worlds are small (a few dozen declarations over
two months) and dense in collisions: few importers, ports and HS codes, equal timestamps,
labels known before and after any cutoff, so the point-in-time checks have something to catch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from features.contracts import DTYPES, columns
from features.sources import Sources

BASE = pd.Timestamp("2024-01-01")

_EXTRA_TEXT = ("extra_code", "office.id")
"""Mapping extras the tests declare as categorical."""


def typed(kind: str, rows: list[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """A frame of source ``kind`` typed as the reader would type it."""
    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    contract = columns(kind)
    for column in frame.columns:
        dtype = DTYPES[contract[column].kind] if column in contract else None
        if dtype is None:
            dtype = "str" if column in _EXTRA_TEXT else "float64"
        if dtype.startswith("datetime"):
            frame[column] = pd.to_datetime(frame[column]).astype(dtype)
        else:
            frame[column] = frame[column].astype(dtype)
    return frame


def at(hours: float) -> pd.Timestamp:
    """``BASE`` plus ``hours``."""
    return BASE + pd.Timedelta(hours=hours)


_IMPORTERS = ("I1", "I2", "I3")
_DECLARANTS = ("B1", "B2")
_EXPORTERS = ("E1", "E2")
_HS = ("08039010", "09011100", "29329990")
_DESCRIPTIONS = ("fresh bananas", "green coffee beans", "general cargo", "spare parts", "tyres")
_COUNTRIES = ("CO", "EC", "NL")
_PORTS = {"COBUN": (3.88, -77.03), "ECGYE": (-2.28, -79.91), "PAMIT": (9.36, -79.88),
          "NLRTM": (51.95, 4.14), "BEANR": (51.26, 4.40)}  # fmt: skip
_FLAG_TYPES = ("suspicious_transaction_report", "cash_payment", "something_new")


@st.composite
def worlds(draw: st.DrawFn, *, max_declarations: int = 24) -> Sources:
    """A small consistent world: declarations, labels, flags, legs and ports."""
    n = draw(st.integers(1, max_declarations))
    hours = draw(st.lists(st.integers(0, 60 * 24), min_size=n, max_size=n))
    ports = list(_PORTS)
    decl_rows = []
    for i, h in enumerate(hours):
        decl_rows.append(
            {
                "declaration_id": f"D{i:03d}",
                "declared_at": at(h),
                "importer_id": draw(st.sampled_from(_IMPORTERS)),
                "declarant_id": draw(st.sampled_from(_DECLARANTS)),
                "exporter_id": draw(st.sampled_from(_EXPORTERS)),
                "hs_code": draw(st.sampled_from(_HS)),
                "goods_description": draw(st.sampled_from(_DESCRIPTIONS)),
                "origin_country": draw(st.sampled_from(_COUNTRIES)),
                "export_country": draw(st.sampled_from(_COUNTRIES)),
                "port_of_loading": draw(st.sampled_from(ports[:3])),
                "port_of_entry": draw(st.sampled_from(ports[3:])),
                "transport_mode": draw(st.sampled_from(("sea", "air"))),
                "container_id": draw(st.sampled_from(("C1", "C2", None))),
                "quantity": draw(st.sampled_from((0.0, 1.0, 10.0, 250.0))),
                "gross_weight_kg": draw(st.sampled_from((0.0, 5.0, 100.0, 2000.0))),
                "declared_value_usd": draw(st.sampled_from((0.0, 50.0, 900.0, 12000.0))),
                "total_taxes_usd": draw(st.sampled_from((0.0, 5.0, 90.0))),
            }
        )
    labelled = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    label_rows = [
        {
            "declaration_id": f"D{i:03d}",
            "inspected": True,
            "seized": draw(st.booleans()),
            "inspected_at": at(hours[i] + draw(st.integers(0, 20 * 24))),
            "selected_by": draw(st.sampled_from(("rules", "random"))),
        }
        for i in range(n)
        if labelled[i]
    ]
    n_flags = draw(st.integers(0, 12))
    flag_rows = [
        {
            "flag_id": f"F{k:03d}",
            "entity_id": draw(st.sampled_from(_IMPORTERS + _EXPORTERS)),
            "flagged_at": at(draw(st.integers(-400 * 24, 60 * 24))),
            "flag_type": draw(st.sampled_from(_FLAG_TYPES)),
            "amount_usd": draw(st.sampled_from((np.nan, 100.0, 2500.0))),
        }
        for k in range(n_flags)
    ]
    leg_rows = []
    for i, h in enumerate(hours):
        n_legs = draw(st.integers(0, 3))
        stops = [decl_rows[i]["port_of_loading"], *draw(
            st.lists(st.sampled_from(ports), min_size=max(n_legs - 1, 0),
                     max_size=max(n_legs - 1, 0))
        ), decl_rows[i]["port_of_entry"]]  # fmt: skip
        for k in range(n_legs):
            leg_rows.append(
                {
                    "declaration_id": f"D{i:03d}",
                    "leg_seq": k + 1,
                    "port_from": stops[k],
                    "port_to": stops[k + 1] if k < n_legs - 1 else stops[-1],
                    "departed_at": at(h - 24 * (10 - 3 * k)),
                    "arrived_at": at(h - 24 * (8 - 3 * k)),
                    "ais_gap_hours": draw(st.sampled_from((0.0, 12.5, np.nan))),
                }
            )
    port_rows = [
        {"locode": code, "name": code, "country": code[:2], "lat": lat, "lon": lon}
        for code, (lat, lon) in _PORTS.items()
    ]
    return Sources(
        declarations=typed("declarations", decl_rows),
        labels=typed("labels", label_rows) if label_rows else _empty_labels(),
        financial_flags=typed("financial_flags", flag_rows) if flag_rows else _empty_flags(),
        route_legs=typed("route_legs", leg_rows) if leg_rows else _empty_legs(),
        ports=typed("ports", port_rows),
    )


def _empty_labels() -> pd.DataFrame:
    return typed(
        "labels",
        pd.DataFrame(
            {
                c: []
                for c in ("declaration_id", "inspected", "seized", "inspected_at", "selected_by")
            }
        ),
    )


def _empty_flags() -> pd.DataFrame:
    cols = ("flag_id", "entity_id", "flagged_at", "flag_type", "amount_usd")
    return typed("financial_flags", pd.DataFrame({c: [] for c in cols}))


def _empty_legs() -> pd.DataFrame:
    cols = ("declaration_id", "leg_seq", "port_from", "port_to", "departed_at", "arrived_at",
            "ais_gap_hours")  # fmt: skip
    return typed("route_legs", pd.DataFrame({c: [] for c in cols}))


def cutoffs(sources: Sources) -> st.SearchStrategy[pd.Timestamp]:
    """Cutoffs inside (and just around) the world's declaration dates."""
    times = sources.declarations["declared_at"]
    exact = st.sampled_from(list(times))
    anywhere = st.integers(-24, 62 * 24).map(at)
    return st.one_of(exact, anywhere)


def read_world(folder: Path) -> Sources:
    """A generated world's Parquet sources read directly (they are written contract-typed)."""

    def read(name: str) -> pd.DataFrame | None:
        path = folder / f"{name}.parquet"
        return pd.read_parquet(path) if path.exists() else None

    declarations = read("declarations")
    assert declarations is not None
    return Sources(
        declarations=declarations,
        labels=read("labels"),
        financial_flags=read("financial_flags"),
        route_legs=read("route_legs"),
        ports=read("ports"),
    )


def cell(frame: pd.DataFrame, row: str, column: str) -> float:
    """One numeric feature value by row label, as a float (NaN stays NaN)."""
    return float(frame[column].to_numpy(dtype=float)[frame.index.get_indexer(pd.Index([row]))[0]])
