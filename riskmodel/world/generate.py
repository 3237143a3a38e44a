"""Generate the synthetic drug-trafficking world: declarations, legs, flags, labels, truth.

The latent seizure probability of a declaration is

    logit p = b0 + importer kind + corridor risk(t) + cover load + risky importer x corridor
              + complicit broker (+ x risky importer) + risky exporter + U_EFFECT u + noise

where ``u`` is a per-shipment concealment factor and ``noise`` an unobservable term. Every
latent factor leaves noisy, observable traces that legitimate actors sometimes produce too:
front companies are young, bursty, flagged and served by complicit brokers; ``u`` lowers the
declared unit value, adds unexplained weight, vague descriptions, unplanned transshipments,
AIS gaps and long dwell; corridor risk shows in the route and, through the labels, in past
seizure rates. ``b0`` is solved so the mean probability hits the target base rate.
Everything is vectorised over declarations; loops run over lanes, legs of a path or kinds.
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
NOISE_SD = 0.15
U_EFFECT = 0.3
COVER_EFFECT = 0.4
RISKY_CORRIDOR_INTERACTION = 0.4
COMPLICIT_RISKY_INTERACTION = 0.4
SHIFT_FRACTION = 0.6
SHIFT_OLD_MULTIPLIER = 0.25
SHIFT_NEW_RISK = 1.6
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
    actors: pd.DataFrame  # truth only: entity_id, role, kind, latent_effect


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _solve_intercept(x: np.ndarray, target: float) -> float:
    """b0 such that mean(sigmoid(b0 + x)) == target (bisection; mean is monotone in b0)."""
    lo, hi = -20.0, 5.0
    for _ in range(50):
        mid = (lo + hi) / 2
        if _sigmoid(mid + x).mean() < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


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
        self.shift_from = np.isin(self.ids, ref.SHIFT_FROM)
        self.shift_to = np.isin(self.ids, ref.SHIFT_TO)


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


def generate_world(
    *, n_declarations: int, seed: int, start: str = "2023-01-01", days: int = 730
) -> World:
    """Generate a seeded world of ``n_declarations`` over ``days`` days from ``start``."""
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
    shift_day = float(round(days * SHIFT_FRACTION))
    lanes = _Lanes()
    locode, port_country, distance = _port_arrays()

    actors = ent.make_actors(rng, n_declarations=n_declarations, days=days, shift_day=shift_day)
    counts = ent.declarations_per_importer(rng, actors, n_declarations=n_declarations, days=days)
    n = int(counts.sum())
    imp = np.repeat(np.arange(counts.size), counts)
    lo = np.clip(actors.importer_start, 0, days)[imp]
    hi = np.clip(actors.importer_end, 0, days)[imp]
    t_sec = np.floor((lo + rng.random(n) * (hi - lo)) * DAY_S).astype(np.int64)
    t_sec = np.minimum(t_sec, days * DAY_S - 1)
    order = np.argsort(t_sec, kind="stable")
    imp, t_sec = imp[order], t_sec[order]
    t_day = t_sec / DAY_S

    # what each declaration is: lane, product, exporter, declarant
    slot = rng.choice(ent.SLOTS, size=n, p=ent.SLOT_PROBS)
    lane = actors.slot_lane[imp, slot]
    product = actors.slot_product[imp, slot]
    exporter = actors.slot_exporter[imp, slot]
    declarant = actors.importer_declarants[imp, rng.choice(ent.SLOTS, size=n, p=[0.7, 0.2, 0.1])]
    kind = actors.importer_kind[imp]
    front = kind == ent.FRONT
    risky_importer = np.isin(kind, ent.RISKY_KINDS)

    # latent risk
    after_shift = t_day >= shift_day
    risk = lanes.risk[lane]
    risk = np.where(after_shift & lanes.shift_from[lane], risk * SHIFT_OLD_MULTIPLIER, risk)
    risk = np.where(after_shift & lanes.shift_to[lane], SHIFT_NEW_RISK, risk)
    cover_table = np.array(
        [[lane_.drug in p.cover_for for p in ref.PRODUCTS] for lane_ in ref.LANES], dtype=float
    )
    cover = cover_table[lane, product] * (risk > 0)
    complicit = actors.declarant_complicit[declarant]
    exporter_risky = actors.exporter_risky[exporter]
    u = rng.standard_normal(n)
    x = (
        actors.importer_effect[imp]
        + risk
        + COVER_EFFECT * cover
        + RISKY_CORRIDOR_INTERACTION * risky_importer * risk
        + complicit * (ent.DECLARANT_EFFECT + COMPLICIT_RISKY_INTERACTION * risky_importer)
        + exporter_risky * ent.EXPORTER_EFFECT
        + U_EFFECT * u
        + rng.normal(0.0, NOISE_SD, n)
    )
    b0 = _solve_intercept(x, TARGET_BASE_RATE)
    p_seizure = _sigmoid(b0 + x)
    seized_truth = rng.random(n) < p_seizure

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
        u,
        front,
        risky_importer,
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
    labels = _labels(
        rng, declarations, t_sec, base, inspected, random_pick, seized_truth, lanes.drug[lane]
    )
    truth = pd.DataFrame(
        {
            "declaration_id": declarations["declaration_id"],
            "p_seizure": p_seizure,
            "seized_truth": pd.array(seized_truth, dtype="boolean"),
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

    shift_date = (base + np.timedelta64(int(shift_day * DAY_S), "s")).astype("datetime64[D]")
    trafficking = p_seizure * (risk > 0)
    share_from = [
        float(trafficking[lanes.shift_from[lane] & (after_shift == a)].sum())
        / max(float(trafficking[after_shift == a].sum()), 1e-12)
        for a in (False, True)
    ]
    share_to = [
        float(trafficking[lanes.shift_to[lane] & (after_shift == a)].sum())
        / max(float(trafficking[after_shift == a].sum()), 1e-12)
        for a in (False, True)
    ]
    kinds = np.asarray(ent.KINDS)
    params: dict[str, Any] = {
        "seed": seed,
        "n_declarations": n,
        "start": str(base.astype("datetime64[D]")),
        "days": days,
        "base_rate_target": TARGET_BASE_RATE,
        "base_rate": round(float(p_seizure.mean()), 6),
        "seized_truth_rate": round(float(seized_truth.mean()), 6),
        "intercept": round(b0, 6),
        "latent_model": {
            "formula": (
                "logit p = intercept + importer_kind + corridor_risk(t) + cover * cover_load"
                " + risky_corridor * risky_importer * corridor_risk"
                " + complicit_broker * (declarant + complicit_risky * risky_importer)"
                " + risky_exporter + u_effect * u + N(0, noise_sd)"
            ),
            "importer_kind": dict(zip(ent.KINDS, ent.KIND_EFFECT.tolist(), strict=True)),
            "cover": COVER_EFFECT,
            "risky_corridor": RISKY_CORRIDOR_INTERACTION,
            "declarant": ent.DECLARANT_EFFECT,
            "complicit_risky": COMPLICIT_RISKY_INTERACTION,
            "risky_exporter": ent.EXPORTER_EFFECT,
            "u_effect": U_EFFECT,
            "noise_sd": NOISE_SD,
        },
        "entities": {
            "importers": {
                k: int((actors.importer_kind == i).sum()) for i, k in enumerate(ent.KINDS)
            },
            "declarants": int(actors.declarant_ids.size),
            "complicit_declarants": int(actors.declarant_complicit.sum()),
            "complicit_declarant_popularity": ent.COMPLICIT_POPULARITY,
            "complicit_declarant_declaration_share": round(
                float(actors.declarant_complicit[declarant].mean()), 4
            ),
            "exporters": int(actors.exporter_ids.size),
            "risky_exporters": int(actors.exporter_risky.sum()),
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
        "drift": {
            "date": str(shift_date),
            "event": f"crackdown at {ref.SHIFT_PORT}",
            "from_corridors": list(ref.SHIFT_FROM),
            "to_corridors": list(ref.SHIFT_TO),
            "old_corridor_risk_multiplier": SHIFT_OLD_MULTIPLIER,
            "new_corridor_risk": SHIFT_NEW_RISK,
            "from_share_of_trafficking_before_after": [round(s, 4) for s in share_from],
            "to_share_of_trafficking_before_after": [round(s, 4) for s in share_to],
        },
        "corridors": {
            lane_.corridor_id: {"drug": lane_.drug, "risk": lane_.risk, "mode": lane_.mode}
            for lane_ in ref.LANES
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
    excess = np.clip(0.05 * u + rng.normal(0, 0.02, n), 0, None)
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
    price = np.exp(log_price + offset - 0.45 * u + rng.normal(0, 0.15, n))
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
    vague = rng.random(n) < _sigmoid(-3.3 + 1.3 * front + 0.4 * u)
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
    u: np.ndarray,
    front: np.ndarray,
    risky_importer: np.ndarray,
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
    p_extra = _sigmoid(-3.3 + 0.5 * u + 1.0 * front + 0.4 * (risk >= 0.9))
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
    dwell = (
        rng.lognormal(np.log(2.0), 0.5, (n, legs_max))
        * np.exp(0.25 * u + 0.5 * risky_importer)[:, None]
    )
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

    p_gap = _sigmoid(
        -2.6 + 0.5 * u[:, None] + 0.9 * risky_importer[:, None] + 0.4 * (risk >= 0.9)[:, None]
    )
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


# flag-type probabilities (order of reference.FLAG_TYPES) for risky, evader and other entities
_FLAG_MIX = {
    "risky": np.array([0.30, 0.10, 0.20, 0.10, 0.15, 0.05, 0.10]),
    "evader": np.array([0.15, 0.20, 0.10, 0.05, 0.05, 0.45, 0.00]),
    "other": np.array([0.20, 0.20, 0.10, 0.30, 0.10, 0.10, 0.00]),
}
_IMPORTER_FLAG_RATE = np.array([0.8, 0.12, 1.0, 3.0, 15.0])  # per year, by importer kind
_EXPORTER_FLAG_RATE = (0.1, 2.0)  # regular, risky


def _financial_flags(
    rng: np.random.Generator, actors: ent.Actors, *, days: int, base: np.datetime64
) -> pd.DataFrame:
    """Flags per entity as Poisson events: dense on risky entities, present on others too."""
    kind = actors.importer_kind
    lo = np.where(
        kind == ent.FRONT, actors.importer_start - 30, np.maximum(actors.importer_start, -365)
    )
    hi = np.where(
        kind == ent.FRONT, actors.importer_end + 10, np.minimum(actors.importer_end, days)
    )
    hi = np.minimum(hi, days)
    lo = np.minimum(lo, hi)
    rate = _IMPORTER_FLAG_RATE[kind]
    group = np.where(
        np.isin(kind, ent.RISKY_KINDS), "risky", np.where(kind == ent.EVADER, "evader", "other")
    )
    n_exp = actors.exporter_ids.size
    ids = np.concatenate([actors.importer_ids, actors.exporter_ids])
    lo = np.concatenate([lo, np.full(n_exp, -365.0)])
    hi = np.concatenate([hi, np.full(n_exp, float(days))])
    rate = np.concatenate(
        [rate, np.where(actors.exporter_risky, _EXPORTER_FLAG_RATE[1], _EXPORTER_FLAG_RATE[0])]
    )
    group = np.concatenate([group, np.where(actors.exporter_risky, "risky", "other")])
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
