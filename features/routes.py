"""Route features, corridor ids, and corridor / port seizure history.

Point-in-time interpretation of legs: a declaration is lodged after the voyage it declares,
so its own legs (ports, times, AIS gaps) are known at its ``declared_at`` even when a leg's
``arrived_at`` falls a little later; a leg belongs to its own declaration and is never read
for any other declaration's route features. Other declarations' routes enter only through
outcomes (port and corridor seizure rates count a labelled declaration's ports once its
outcome is known, ``inspected_at < t``) and through the usual route length for the same
origin and entry port (routes of declarations lodged before ``t``).

Corridor id: ``origin_country ':' port_of_loading '>' transshipment ports '>' port_of_entry``,
e.g. ``CO:COBUN>PAMIT>NLRTM``, from the legs when a declaration has legs, otherwise from the
declaration's own columns; an unknown part is ``?``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.history import (
    Facts,
    PriorIndex,
    rows_prior,
    smoothed_rate,
    text_array,
)

__all__ = [
    "EARTH_RADIUS_KM",
    "HIGH_RISK_FACTOR",
    "MIN_USUAL_ROUTES",
    "RouteFacts",
    "corridor_features",
    "route_facts",
    "route_features",
    "routes_of",
]

EARTH_RADIUS_KM = 6371.0
HIGH_RISK_FACTOR = 2.0
"""A port is high-risk at ``t`` when its smoothed seizure rate exceeds this x the overall."""
MIN_USUAL_ROUTES = 3
"""Earlier routes of the same origin and entry port needed before a usual length exists."""


@dataclass(frozen=True)
class RouteFacts:
    """Per-declaration route facts for every row of ``Facts.decl``.

    ``corridor`` is the corridor id (``None`` when no column can make one); ``ports`` the
    long frame (``_pos``, ``port``) of every port on each route; ``legs`` the number of legs
    (NaN for a declaration without legs); ``length`` the route length (great-circle km when
    ports are known, else legs); ``end`` the last port of each route (None without legs
    or ``port_of_entry``); ``stats`` per-row dwell / AIS aggregates (legs only).
    """

    corridor: pd.Series | None
    ports: pd.DataFrame
    legs: np.ndarray | None
    length: np.ndarray | None
    length_unit: str | None
    end: pd.Series | None
    stats: dict[str, np.ndarray]


_PORT_COLUMNS = ("port_of_loading", "port_of_entry")
"""Declaration columns that name a port on the route."""


def _text(decl: pd.DataFrame, column: str) -> pd.Series:
    if column not in decl.columns:
        return pd.Series("?", index=decl.index, dtype="str")
    return decl[column].astype("str").fillna("?")


def _haversine(
    lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray
) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def route_facts(facts: Facts) -> tuple[RouteFacts, RouteFacts]:
    """Route facts of the fact declarations (cached) and of the rows (their own legs only)."""
    history = facts.cached("routes", lambda: routes_of(facts.decl, facts.legs, facts.ports))
    if facts.shared:
        return history, history
    legs = facts.row_legs
    if legs is None and facts.legs is not None:
        legs = facts.legs.iloc[:0]
    return history, routes_of(facts.rows, legs, facts.ports)


def routes_of(
    decl: pd.DataFrame, legs: pd.DataFrame | None, port_table: pd.DataFrame | None
) -> RouteFacts:
    """Corridor ids, route ports, lengths and leg statistics for every row of ``decl``.

    ``legs`` carry ``_pos`` (their declaration's row in ``decl``); ``port_table`` the port
    coordinates (``locode``, ``lat``, ``lon``) or None.
    """
    n = len(decl)
    origin = _text(decl, "origin_country")
    pol = _text(decl, "port_of_loading")
    poe = _text(decl, "port_of_entry")
    can_corridor = legs is not None or any(
        c in decl.columns for c in ("origin_country", "port_of_loading", "port_of_entry")
    )
    corridor = _joined(origin, ":", pol, ">", poe) if can_corridor else None
    port_rows = [
        pd.DataFrame({"_pos": np.arange(n), "port": decl[c].astype("str")})
        for c in _PORT_COLUMNS
        if c in decl.columns
    ]
    end = decl["port_of_entry"].astype("str") if "port_of_entry" in decl.columns else None
    stats: dict[str, np.ndarray] = {}
    legs_count = length = None
    unit = None
    if legs is not None and len(legs) == 0:
        # no row has legs (a batch scored without route legs): what the branch below gives
        # for that case, without its frame work; corridor and ports from the columns
        legs_count = np.full(n, np.nan)
        if end is None:
            end = pd.Series(pd.NA, index=decl.index, dtype="str")
        stats = _leg_stats(legs, np.zeros(0, np.int64), n, np.zeros(n, dtype=bool))
        length, unit = legs_count, "legs"
        if port_table is not None:
            length, unit = np.full(n, np.nan), "km"
    elif legs is not None:
        legs = legs.sort_values(["_pos", "leg_seq"], kind="stable")
        pos = legs["_pos"].to_numpy()
        has = np.zeros(n, dtype=bool)
        has[pos] = True
        rank = legs.groupby("_pos", sort=False).cumcount().to_numpy()
        counts = np.bincount(pos, minlength=n).astype(float)
        legs_count = np.where(has, counts, np.nan)
        first = legs.loc[rank == 0]
        built = pd.Series(pd.NA, index=decl.index, dtype="str")
        start = origin.iloc[first["_pos"].to_numpy()].to_numpy(dtype=object)
        chain = (
            pd.Series(start, dtype="str")
            + ":"
            + first["port_from"].astype("str").fillna("?").reset_index(drop=True)
        )
        chain.index = first["_pos"].to_numpy()
        for r in range(int(rank.max()) + 1 if len(rank) else 0):
            step = legs.loc[rank == r]
            to = pd.Series(
                step["port_to"].astype("str").fillna("?").to_numpy(), index=step["_pos"].to_numpy()
            )
            chain.loc[to.index] = chain.loc[to.index] + ">" + to
        built.iloc[chain.index.to_numpy()] = chain.to_numpy()
        # (rows without legs keep what their own columns say; skip the work when none has)
        some = bool(has.any())
        if corridor is None or some:
            corridor = built if corridor is None else built.where(has, corridor)
        if some:
            port_rows = [p[~has[p["_pos"].to_numpy()]] for p in port_rows]
            port_rows += [
                pd.DataFrame({"_pos": pos, "port": legs["port_from"].astype("str").array}),
                pd.DataFrame({"_pos": pos, "port": legs["port_to"].astype("str").array}),
            ]
        last = legs.loc[rank == counts[pos] - 1]
        last_to = pd.Series(pd.NA, index=decl.index, dtype="str")
        last_to.iloc[last["_pos"].to_numpy()] = last["port_to"].astype("str").to_numpy()
        if end is None or some:
            end = last_to if end is None else last_to.where(has, end)
        stats = _leg_stats(legs, pos, n, has)
        length, unit = legs_count, "legs"
        if port_table is not None:
            length, unit = _route_km(legs, pos, n, has, port_table), "km"
    return RouteFacts(corridor, _distinct(port_rows), legs_count, length, unit, end, stats)


def _joined(*parts: pd.Series | str) -> pd.Series:
    """Element-wise concatenation of text Series (no nulls) and literal separators, in Arrow:
    ``_joined(a, ":", b)`` is ``a + ":" + b``, with the index of the first Series."""
    first = cast(pd.Series, parts[0])
    out = cast(pa.Array, text_array(first))
    for sep, part in zip(parts[1::2], parts[2::2], strict=True):
        out = pc.binary_join_element_wise(
            out, text_array(part), pa.scalar(cast(str, sep), pa.large_string())
        )
    return pd.Series(pd.array(out, dtype="str"), index=first.index)


def _distinct(port_rows: list[pd.DataFrame]) -> pd.DataFrame:
    """The non-null (``_pos``, ``port``) rows, each pair once, in order of first appearance
    (what ``concat(...).dropna().drop_duplicates()`` keeps), hashed as integer pairs."""
    if not port_rows:
        return pd.DataFrame({"_pos": np.zeros(0, np.int64), "port": pd.Series([], dtype="str")})
    pos = np.concatenate([p["_pos"].to_numpy() for p in port_rows])
    port = pd.concat([p["port"] for p in port_rows], ignore_index=True)
    keep = port.notna().to_numpy(dtype=bool)
    pos, port = pos[keep], port[keep]
    code, uniques = pd.factorize(port)
    _, first = np.unique(pos.astype(np.int64) * (len(uniques) + 1) + code, return_index=True)
    first.sort()
    return pd.DataFrame({"_pos": pos[first], "port": port.iloc[first].array})


def _leg_stats(
    legs: pd.DataFrame, pos: np.ndarray, n: int, has: np.ndarray
) -> dict[str, np.ndarray]:
    """Dwell between consecutive legs (hours) and AIS gaps, totals and maxima per declaration."""
    dep = legs["departed_at"].to_numpy("datetime64[us]").astype(np.int64)
    arr = legs["arrived_at"].to_numpy("datetime64[us]").astype(np.int64)
    dep_ok = legs["departed_at"].notna().to_numpy()
    arr_ok = legs["arrived_at"].notna().to_numpy()
    same = np.zeros(len(legs), dtype=bool)
    same[:-1] = pos[1:] == pos[:-1]
    dwell = np.full(len(legs), np.nan)
    if len(legs) > 1:
        ok = same[:-1] & dep_ok[1:] & arr_ok[:-1]
        dwell[:-1] = np.where(ok, (dep[1:] - arr[:-1]) / 3.6e9, np.nan)
    frame = pd.DataFrame({"_pos": pos, "dwell": dwell})
    cols = {"dwell": "route_dwell_hours"}
    if "ais_gap_hours" in legs.columns:
        frame["ais"] = (
            legs["ais_gap_hours"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        )
        cols["ais"] = "route_ais_gap_hours"
    if len(legs) == 0:  # nothing to aggregate: every statistic is unknown
        return {
            f"{name}_{k}": np.full(n, np.nan) for name in cols.values() for k in ("total", "max")
        }
    grouped = frame.groupby("_pos", sort=True)
    out: dict[str, np.ndarray] = {}
    single = has & (np.bincount(pos, minlength=n) == 1)
    for col, name in cols.items():
        peak = np.full(n, np.nan)
        total = _sums_by_row(frame[col].to_numpy(dtype=float), pos, n)
        maxs = grouped[col].max()
        peak[maxs.index.to_numpy()] = maxs.to_numpy()
        if col == "dwell":
            # one leg: no transshipment, so no dwell between legs
            total[single] = 0.0
            peak[single] = 0.0
        out[f"{name}_total"] = total
        out[f"{name}_max"] = peak
    return out


def _route_km(
    legs: pd.DataFrame, pos: np.ndarray, n: int, has: np.ndarray, ports: pd.DataFrame
) -> np.ndarray:
    """Great-circle length of each route (NaN when a port has no coordinates)."""
    if len(legs) == 0:
        return np.full(n, np.nan)
    ref = ports.drop_duplicates("locode").set_index(ports["locode"].astype("str").drop_duplicates())
    lat = ref["lat"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    lon = ref["lon"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    codes = pd.Index(ref.index)
    i_from = codes.get_indexer(legs["port_from"].astype("str"))
    i_to = codes.get_indexer(legs["port_to"].astype("str"))
    known = (i_from >= 0) & (i_to >= 0)
    km = _haversine(lat[i_from], lon[i_from], lat[i_to], lon[i_to])
    km = np.where(known, km, np.nan)
    out = _sums_by_row(km, pos, n)
    unknown = pd.Series(~np.isfinite(km)).groupby(pos).any()
    out[unknown.index.to_numpy()[unknown.to_numpy()]] = np.nan
    out[~has] = np.nan
    return out


def _sums_by_row(values: np.ndarray, pos: np.ndarray, n: int) -> np.ndarray:
    """Per row (``n`` of them) the sum of its legs' non-missing ``values``, NaN when it has
    none; ``pos`` (each leg's row) is sorted, legs in ``leg_seq`` order within a row.

    Each row's sum reads its own legs only, in leg order. A grouped pandas sum (compensated
    summation) gave a row a result one bit away when another row of the batch held a missing
    value, so a route's length depended on the other declarations of its chunk.
    """
    out = np.full(n, np.nan)
    if len(values) == 0:
        return out
    if (pos[1:] < pos[:-1]).any():
        raise ValueError("_sums_by_row: legs must be sorted by their row")
    starts = np.flatnonzero(np.concatenate(([True], pos[1:] != pos[:-1])))
    present = ~np.isnan(values)
    sums = np.add.reduceat(np.where(present, values, 0.0), starts)
    counts = np.add.reduceat(present.astype(np.int64), starts)
    out[pos[starts]] = np.where(counts > 0, sums, np.nan)
    return out


def route_features(facts: Facts, routes: tuple[RouteFacts, RouteFacts]) -> dict[str, np.ndarray]:
    """Legs, transshipments, dwell, AIS gaps and length against the usual route (legs only).

    ``routes``: (fact declarations, rows) as :func:`route_facts` returns them.
    """
    history, rf = routes
    if facts.legs is None or rf.legs is None:
        return {}
    legs = rf.legs
    out: dict[str, np.ndarray] = {
        "route_legs": np.where(np.isnan(legs), 0.0, legs),
        "route_transshipments": legs - 1,
    }
    out.update(rf.stats)
    if rf.length is not None:
        if rf.length_unit == "km":
            out["route_km"] = rf.length
        fact_end, row_end = history.end, rf.end
        if fact_end is not None and row_end is not None and facts.has("origin_country"):
            end, q_end = facts.encode(
                "origin_end",
                lambda: [facts.decl["origin_country"], fact_end],
                lambda: [facts.rows["origin_country"], row_end],
            )

            def build() -> PriorIndex:
                length = cast(np.ndarray, history.length)
                ok = np.isfinite(length)
                key = np.where(ok, end, -1)
                weights = {"s": np.where(ok, length, 0.0)}
                return PriorIndex(key, facts.t_facts, weights, grid=facts.decl_grid)

            look = facts.at(facts.cached("usual_route", build), q_end)
            count, total = look.count(), look.total("s")
            with np.errstate(divide="ignore", invalid="ignore"):
                usual = total / count
                ratio = rf.length / usual
            out["route_length_vs_usual"] = np.where(count >= MIN_USUAL_ROUTES, ratio, np.nan)
    return out


def corridor_features(facts: Facts, routes: tuple[RouteFacts, RouteFacts]) -> dict[str, np.ndarray]:
    """Corridor activity and seizure history, and the riskiest port on the route, point in time."""
    history, rf = routes
    if history.corridor is None or rf.corridor is None:
        return {}
    fact_corridor, row_corridor = history.corridor, rf.corridor
    key, q_key = facts.encode("corridor", lambda: [fact_corridor], lambda: [row_corridor])
    out: dict[str, np.ndarray] = {}
    index = facts.cached("corridor", lambda: PriorIndex(key, facts.t_facts, grid=facts.decl_grid))
    look = facts.at(index, q_key, windows=facts.windows)
    for w in facts.windows:
        out[f"corridor_declarations_{w}d"] = look.count(window=w)
    if facts.labels is None:
        return out
    prior = rows_prior(facts)
    m = facts.smoothing
    seen = facts.at(facts.label_index("corridor", key), q_key)
    inspected, seized = seen.total("inspected"), seen.total("seized")
    out["corridor_inspections"] = inspected
    out["corridor_seizures"] = seized
    out["corridor_seizure_rate"] = smoothed_rate(seized, inspected, prior, m)
    out.update(_port_features(facts, routes, prior))
    return out


def _port_features(
    facts: Facts, routes: tuple[RouteFacts, RouteFacts], prior: np.ndarray
) -> dict[str, np.ndarray]:
    """Highest smoothed port seizure rate on the route and how many ports are high-risk.

    Absent (not all-NaN) when no port can be known: no port column and no route legs, as in
    a mapped layout with only ``origin_country``, whose corridor is the origin alone.
    """
    labels = facts.labels
    n_q = len(facts.rows)
    if labels is None:
        return {}
    if facts.legs is None and not any(c in facts.decl.columns for c in _PORT_COLUMNS):
        return {}
    history, rf = routes
    port_key, q_port = facts.encode(
        "port", lambda: [history.ports["port"]], lambda: [rf.ports["port"]]
    )

    def build() -> PriorIndex:
        # outcome events: each labelled declaration's ports, known when its outcome is known
        by_pos = pd.DataFrame({"_pos": history.ports["_pos"].to_numpy(), "_key": port_key})
        events = labels[["_pos", "_known", "_inspected", "_seized"]].merge(by_pos, on="_pos")
        return PriorIndex(
            events["_key"].to_numpy(),
            events["_known"].to_numpy(),
            {
                "inspected": events["_inspected"].to_numpy().astype(np.int64),
                "seized": events["_seized"].to_numpy().astype(np.int64),
            },
        )

    row_ord = rf.ports["_pos"].to_numpy()
    look = facts.cached("ports", build).at(q_port, facts.t[row_ord])
    rate = smoothed_rate(
        look.total("seized"), look.total("inspected"), prior[row_ord], facts.smoothing
    )
    high = (rate > HIGH_RISK_FACTOR * prior[row_ord]).astype(float)
    high[np.isnan(rate)] = np.nan
    # per row: the highest rate (NaN only when every port's is) and the high-risk ports
    # counted (NaN when none is known), over the row's ports grouped by a sort
    order = np.argsort(row_ord, kind="stable")
    ordered = row_ord[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(order) else order
    owner = ordered[starts]
    peak = np.full(n_q, np.nan)
    count = np.full(n_q, np.nan)
    if len(order):
        peak[owner] = np.fmax.reduceat(rate[order], starts)
        known = ~np.isnan(high[order])
        sums = np.add.reduceat(np.where(known, high[order], 0.0), starts)
        count[owner] = np.where(np.add.reduceat(known, starts) > 0, sums, np.nan)
    return {"port_max_seizure_rate": peak, "port_high_risk_count": count}
