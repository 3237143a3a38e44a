"""The actors of the synthetic world: importers, declarants (brokers) and exporters.

Importers come in six kinds (see ``docs/world.md``): ``major`` high-volume traders,
``regular`` traders, ``cash`` cash-intensive legitimate traders (the financial flags' main
target), ``newcomer`` legitimate new importers (e-commerce, SMEs; some trade heavily),
``evader`` traders who under-declare value to dodge duty, and ``front`` companies of mixed age
whose loads come in a *load phase* after a clean phase (sleepers trade cleanly for months).
None of the kinds carries risk by itself: risk belongs to the modus operandi of a shipment
(``riskmodel.world.generate``). Each importer trades through three "slots" (lane, product,
exporter) and uses up to three declarants. Everything is drawn with numpy from one generator;
loops run over kinds, countries and lanes only, never over declarations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskmodel.world import reference as ref

KINDS: tuple[str, ...] = ("major", "regular", "cash", "newcomer", "evader", "front")
MAJOR, REGULAR, CASH, NEWCOMER, EVADER, FRONT = range(6)
ESTABLISHED_KINDS = (MAJOR, REGULAR, CASH, EVADER)

# share of importers and of declarations by kind
KIND_IMPORTER_SHARE = np.array([0.02, 0.62, 0.08, 0.18, 0.04, 0.06])
KIND_DECLARATION_SHARE = np.array([0.26, 0.43, 0.07, 0.15, 0.04, 0.05])

SLOTS = 3
SLOT_PROBS = np.array([0.6, 0.28, 0.12])
COMPLICIT_SHARE = 0.08
FRONT_USES_COMPLICIT = 0.35
RISKY_EXPORTER_SHARE = 0.08
FRONT_USES_RISKY_EXPORTER = 0.4
SLEEPER_SHARE = 0.4  # fronts that trade cleanly for months before their first load
FRONT_ORDINARY_SLOT = 0.3  # a front slot on an ordinary lane (cover trade, loads too)


@dataclass(frozen=True)
class Actors:
    """Entity tables as arrays (index = entity number) plus the importers' trading slots.

    Times are days since the world's start (negative: before it). A front's load phase is
    ``[load_start, importer_end)``; before ``load_start`` it trades cleanly.
    """

    importer_ids: np.ndarray
    importer_kind: np.ndarray
    importer_start: np.ndarray
    importer_end: np.ndarray
    load_start: np.ndarray  # fronts only (inf for others)
    importer_value_offset: np.ndarray  # log offset on declared unit value
    slot_lane: np.ndarray  # (n_importers, SLOTS)
    slot_product: np.ndarray
    slot_exporter: np.ndarray
    importer_declarants: np.ndarray  # (n_importers, SLOTS)
    declarant_ids: np.ndarray
    declarant_complicit: np.ndarray
    exporter_ids: np.ndarray
    exporter_country: np.ndarray
    exporter_risky: np.ndarray

    def table(self) -> pd.DataFrame:
        """One row per entity (truth only): id, role, kind."""
        kinds = np.asarray(KINDS, dtype=object)
        frames = [
            pd.DataFrame(
                {
                    "entity_id": self.importer_ids,
                    "role": "importer",
                    "kind": kinds[self.importer_kind],
                }
            ),
            pd.DataFrame(
                {
                    "entity_id": self.declarant_ids,
                    "role": "declarant",
                    "kind": np.where(self.declarant_complicit, "complicit", "regular"),
                }
            ),
            pd.DataFrame(
                {
                    "entity_id": self.exporter_ids,
                    "role": "exporter",
                    "kind": np.where(self.exporter_risky, "risky", "regular"),
                }
            ),
        ]
        out = pd.concat(frames, ignore_index=True)
        for column in ("entity_id", "role", "kind"):
            out[column] = out[column].astype("str")
        return out.sort_values("entity_id", kind="stable").reset_index(drop=True)


def _ids(prefix: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Shuffled zero-padded ids, so an id's number says nothing about the entity's kind."""
    width = max(5, len(str(n)))
    numbers = rng.permutation(n) + 1
    return np.array([f"{prefix}{k:0{width}d}" for k in numbers], dtype=object)


def lane_weights(kind: int, period: int) -> np.ndarray:
    """Probability of each lane for a trading slot of an importer of ``kind``.

    Legitimate traders follow the lanes' popularity (e-commerce newcomers favour the postal
    and air lanes); a front picks trafficking lanes by their risk in ``period`` (0 before the
    first displacement, 1 between, 2 after the second) and keeps some ordinary lanes.
    """
    popularity = np.array([lane.popularity for lane in ref.LANES])
    if kind == FRONT:
        risk = ref.lane_risk_table()[:, period]
        trafficking = popularity * np.where(risk >= 0.9, risk**2, 0.0)
        ordinary = popularity * (risk < 0.9)
        weights = (1 - FRONT_ORDINARY_SLOT) * trafficking / trafficking.sum()
        weights = weights + FRONT_ORDINARY_SLOT * ordinary / ordinary.sum()
    elif kind == NEWCOMER:
        small = np.array([lane.mode in ("post", "air") for lane in ref.LANES])
        weights = popularity * np.where(small, 4.0, 1.0)
    else:
        weights = popularity.copy()
    return weights / weights.sum()


def make_actors(
    rng: np.random.Generator,
    *,
    n_declarations: int,
    days: int,
    displacement_days: tuple[float, float],
) -> Actors:
    """Draw every entity and its trading slots for a world of ``n_declarations``."""
    n_imp = max(240, n_declarations // 60)
    kind = rng.choice(len(KINDS), size=n_imp, p=KIND_IMPORTER_SHARE).astype(np.int8)
    kind[: len(KINDS)] = np.arange(len(KINDS))  # every kind exists even in tiny worlds

    # active windows (days since the world's start)
    start = -rng.uniform(0, 1500, n_imp)
    late = rng.random(n_imp) < 0.08
    start = np.where(late, rng.uniform(0, days * 0.9, n_imp), start)
    start = np.where(kind == NEWCOMER, rng.uniform(-120, days - 10, n_imp), start)
    end = np.full(n_imp, days + 365.0)
    churn = rng.random(n_imp) < 0.10
    end = np.where(churn, np.maximum(start, 0) + rng.uniform(180, days, n_imp), end)

    # fronts: mixed age; sleepers trade cleanly for months, the rest load within weeks
    front = kind == FRONT
    sleeper = front & (rng.random(n_imp) < SLEEPER_SHARE)
    load_start = np.where(front, rng.uniform(10, days - 5, n_imp), np.inf)
    clean = np.where(sleeper, rng.uniform(90, 400, n_imp), rng.uniform(0, 30, n_imp))
    old_shell = front & (rng.random(n_imp) < 0.25)  # an old dormant company bought as a shell
    start = np.where(front, load_start - clean, start)
    start = np.where(old_shell, np.minimum(start, -rng.uniform(200, 900, n_imp)), start)
    end = np.where(front, load_start + rng.uniform(30, 120, n_imp), end)

    value_offset = rng.normal(0, 0.12, n_imp) + np.where(kind == EVADER, -0.45, 0.0)

    # trading slots: lane, product within the lane; a front's lanes follow the risk at the
    # time its load phase starts (displacement moves new fronts)
    n_lanes = len(ref.LANES)
    period = np.searchsorted(np.asarray(displacement_days), np.where(front, load_start, 0.0))
    slot_lane = np.empty((n_imp, SLOTS), dtype=np.int64)
    for k in range(len(KINDS)):
        for per in range(3):
            rows = np.flatnonzero((kind == k) & (period == per))
            if rows.size:
                p = lane_weights(k, per)
                slot_lane[rows] = rng.choice(n_lanes, size=(rows.size, SLOTS), p=p)
    n_products = np.array([len(lane.products) for lane in ref.LANES])
    slot_product_pos = np.floor(rng.random((n_imp, SLOTS)) * n_products[slot_lane]).astype(int)
    product_index = {p.hs_code: i for i, p in enumerate(ref.PRODUCTS)}
    lane_products = np.full((n_lanes, n_products.max()), -1, dtype=np.int64)
    for i, lane in enumerate(ref.LANES):
        lane_products[i, : len(lane.products)] = [product_index[h] for h in lane.products]
    slot_product = lane_products[slot_lane, slot_product_pos]

    # declarants: a few complicit, with an ordinary (mostly legitimate) book of clients
    n_dcl = max(30, n_imp // 8)
    complicit = rng.random(n_dcl) < COMPLICIT_SHARE
    complicit[:2] = True
    popularity = rng.lognormal(0, 1.0, n_dcl)
    importer_declarants = rng.choice(n_dcl, size=(n_imp, SLOTS), p=popularity / popularity.sum())
    complicit_ids = np.flatnonzero(complicit)
    use = front & (rng.random(n_imp) < FRONT_USES_COMPLICIT)
    importer_declarants[use, 0] = rng.choice(complicit_ids, size=int(use.sum()))

    # exporters per origin country; a few risky ones where trafficking lanes start
    lane_origin = np.array([lane.origin for lane in ref.LANES], dtype=object)
    countries = sorted(set(lane_origin))
    risk_any = ref.lane_risk_table().max(axis=1)
    traffic_countries = {c for c, r in zip(lane_origin, risk_any, strict=True) if r >= 0.9}
    n_exp = max(100, n_imp // 3)
    country_weight = np.array([(lane_origin == c).sum() + 1.0 for c in countries])
    exporter_country = np.array(countries, dtype=object)[
        rng.choice(len(countries), size=n_exp, p=country_weight / country_weight.sum())
    ]
    exporter_country[: len(countries)] = countries  # each origin has an exporter
    exporter_risky = (rng.random(n_exp) < RISKY_EXPORTER_SHARE) & np.isin(
        exporter_country, list(traffic_countries)
    )
    slot_exporter = np.empty((n_imp, SLOTS), dtype=np.int64)
    slot_origin = lane_origin[slot_lane]
    front_slots = np.repeat(front[:, None], SLOTS, axis=1)
    for country in countries:
        pool = np.flatnonzero(exporter_country == country)
        risky_pool = pool[exporter_risky[pool]]
        at = slot_origin == country
        slot_exporter[at] = rng.choice(pool, size=int(at.sum()))
        if risky_pool.size:
            pick = at & front_slots & (rng.random(at.shape) < FRONT_USES_RISKY_EXPORTER)
            slot_exporter[pick] = rng.choice(risky_pool, size=int(pick.sum()))

    return Actors(
        importer_ids=_ids("IMP", n_imp, rng),
        importer_kind=kind,
        importer_start=start,
        importer_end=end,
        load_start=load_start,
        importer_value_offset=value_offset,
        slot_lane=slot_lane,
        slot_product=slot_product,
        slot_exporter=slot_exporter,
        importer_declarants=importer_declarants,
        declarant_ids=_ids("DCL", n_dcl, rng),
        declarant_complicit=complicit,
        exporter_ids=_ids("EXP", n_exp, rng),
        exporter_country=exporter_country,
        exporter_risky=exporter_risky,
    )


def declarations_per_importer(
    rng: np.random.Generator, actors: Actors, *, n_declarations: int, days: int
) -> np.ndarray:
    """How many declarations each importer lodges in the period (sums to ``n_declarations``).

    Volume is log-normal within a kind (newcomers widest: some e-commerce importers trade
    heavily from their first weeks) and grows with the importer's active span in the period.
    """
    kind = actors.importer_kind
    span = np.clip(actors.importer_end, 0, days) - np.clip(actors.importer_start, 0, days)
    sigma = np.where(kind == NEWCOMER, 1.4, 0.9)
    size = rng.lognormal(0, 1.0, kind.size) ** (sigma / 1.0) * np.where(span > 0, 1.0, 0.0)
    size = size * span / days
    weights = np.zeros(kind.size)
    for k in range(len(KINDS)):
        rows = kind == k
        total = size[rows].sum()
        if total > 0:
            weights[rows] = KIND_DECLARATION_SHARE[k] * size[rows] / total
    return rng.multinomial(n_declarations, weights / weights.sum())
