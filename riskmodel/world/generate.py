"""Generate the synthetic drug-trafficking world: declarations, legs, flags, labels, truth.

The latent seizure probability combines one chance per modus operandi (``docs/world.md``):

    p = 1 - prod_m (1 - eligible_m * sigmoid(a_m + x_m))

for rip-on/rip-off loads on legitimate importers' containers, front companies in their load
phase, hijacked identities, precursor chemicals and complicit brokers, plus an unobservable
background. ``x_m`` weighs the corridor's risk at the time (which moves at two displacement
dates), cover loads and two per-shipment latents: ``u`` (concealment in the goods: value,
weight, wording) and ``v`` (the voyage's exposure: unplanned hubs, AIS gaps, dwell); a
rip-on/rip-off load weighs ``v`` or ``u`` by its lane's method (a transshipment hub, or the
load hidden inside durable goods on lanes the legacy rules barely inspect). ``a_m``
is solved so each modus operandi holds its stated share of the base rate. Truth (``p``,
``seized_truth``, ``modus_operandi``) goes to ``truth/`` only. Everything is vectorised over
declarations; loops run over lanes, legs of a path, kinds or channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.errors import UsageError
from riskmodel.rules import RuleSet
from riskmodel.world import entities as ent
from riskmodel.world import reference as ref
from riskmodel.world.legacy import legacy_rules

TARGET_BASE_RATE = 0.025
RANDOM_INSPECTION_SHARE = 0.03
TARGET_INSPECTED_SHARE = 0.095
RULES_INSPECTION_CAP = 0.9
HIJACK_SHARE = 0.006  # share of declarations lodged under hijacked identities

# Modus operandi and each one's share of the seizure probability (by construction).
MODUS_OPERANDI: tuple[str, ...] = ("none", "rip_on", "front", "hijacked", "precursor", "insider")
MO_SHARE: dict[str, float] = {
    "none": 0.03,
    "rip_on": 0.35,
    "front": 0.25,
    "hijacked": 0.10,
    "precursor": 0.15,
    "insider": 0.12,
}
# Channel weights (logit units per unit of the latent or 0/1 indicator).
BACKGROUND_SD = 1.0
RIP: dict[str, float] = {"risk": 1.0, "cover": 0.6, "weekend": 0.4, "noise": 0.2}
# rip-on/rip-off weights on the two per-shipment latents by the lane's method
# (``reference.RIP_METHODS``): a transshipment leaves its trace in the voyage ``v``, a load
# hidden inside the goods in their declared value and weight ``u``
RIP_METHOD: dict[str, dict[str, float]] = {
    "transshipment": {"voyage": 2.2, "concealment": 0.0},
    "in_goods": {"voyage": 0.3, "concealment": 2.8},
}
# cover goods of loads hidden inside the goods: none is on the legacy rules' cover list
IN_GOODS_COVER: tuple[str, ...] = (
    "44072999",  # sawn tropical wood
    "87089997",  # vehicle parts
    "72085120",  # hot-rolled steel
    "52085900",  # cotton fabrics
)
FRONT: dict[str, float] = {"risk": 0.8, "cover": 0.5, "concealment": 2.0, "noise": 0.2}
HIJACK: dict[str, float] = {"risk": 0.5, "concealment": 1.4, "noise": 0.2}
PRECURSOR: dict[str, float] = {
    "risk": 1.0,
    "neighbour_code": 0.8,
    "small_parcel": 0.6,
    "concealment": 1.8,
    "noise": 0.2,
}
INSIDER: dict[str, float] = {"risk": 0.8, "cover": 0.5, "concealment": 1.2, "noise": 0.2}
NEIGHBOUR_CODES: tuple[str, ...] = ("29153900", "29221990")
LABEL_DELAY_DAYS = (2.0, 45.0)
MIN_DECLARATIONS = 100
DAY_S = 86_400


@dataclass(frozen=True)
class World:
    """A generated world: the sources customs holds, the truth it never sees, and its rules."""

    declarations: pd.DataFrame
    labels: pd.DataFrame
    financial_flags: pd.DataFrame
    route_legs: pd.DataFrame
    ports: pd.DataFrame
    truth: pd.DataFrame  # declaration_id, p_seizure, seized_truth
    params: dict[str, Any]  # what goes into truth/world.json
    rules: RuleSet  # the legacy rules used for inspection selection
    actors: pd.DataFrame  # truth only: entity_id, role, kind


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _solve_rules_rate(points: np.ndarray, target: float) -> float:
    """q such that mean(clip(q * points, 0, cap)) == target (bisection)."""
    lo, hi = 0.0, 10.0
    if np.clip(hi * points**2, 0, RULES_INSPECTION_CAP).mean() < target:
        return hi
    for _ in range(50):
        mid = (lo + hi) / 2
        if np.clip(mid * points**2, 0, RULES_INSPECTION_CAP).mean() < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _padded_ids(prefix: str, numbers: np.ndarray, width: int) -> pd.Series:
    text = pd.Series(numbers, dtype="int64").astype("str").str.zfill(width)
    return (prefix + text).astype("str")


def _str(values: np.ndarray) -> pd.Series:
    """An Arrow-backed ``str`` column from an object array (None -> missing)."""
    return pd.Series(values, dtype="object").astype("str")


def _timestamps(base: np.datetime64, seconds: np.ndarray) -> np.ndarray:
    return (base + seconds.astype("int64").astype("timedelta64[s]")).astype("datetime64[us]")


class _Lanes:
    """The lane table as arrays, indexed by lane number."""

    def __init__(self) -> None:
        port_index = {p[0]: i for i, p in enumerate(ref.PORTS)}
        lanes = ref.LANES
        self.ids = np.array([lane.corridor_id for lane in lanes], dtype=object)
        self.risk = np.array([lane.risk for lane in lanes])
        self.origin = np.array([lane.origin for lane in lanes], dtype=object)
        self.mode = np.array([lane.mode for lane in lanes], dtype=object)
        self.drug = np.array([lane.drug for lane in lanes], dtype=object)
        self.length = np.array([len(lane.path) for lane in lanes])
        self.path = np.full((len(lanes), self.length.max()), -1, dtype=np.int64)
        for i, lane in enumerate(lanes):
            self.path[i, : len(lane.path)] = [port_index[p] for p in lane.path]


def _port_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LOCODE, country and pairwise great-circle distance (km) of every reference port."""
    locode = np.array([p[0] for p in ref.PORTS], dtype=object)
    country = np.array([p[2] for p in ref.PORTS], dtype=object)
    lat = np.radians([p[3] for p in ref.PORTS])
    lon = np.radians([p[4] for p in ref.PORTS])
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    return locode, country, 6371.0 * 2 * np.arcsin(np.sqrt(a))


def displacement_days(days: int) -> tuple[float, float]:
    """Days (since the world's start) of the two displacements.

    The first lies mid-world (in a baseline experiment's training period); the second
    ``min(50, 20 % of days)`` days before the end, inside the last 120 days that
    ``experiments/baseline.toml`` tests on, so its test period holds weeks on both sides
    (10 before, 7 after).
    """
    return float(round(days * 0.5)), float(days - min(50, round(days * 0.2)))


def _solve_channel(x: np.ndarray, eligible: np.ndarray, target: float) -> float:
    """a such that mean(eligible * sigmoid(a + x)) == target (bisection)."""
    xs = x[eligible]
    if xs.size == 0:
        return -30.0
    share = xs.size / eligible.size
    lo, hi = -30.0, 15.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if _sigmoid(mid + xs).mean() * share < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _hijacks(
    rng: np.random.Generator,
    actors: ent.Actors,
    counts: np.ndarray,
    *,
    n_rows: int,
    days: int,
    risk_by_period: np.ndarray,
    bounds: tuple[float, float],
    lanes: _Lanes,
) -> tuple[np.ndarray, ...]:
    """Rows lodged under hijacked identities: established importers, a few loads in weeks.

    Returns (importer, day, lane, product, exporter, declarant) arrays of ``n_rows`` rows:
    each event takes 2-5 loads within three weeks onto a trafficking lane and a cover
    product the importer does not usually trade, through another broker.
    """
    kind = actors.importer_kind
    candidates = np.flatnonzero(np.isin(kind, ent.ESTABLISHED_KINDS) & (counts >= 8))
    if candidates.size == 0 or n_rows == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, np.zeros(0), empty, empty, empty, empty
    sizes = rng.integers(2, 6, n_rows)
    sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), n_rows)) + 1]
    sizes[-1] -= int(sizes.sum() - n_rows)
    sizes = sizes[sizes > 0]
    n_events = sizes.size
    who = rng.choice(candidates, size=n_events)
    lo = np.clip(actors.importer_start[who], 20, days - 25)
    hi = np.clip(actors.importer_end[who], lo, days - 25)
    t0 = lo + rng.random(n_events) * (hi - lo)
    period = np.searchsorted(np.asarray(bounds), t0)
    lane = np.empty(n_events, dtype=np.int64)
    popularity = np.array([lane_.popularity for lane_ in ref.LANES])
    for per in range(risk_by_period.shape[1]):
        rows = np.flatnonzero(period == per)
        risk = risk_by_period[:, per]
        w = popularity * np.where(risk >= 0.9, risk, 0.0)
        lane[rows] = rng.choice(len(ref.LANES), size=rows.size, p=w / w.sum())
    event = np.repeat(np.arange(n_events), sizes)
    day = t0[event] + rng.uniform(0, 21, event.size)
    lane_r = lane[event]
    product_index = {p.hs_code: i for i, p in enumerate(ref.PRODUCTS)}
    cover_pos = [
        [
            product_index[h]
            for h in l_.products
            if l_.drug in ref.PRODUCTS[product_index[h]].cover_for
        ]
        or [product_index[h] for h in l_.products]
        for l_ in ref.LANES
    ]
    width = max(len(c) for c in cover_pos)
    cover_table = np.array([c + [c[0]] * (width - len(c)) for c in cover_pos])
    n_cover = np.array([len(c) for c in cover_pos])
    product = cover_table[lane_r, np.floor(rng.random(event.size) * n_cover[lane_r]).astype(int)]
    origin = lanes.origin[lane_r]
    exporter = np.empty(event.size, dtype=np.int64)
    for country in np.unique(origin):
        pool = np.flatnonzero(actors.exporter_country == country)
        at = np.flatnonzero(origin == country)
        exporter[at] = rng.choice(pool, size=at.size)
    n_dcl = actors.declarant_ids.size
    complicit_ids = np.flatnonzero(actors.declarant_complicit)
    declarant = np.where(
        rng.random(event.size) < 0.4,
        rng.choice(complicit_ids, size=event.size),
        rng.integers(0, n_dcl, event.size),
    )
    return who[event], day, lane_r, product, exporter, declarant


def generate_world(
    *, n_declarations: int, seed: int, start: str = "2023-01-01", days: int = 730
) -> World:
    """Generate a seeded world of ``n_declarations`` over ``days`` days from ``start``.

    See ``docs/world.md`` for the modus operandi, their traces and parameters.

    Raises:
        UsageError: fewer than ``MIN_DECLARATIONS`` declarations, fewer than 120 days or a
            ``start`` that is not a date.
    """
    if n_declarations < MIN_DECLARATIONS:
        raise UsageError(f"n_declarations must be >= {MIN_DECLARATIONS}, found {n_declarations}")
    if days < 120:
        raise UsageError(f"days must be >= 120, found {days}")
    rng = np.random.default_rng(seed)
    try:
        first_day = pd.Timestamp(start).strftime("%Y-%m-%d")
    except ValueError as exc:
        raise UsageError(f"start must be a date like '2023-01-01', found {start!r}") from exc
    base = np.datetime64(first_day, "s")
    bounds = displacement_days(days)
    lanes = _Lanes()
    risk_by_period = ref.lane_risk_table()
    locode, port_country, distance = _port_arrays()

    actors = ent.make_actors(
        rng, n_declarations=n_declarations, days=days, displacement_days=bounds
    )
    n_hijack = round(n_declarations * HIJACK_SHARE)
    counts = ent.declarations_per_importer(
        rng, actors, n_declarations=n_declarations - n_hijack, days=days
    )
    n_plain = int(counts.sum())
    imp = np.repeat(np.arange(counts.size), counts)
    lo = np.clip(actors.importer_start, 0, days)[imp]
    hi = np.clip(actors.importer_end, 0, days)[imp]
    day = lo + rng.random(n_plain) * (hi - lo)
    slot = rng.choice(ent.SLOTS, size=n_plain, p=ent.SLOT_PROBS)
    lane = actors.slot_lane[imp, slot]
    product = actors.slot_product[imp, slot]
    exporter = actors.slot_exporter[imp, slot]
    declarant = actors.importer_declarants[
        imp, rng.choice(ent.SLOTS, size=n_plain, p=[0.7, 0.2, 0.1])
    ]
    h_imp, h_day, h_lane, h_product, h_exporter, h_declarant = _hijacks(
        rng,
        actors,
        counts,
        n_rows=n_hijack,
        days=days,
        risk_by_period=risk_by_period,
        bounds=bounds,
        lanes=lanes,
    )
    hijack = np.concatenate([np.zeros(n_plain, dtype=bool), np.ones(h_imp.size, dtype=bool)])
    imp = np.concatenate([imp, h_imp])
    day = np.concatenate([day, h_day])
    lane = np.concatenate([lane, h_lane])
    product = np.concatenate([product, h_product])
    exporter = np.concatenate([exporter, h_exporter])
    declarant = np.concatenate([declarant, h_declarant])
    n = imp.size
    t_sec = np.minimum(np.floor(day * DAY_S).astype(np.int64), days * DAY_S - 1)
    order = np.argsort(t_sec, kind="stable")
    imp, t_sec, hijack = imp[order], t_sec[order], hijack[order]
    lane, product, exporter, declarant = (
        lane[order],
        product[order],
        exporter[order],
        declarant[order],
    )
    t_day = t_sec / DAY_S
    kind = actors.importer_kind[imp]
    front = kind == ent.FRONT

    # latent risk: one channel per modus operandi, combined as independent chances
    period = np.searchsorted(np.asarray(bounds), t_day, side="right")
    risk = risk_by_period[lane, period]
    cover_table = np.array(
        [[lane_.drug in p.cover_for for p in ref.PRODUCTS] for lane_ in ref.LANES], dtype=float
    )
    cover = cover_table[lane, product] * (risk > 0)
    method = np.array([ref.RIP_METHODS.index(lane_.method) for lane_ in ref.LANES])[lane]
    in_goods = method == ref.RIP_METHODS.index("in_goods")
    rip_weight = {
        latent: np.array([RIP_METHOD[m][latent] for m in ref.RIP_METHODS])[method]
        for latent in ("voyage", "concealment")
    }
    hs = np.array([p.hs_code for p in ref.PRODUCTS], dtype=object)[product]
    durable = np.isin(hs, IN_GOODS_COVER)
    rip_cover = np.where(in_goods, durable & (risk > 0), cover)
    chemical = np.char.startswith(hs.astype(str), "29")
    neighbour = np.isin(hs, NEIGHBOUR_CODES)
    small = np.isin(lanes.mode[lane], ["post", "air"])
    sea = lanes.mode[lane] == "sea"
    epoch_day = (base.astype("datetime64[D]").astype(np.int64) + np.floor(t_day)).astype(np.int64)
    weekend = ((epoch_day + 3) % 7) >= 5
    complicit = actors.declarant_complicit[declarant]
    loading = front & (t_day >= actors.load_start[imp]) & ~hijack
    u = rng.standard_normal(n)  # concealment in the goods (value, weight, wording)
    v = rng.standard_normal(n)  # the voyage's exposure (transshipment, dwell, AIS gaps)
    rip_lane = sea & np.isin(lanes.drug[lane], ["cocaine", "heroin"]) & (risk > 0)
    channels: dict[str, tuple[np.ndarray, np.ndarray]] = {
        "none": (np.ones(n, dtype=bool), BACKGROUND_SD * rng.standard_normal(n)),
        "rip_on": (
            rip_lane & ~front & ~hijack & (~in_goods | durable),
            RIP["risk"] * risk
            + RIP["cover"] * rip_cover
            + rip_weight["voyage"] * v
            + rip_weight["concealment"] * u
            + RIP["weekend"] * weekend
            + RIP["noise"] * rng.standard_normal(n),
        ),
        "front": (
            loading,
            FRONT["risk"] * risk
            + FRONT["cover"] * cover
            + FRONT["concealment"] * u
            + FRONT["noise"] * rng.standard_normal(n),
        ),
        "hijacked": (
            hijack,
            HIJACK["risk"] * risk
            + HIJACK["concealment"] * u
            + HIJACK["noise"] * rng.standard_normal(n),
        ),
        "precursor": (
            chemical & ~front & ~hijack,
            PRECURSOR["risk"] * risk
            + PRECURSOR["neighbour_code"] * neighbour
            + PRECURSOR["small_parcel"] * small
            + PRECURSOR["concealment"] * u
            + PRECURSOR["noise"] * rng.standard_normal(n),
        ),
        "insider": (
            complicit & ~front & ~hijack,
            INSIDER["risk"] * risk
            + INSIDER["cover"] * cover
            + INSIDER["concealment"] * u
            + INSIDER["noise"] * rng.standard_normal(n),
        ),
    }
    intercepts: dict[str, float] = {}
    chance = np.zeros((len(MODUS_OPERANDI), n))
    for i, mo in enumerate(MODUS_OPERANDI):
        eligible, x = channels[mo]
        a = _solve_channel(x, eligible, MO_SHARE[mo] * TARGET_BASE_RATE)
        intercepts[mo] = a
        chance[i] = np.where(eligible, _sigmoid(a + x), 0.0)
    p_seizure = 1.0 - np.prod(1.0 - chance, axis=0)
    mo_index = np.argmax(chance, axis=0)
    seized_truth = rng.random(n) < p_seizure
    modus = np.asarray(MODUS_OPERANDI, dtype=object)[mo_index]

    declarations = _declarations(
        rng,
        n,
        t_sec,
        base,
        imp,
        lane,
        product,
        exporter,
        declarant,
        u,
        front,
        actors,
        lanes,
        locode,
        port_country,
    )
    legs = _route_legs(
        rng,
        t_sec,
        base,
        lane,
        v,
        risk,
        lanes,
        locode,
        distance,
        declarations["declaration_id"].to_numpy(dtype=object),
    )
    flags = _financial_flags(rng, actors, days=days, base=base)
    rules = legacy_rules()
    points = rules.score(declarations).to_numpy()
    q = _solve_rules_rate(
        points, (TARGET_INSPECTED_SHARE - RANDOM_INSPECTION_SHARE) / (1 - RANDOM_INSPECTION_SHARE)
    )
    random_pick = rng.random(n) < RANDOM_INSPECTION_SHARE
    rules_pick = rng.random(n) < np.clip(q * points**2, 0, RULES_INSPECTION_CAP)
    inspected = random_pick | rules_pick
    drug = np.where(
        (modus == "precursor") & ~np.isin(lanes.drug[lane], ["fentanyl", "methamphetamine"]),
        "precursor",
        lanes.drug[lane],
    )
    labels = _labels(rng, declarations, t_sec, base, inspected, random_pick, seized_truth, drug)
    truth = pd.DataFrame(
        {
            "declaration_id": declarations["declaration_id"],
            "p_seizure": p_seizure,
            "seized_truth": pd.array(seized_truth, dtype="boolean"),
            "modus_operandi": _str(modus),
        }
    )
    ports = pd.DataFrame(
        {
            "locode": _str(locode),
            "name": _str(np.array([p[1] for p in ref.PORTS], dtype=object)),
            "country": _str(port_country),
            "lat": np.array([p[3] for p in ref.PORTS], dtype=float),
            "lon": np.array([p[4] for p in ref.PORTS], dtype=float),
        }
    ).sort_values("locode", ignore_index=True)

    def day_date(d: float) -> str:
        return str((base + np.timedelta64(int(d * DAY_S), "s")).astype("datetime64[D]"))

    displacements = []
    ids = lanes.ids.tolist()
    for k, (event, at) in enumerate(zip(ref.DISPLACEMENTS, bounds, strict=True)):
        was = {c: float(risk_by_period[ids.index(c), k]) for c, _ in event.risk}
        gaining = [c for c, r in event.risk if r > was[c]]
        losing = [c for c, r in event.risk if r < was[c]]

        def share(corridors: list[str], per: int) -> float:
            on = np.isin(lane, [ids.index(c) for c in corridors]) & (period == per)
            return round(
                float(p_seizure[on].sum()) / max(float(p_seizure[period == per].sum()), 1e-12), 4
            )

        displacements.append(
            {
                "date": day_date(at),
                "day": at,
                "event": event.event,
                "corridor_risk_before_after": {c: [was[c], r] for c, r in event.risk},
                "gaining_corridors": gaining,
                "losing_corridors": losing,
                "gaining_share_of_risk_before_after": [share(gaining, k), share(gaining, k + 1)],
                "losing_share_of_risk_before_after": [share(losing, k), share(losing, k + 1)],
            }
        )
    total_p = float(p_seizure.sum())
    kinds = np.asarray(ent.KINDS)
    params: dict[str, Any] = {
        "seed": seed,
        "n_declarations": n,
        "start": str(base.astype("datetime64[D]")),
        "days": days,
        "base_rate_target": TARGET_BASE_RATE,
        "base_rate": round(float(p_seizure.mean()), 6),
        "seized_truth_rate": round(float(seized_truth.mean()), 6),
        "latent_model": {
            "formula": (
                "p = 1 - prod over modus operandi m of (1 - eligible_m * sigmoid(a_m + x_m));"
                " x_m per channel in 'channels'; a_m solved so the channel's mean chance is"
                " share_m * base_rate_target; modus_operandi = the channel with the largest"
                " chance"
            ),
            "intercepts": {k: round(v_, 6) for k, v_ in intercepts.items()},
            "channels": {
                "none": {"noise": BACKGROUND_SD},
                "rip_on": {**RIP, "by_method": RIP_METHOD, "in_goods_cover": list(IN_GOODS_COVER)},
                "front": FRONT,
                "hijacked": HIJACK,
                "precursor": PRECURSOR,
                "insider": INSIDER,
            },
            "neighbour_codes": list(NEIGHBOUR_CODES),
        },
        "modus_operandi": {
            mo: {
                "target_share": MO_SHARE[mo],
                "declarations": int((modus == mo).sum()),
                "share_of_seizure_probability": round(
                    float(p_seizure[modus == mo].sum()) / total_p, 4
                ),
                "share_of_seizures": round(
                    float(seized_truth[modus == mo].sum()) / max(int(seized_truth.sum()), 1), 4
                ),
            }
            for mo in MODUS_OPERANDI
        },
        "entities": {
            "importers": {
                k: int((actors.importer_kind == i).sum()) for i, k in enumerate(ent.KINDS)
            },
            "sleeper_fronts": int(
                (
                    (actors.importer_kind == ent.FRONT)
                    & (actors.load_start - actors.importer_start >= 90)
                ).sum()
            ),
            "declarants": int(actors.declarant_ids.size),
            "complicit_declarants": int(actors.declarant_complicit.sum()),
            "complicit_declarant_declaration_share": round(float(complicit.mean()), 4),
            "exporters": int(actors.exporter_ids.size),
            "risky_exporters": int(actors.exporter_risky.sum()),
            "hijacked_declarations": int(hijack.sum()),
            "declaration_share_by_kind": {
                str(k): round(float((kinds[kind] == k).mean()), 4) for k in ent.KINDS
            },
        },
        "inspection_policy": {
            "rules_file": "rules.toml",
            "random_share": RANDOM_INSPECTION_SHARE,
            "rules_probability": f"min({RULES_INSPECTION_CAP}, {q:.6f} * rule_points ** 2)",
            "inspected_share": round(float(inspected.mean()), 6),
            "random_inspected_share": round(float(random_pick.mean()), 6),
            "selected_by": "random when the random draw chose it, else rules",
            "label_delay_days": list(LABEL_DELAY_DAYS),
            "seizure_rate_among_inspected": round(float(seized_truth[inspected].mean()), 6),
        },
        "displacements": displacements,
        "corridors": {
            lane_.corridor_id: {
                "drug": lane_.drug,
                "risk_by_period": [float(r) for r in risk_by_period[i]],
                "mode": lane_.mode,
                "rip_method": lane_.method,
            }
            for i, lane_ in enumerate(ref.LANES)
        },
    }
    return World(
        declarations=declarations,
        labels=labels,
        financial_flags=flags,
        route_legs=legs,
        ports=ports,
        truth=truth,
        params=params,
        rules=rules,
        actors=actors.table(),
    )


def _declarations(
    rng: np.random.Generator,
    n: int,
    t_sec: np.ndarray,
    base: np.datetime64,
    imp: np.ndarray,
    lane: np.ndarray,
    product: np.ndarray,
    exporter: np.ndarray,
    declarant: np.ndarray,
    u: np.ndarray,
    front: np.ndarray,
    actors: ent.Actors,
    lanes: _Lanes,
    locode: np.ndarray,
    port_country: np.ndarray,
) -> pd.DataFrame:
    """The declarations frame in the contract layout (rows in declared_at order)."""
    products = ref.PRODUCTS
    kg_per_unit = np.array([p.kg_per_unit for p in products])[product]
    vmin = np.array([p.usd_per_kg[0] for p in products])[product]
    vmax = np.array([p.usd_per_kg[1] for p in products])[product]
    kmin = np.array([p.shipment_kg[0] for p in products])[product]
    kmax = np.array([p.shipment_kg[1] for p in products])[product]
    duty = np.array([p.duty_rate for p in products])[product]
    unit = np.array([p.quantity_unit for p in products], dtype=object)[product]

    # weights: concealed loads add weight the declared quantity does not explain
    gross = kmin + rng.random(n) * (kmax - kmin)
    packaging = rng.uniform(1.03, 1.10, n)
    excess = np.clip(0.09 * u + rng.normal(0, 0.02, n), 0, None)
    net = gross / (packaging * (1 + excess))
    quantity = np.where(
        unit == "kg",
        np.round(net),
        np.maximum(1.0, np.round(net / kg_per_unit * np.exp(rng.normal(0, 0.06, n)))),
    )
    gross = np.round(gross, 1)
    gross = np.where(rng.random(n) < 0.001, 0.0, gross)

    # values: the importer's price level, evaders' under-declaration, concealment's cheap cover
    log_price = rng.uniform(np.log(vmin), np.log(vmax))
    offset = actors.importer_value_offset[imp]
    price = np.exp(log_price + offset - 0.8 * u + rng.normal(0, 0.15, n))
    value = np.round(price * net, 2)
    poe = lanes.path[lane, lanes.length[lane] - 1]
    pol = lanes.path[lane, 0]
    eu = ~np.isin(port_country[poe], ["US", "CA"])
    taxes = np.round(value * (duty + np.where(eu, 0.2 * (1 + duty), 0.0)), 2)

    # descriptions: the product's wording, or something vague
    texts: list[str] = []
    first_text = np.zeros(len(products), dtype=np.int64)
    for i, p in enumerate(products):
        first_text[i] = len(texts)
        texts.extend(p.descriptions)
    n_variants = np.array([len(p.descriptions) for p in products])
    text_index = first_text[product] + np.floor(rng.random(n) * n_variants[product]).astype(int)
    vague = rng.random(n) < _sigmoid(-3.3 + 0.5 * front + 0.4 * u)
    vague_index = len(texts) + rng.integers(0, len(ref.VAGUE_DESCRIPTIONS), n)
    all_texts = np.array([*texts, *ref.VAGUE_DESCRIPTIONS], dtype=object)
    description = all_texts[np.where(vague, vague_index, text_index)]

    mode = lanes.mode[lane]
    sea = mode == "sea"
    owners = np.array(ref.CONTAINER_OWNERS, dtype=object)[
        rng.integers(0, len(ref.CONTAINER_OWNERS), n)
    ]
    serial = pd.Series(rng.integers(0, 10_000_000, n)).astype("str").str.zfill(7)
    container = (pd.Series(owners, dtype="str") + serial).where(sea)
    office = np.where(rng.random(n) < 0.7, "-01", "-02")
    hs_code = np.array([p.hs_code for p in products], dtype=object)[product]
    width = max(8, len(str(n)))
    return pd.DataFrame(
        {
            "declaration_id": _padded_ids("D", np.arange(1, n + 1), width),
            "declared_at": _timestamps(base, t_sec),
            "importer_id": _str(actors.importer_ids[imp]),
            "declarant_id": _str(actors.declarant_ids[declarant]),
            "exporter_id": _str(actors.exporter_ids[exporter]),
            "hs_code": _str(hs_code),
            "goods_description": _str(description),
            "origin_country": _str(lanes.origin[lane]),
            "export_country": _str(port_country[pol]),
            "port_of_loading": _str(locode[pol]),
            "port_of_entry": _str(locode[poe]),
            "customs_office": _str(locode[poe] + office),
            "transport_mode": _str(mode),
            "container_id": container.astype("str"),
            "quantity": quantity.astype(float),
            "quantity_unit": _str(unit),
            "gross_weight_kg": gross.astype(float),
            "declared_value_usd": value.astype(float),
            "total_taxes_usd": taxes.astype(float),
        }
    )


def _route_legs(
    rng: np.random.Generator,
    t_sec: np.ndarray,
    base: np.datetime64,
    lane: np.ndarray,
    v: np.ndarray,
    risk: np.ndarray,
    lanes: _Lanes,
    locode: np.ndarray,
    distance: np.ndarray,
    declaration_ids: np.ndarray,
) -> pd.DataFrame:
    """Legs of every shipment: planned path, sometimes an unplanned hub, AIS gaps, dwell."""
    n = lane.size
    length = lanes.length[lane].copy()
    width = lanes.path.shape[1] + 1
    path = np.full((n, width), -1, dtype=np.int64)
    path[:, :-1] = lanes.path[lane]
    sea = lanes.mode[lane] == "sea"
    p_extra = _sigmoid(-3.4 + 1.6 * v + 0.3 * (risk >= 0.9))
    extra = sea & (rng.random(n) < p_extra)
    port_index = {p[0]: i for i, p in enumerate(ref.PORTS)}
    hubs = np.array([port_index[h] for h in ref.HUB_PORTS])
    hub_pos = rng.integers(0, hubs.size, n)
    for _ in range(3):  # avoid a hub already on the path: take the next one
        clash = (path == hubs[hub_pos][:, None]).any(axis=1)
        hub_pos = np.where(clash, (hub_pos + 1) % hubs.size, hub_pos)
    hub = hubs[hub_pos]
    rows = np.flatnonzero(extra)
    last = length[rows] - 1
    path[rows, last + 1] = path[rows, last]
    path[rows, last] = hub[rows]
    length = length + extra

    mode = lanes.mode[lane]
    speed = np.select(
        [mode == "sea", mode == "air", mode == "road"], [560.0, 8000.0, 450.0], default=3000.0
    )
    legs_max = width - 1
    origin_port = path[:, :-1]
    dest_port = path[:, 1:]
    valid = np.arange(legs_max)[None, :] < (length - 1)[:, None]
    dist = distance[np.where(valid, origin_port, 0), np.where(valid, dest_port, 0)]
    duration = dist / speed[:, None] * rng.uniform(0.95, 1.25, (n, legs_max)) + 0.3
    dwell = rng.lognormal(np.log(2.0), 0.5, (n, legs_max)) * np.exp(0.8 * v)[:, None]
    pre_arrival = rng.random(n) < 0.2
    final_arrival = t_sec / DAY_S + np.where(
        pre_arrival, rng.uniform(0, 2, n), -rng.uniform(0, 3, n)
    )
    arrived = np.zeros((n, legs_max))
    departed = np.zeros((n, legs_max))
    last_leg = length - 2
    for j in range(legs_max - 1, -1, -1):
        following = departed[:, j + 1] - dwell[:, j + 1] if j + 1 < legs_max else final_arrival
        arrived[:, j] = np.where(j == last_leg, final_arrival, following)
        departed[:, j] = arrived[:, j] - duration[:, j]

    p_gap = _sigmoid(-3.0 + 1.5 * v[:, None] + 0.2 * (risk >= 0.9)[:, None])
    gap = rng.random((n, legs_max)) < p_gap
    gap_hours = np.where(gap, np.round(rng.lognormal(np.log(8.0), 0.8, (n, legs_max)), 1), 0.0)
    week = (t_sec // (7 * DAY_S)).astype(np.int64)
    vessel = (
        9_100_000 + ((origin_port * 7919 + dest_port * 104_729 + week[:, None] * 31) % 700) * 1_117
    )

    r, k = np.nonzero(valid)  # row-major: legs of a declaration together, in order
    leg_sea = sea[r]
    return pd.DataFrame(
        {
            "declaration_id": _str(declaration_ids[r]),
            "leg_seq": pd.array(k + 1, dtype="Int64"),
            "port_from": _str(locode[origin_port[r, k]]),
            "port_to": _str(locode[dest_port[r, k]]),
            "departed_at": _timestamps(base, np.round(departed[r, k] * DAY_S)),
            "arrived_at": _timestamps(base, np.round(arrived[r, k] * DAY_S)),
            "vessel_imo": pd.Series(vessel[r, k]).astype("str").where(leg_sea).astype("str"),
            "ais_gap_hours": np.where(leg_sea, gap_hours[r, k], np.nan),
        }
    )


# flag-type probabilities (order of reference.FLAG_TYPES) by flag profile
_FLAG_MIX = {
    "front": np.array([0.30, 0.10, 0.20, 0.10, 0.15, 0.05, 0.10]),
    "cash": np.array([0.25, 0.45, 0.10, 0.05, 0.10, 0.05, 0.00]),
    "evader": np.array([0.15, 0.20, 0.10, 0.05, 0.05, 0.45, 0.00]),
    "other": np.array([0.20, 0.20, 0.10, 0.30, 0.10, 0.10, 0.00]),
}
# flags per year by importer kind (major, regular, cash, newcomer, evader, front): most fall
# on legitimate cash-intensive traders; fronts a few times more often than regular traders
_IMPORTER_FLAG_RATE = np.array([1.0, 0.25, 5.0, 0.4, 1.2, 1.2])
_FRONT_FLAG_LAG_DAYS = 240.0  # a front's flags keep coming this long after its last load
_EXPORTER_FLAG_RATE = (0.1, 0.6)  # regular, risky


def _financial_flags(
    rng: np.random.Generator, actors: ent.Actors, *, days: int, base: np.datetime64
) -> pd.DataFrame:
    """Flags per entity as Poisson events over its active years (see ``docs/world.md``).

    A front's flags are spread from its start to ``_FRONT_FLAG_LAG_DAYS`` after its end, so
    many arrive after the shipments they concern (intelligence lags the trade).
    """
    kind = actors.importer_kind
    front = kind == ent.FRONT
    lo = np.where(front, actors.importer_start, np.maximum(actors.importer_start, -365))
    hi = np.where(front, actors.importer_end + _FRONT_FLAG_LAG_DAYS, actors.importer_end)
    lo = np.maximum(lo, -365)
    hi = np.minimum(hi, days)
    lo = np.minimum(lo, hi)
    rate = _IMPORTER_FLAG_RATE[kind]
    group = np.select(
        [front, kind == ent.CASH, kind == ent.EVADER], ["front", "cash", "evader"], "other"
    )
    n_exp = actors.exporter_ids.size
    ids = np.concatenate([actors.importer_ids, actors.exporter_ids])
    lo = np.concatenate([lo, np.full(n_exp, -365.0)])
    hi = np.concatenate([hi, np.full(n_exp, float(days))])
    rate = np.concatenate(
        [rate, np.where(actors.exporter_risky, _EXPORTER_FLAG_RATE[1], _EXPORTER_FLAG_RATE[0])]
    )
    group = np.concatenate([group, np.where(actors.exporter_risky, "front", "other")])
    counts = rng.poisson(rate * (hi - lo) / 365.0)
    owner = np.repeat(np.arange(ids.size), counts)
    m = owner.size
    at = lo[owner] + rng.random(m) * (hi - lo)[owner]
    flag_type = np.empty(m, dtype=object)
    types = np.array(ref.FLAG_TYPES, dtype=object)
    for name, mix in _FLAG_MIX.items():
        rows = np.flatnonzero(group[owner] == name)
        flag_type[rows] = types[rng.choice(types.size, size=rows.size, p=mix)]
    amount = np.round(rng.lognormal(np.log(40_000), 1.2, m), 2)
    amount = np.where(flag_type == "partner_agency_alert", np.nan, amount)
    seconds = np.floor(at * DAY_S).astype(np.int64)
    order = np.lexsort((ids[owner], seconds))
    return pd.DataFrame(
        {
            "flag_id": _padded_ids("F", np.arange(1, m + 1), max(7, len(str(m)))),
            "entity_id": _str(ids[owner][order]),
            "flagged_at": _timestamps(base, seconds[order]),
            "flag_type": _str(flag_type[order]),
            "amount_usd": amount[order],
        }
    )


def _labels(
    rng: np.random.Generator,
    declarations: pd.DataFrame,
    t_sec: np.ndarray,
    base: np.datetime64,
    inspected: np.ndarray,
    random_pick: np.ndarray,
    seized_truth: np.ndarray,
    drug: np.ndarray,
) -> pd.DataFrame:
    """One row per inspected declaration: outcome, quantity, drug, when it became known."""
    rows = np.flatnonzero(inspected)
    k = rows.size
    lo, hi = LABEL_DELAY_DAYS
    delay = np.clip(lo + rng.gamma(2.0, 4.0, k), lo, hi)
    seized = seized_truth[rows]
    drug_rows = drug[rows]
    median = pd.Series(drug_rows).map(ref.SEIZED_KG_MEDIAN).to_numpy(dtype=float)
    kg = np.round(median * rng.lognormal(0, 0.9, k), 1)
    return pd.DataFrame(
        {
            "declaration_id": declarations["declaration_id"].iloc[rows].reset_index(drop=True),
            "inspected": pd.array(np.ones(k, dtype=bool), dtype="boolean"),
            "seized": pd.array(seized, dtype="boolean"),
            "seized_kg": np.where(seized, kg, np.nan),
            "drug_type": _str(np.where(seized, drug_rows, np.array([None], dtype=object))),
            "inspected_at": _timestamps(base, t_sec[rows] + np.round(delay * DAY_S)),
            "selected_by": _str(np.where(random_pick[rows], "random", "rules")),
        }
    )
