"""The actors of the synthetic world: importers, declarants (brokers) and exporters.

Importers come in five kinds with a latent risk each (logit units):
``major`` legitimate high-volume traders (never risky), ``regular`` traders, ``evader``
traders who under-declare value to dodge duty (confusable, not drug-risky), ``compromised``
established firms whose shipments are sometimes used, and ``front`` companies: short-lived,
bursty, on trafficking corridors, served by complicit brokers and risky exporters.
Each importer trades through three "slots" (lane, product, exporter) and uses up to three
declarants. Everything is drawn with numpy from one generator; loops run over kinds,
countries and lanes only, never over declarations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskmodel.world import reference as ref

KINDS: tuple[str, ...] = ("major", "regular", "evader", "compromised", "front")
MAJOR, REGULAR, EVADER, COMPROMISED, FRONT = range(5)
RISKY_KINDS = (COMPROMISED, FRONT)

# share of importers, share of declarations, latent risk (logit)
KIND_IMPORTER_SHARE = np.array([0.02, 0.77, 0.05, 0.06, 0.10])
KIND_DECLARATION_SHARE = np.array([0.30, 0.52, 0.05, 0.06, 0.07])
KIND_EFFECT = np.array([-3.0, -0.2, -0.1, 1.3, 1.2])

SLOTS = 3
SLOT_PROBS = np.array([0.6, 0.28, 0.12])
COMPLICIT_SHARE = 0.10
COMPLICIT_POPULARITY = 0.1  # relative share of ordinary clients a complicit broker wins
RISKY_EXPORTER_SHARE = 0.10


@dataclass(frozen=True)
class Actors:
    """Entity tables as arrays (index = entity number) plus the importers' trading slots."""

    importer_ids: np.ndarray
    importer_kind: np.ndarray
    importer_start: np.ndarray  # days since world start (negative: existed before)
    importer_end: np.ndarray
    importer_effect: np.ndarray
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
        """One row per entity (truth only): id, role, kind, latent effect."""
        kinds = np.asarray(KINDS, dtype=object)
        frames = [
            pd.DataFrame(
                {
                    "entity_id": self.importer_ids,
                    "role": "importer",
                    "kind": kinds[self.importer_kind],
                    "latent_effect": self.importer_effect,
                }
            ),
            pd.DataFrame(
                {
                    "entity_id": self.declarant_ids,
                    "role": "declarant",
                    "kind": np.where(self.declarant_complicit, "complicit", "regular"),
                    "latent_effect": np.where(self.declarant_complicit, DECLARANT_EFFECT, 0.0),
                }
            ),
            pd.DataFrame(
                {
                    "entity_id": self.exporter_ids,
                    "role": "exporter",
                    "kind": np.where(self.exporter_risky, "risky", "regular"),
                    "latent_effect": np.where(self.exporter_risky, EXPORTER_EFFECT, 0.0),
                }
            ),
        ]
        out = pd.concat(frames, ignore_index=True)
        for column in ("entity_id", "role", "kind"):
            out[column] = out[column].astype("str")
        return out.sort_values("entity_id", kind="stable").reset_index(drop=True)


DECLARANT_EFFECT = 0.3
EXPORTER_EFFECT = 0.7


def _ids(prefix: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Shuffled zero-padded ids, so an id's number says nothing about the entity's kind."""
    width = max(5, len(str(n)))
    numbers = rng.permutation(n) + 1
    return np.array([f"{prefix}{k:0{width}d}" for k in numbers], dtype=object)


def _lane_weights(kind: int, *, after_shift: bool) -> np.ndarray:
    """Probability of each lane for a trading slot of an importer of ``kind``."""
    risk = np.array([lane.risk for lane in ref.LANES])
    popularity = np.array([lane.popularity for lane in ref.LANES])
    ids = [lane.corridor_id for lane in ref.LANES]
    shift_from = np.isin(ids, ref.SHIFT_FROM)
    shift_to = np.isin(ids, ref.SHIFT_TO)
    if kind == FRONT:
        weights = np.where(risk >= 0.9, popularity * risk, 0.0)
        if after_shift:
            weights = np.where(shift_from, 0.0, weights)
            weights = np.where(shift_to, 5.0, weights)
    elif kind == COMPROMISED:
        weights = popularity * np.where(risk >= 0.9, 3.0, 1.0)
    else:
        weights = popularity.copy()
    return weights / weights.sum()


def make_actors(
    rng: np.random.Generator, *, n_declarations: int, days: int, shift_day: float
) -> Actors:
    """Draw every entity and its trading slots for a world of ``n_declarations``."""
    n_imp = max(200, n_declarations // 60)
    kind = rng.choice(len(KINDS), size=n_imp, p=KIND_IMPORTER_SHARE).astype(np.int8)
    kind[:5] = np.arange(5)  # every kind exists even in tiny worlds

    # active windows (days since the world's start)
    start = -rng.uniform(0, 1500, n_imp)
    late = rng.random(n_imp) < 0.15
    start = np.where(late, rng.uniform(0, days * 0.9, n_imp), start)
    end = np.full(n_imp, days + 365.0)
    churn = rng.random(n_imp) < 0.10
    end = np.where(churn, np.maximum(start, 0) + rng.uniform(180, days, n_imp), end)
    front = kind == FRONT
    start = np.where(front, rng.uniform(0, days - 20, n_imp), start)
    end = np.where(front, start + rng.uniform(20, 110, n_imp), end)

    effect = KIND_EFFECT[kind] + np.where(kind == REGULAR, rng.normal(0, 0.25, n_imp), 0.0)
    value_offset = rng.normal(0, 0.12, n_imp) + np.where(kind == EVADER, -0.45, 0.0)

    # trading slots: lane, product within the lane
    n_lanes = len(ref.LANES)
    slot_lane = np.empty((n_imp, SLOTS), dtype=np.int64)
    for k in range(len(KINDS)):
        for after in (False, True):
            rows = np.flatnonzero((kind == k) & ((start >= shift_day) == after))
            if rows.size:
                p = _lane_weights(k, after_shift=after)
                slot_lane[rows] = rng.choice(n_lanes, size=(rows.size, SLOTS), p=p)
    n_products = np.array([len(lane.products) for lane in ref.LANES])
    slot_product_pos = np.floor(rng.random((n_imp, SLOTS)) * n_products[slot_lane]).astype(int)
    product_index = {p.hs_code: i for i, p in enumerate(ref.PRODUCTS)}
    lane_products = np.full((n_lanes, n_products.max()), -1, dtype=np.int64)
    for i, lane in enumerate(ref.LANES):
        lane_products[i, : len(lane.products)] = [product_index[h] for h in lane.products]
    slot_product = lane_products[slot_lane, slot_product_pos]

    # declarants: some complicit; fronts (and some compromised) use them on purpose
    n_dcl = max(30, n_imp // 8)
    complicit = rng.random(n_dcl) < COMPLICIT_SHARE
    complicit[:2] = True
    # complicit brokers are small shops: little ordinary business, so their client book
    # leans toward the fronts that seek them out (an observable trace, as in practice)
    popularity = rng.lognormal(0, 1.0, n_dcl) * np.where(complicit, COMPLICIT_POPULARITY, 1.0)
    importer_declarants = rng.choice(n_dcl, size=(n_imp, SLOTS), p=popularity / popularity.sum())
    complicit_ids = np.flatnonzero(complicit)
    wants = np.where(front, 0.75, np.where(kind == COMPROMISED, 0.4, 0.0))
    use = rng.random(n_imp) < wants
    importer_declarants[use, 0] = rng.choice(complicit_ids, size=int(use.sum()))

    # exporters per origin country; risky exporters only where trafficking lanes start
    lane_origin = np.array([lane.origin for lane in ref.LANES], dtype=object)
    lane_risk = np.array([lane.risk for lane in ref.LANES])
    countries = sorted(set(lane_origin))
    traffic_countries = {c for c, r in zip(lane_origin, lane_risk, strict=True) if r >= 0.9}
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
    risky_buyer = np.repeat((front | (kind == COMPROMISED))[:, None], SLOTS, axis=1)
    for country in countries:
        pool = np.flatnonzero(exporter_country == country)
        risky_pool = pool[exporter_risky[pool]]
        at = slot_origin == country
        slot_exporter[at] = rng.choice(pool, size=int(at.sum()))
        if risky_pool.size:
            pick = at & risky_buyer & (rng.random(at.shape) < 0.6)
            slot_exporter[pick] = rng.choice(risky_pool, size=int(pick.sum()))

    return Actors(
        importer_ids=_ids("IMP", n_imp, rng),
        importer_kind=kind,
        importer_start=start,
        importer_end=end,
        importer_effect=effect,
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
    """How many declarations each importer lodges in the period (sums to ``n_declarations``)."""
    kind = actors.importer_kind
    span = np.clip(actors.importer_end, 0, days) - np.clip(actors.importer_start, 0, days)
    size = rng.lognormal(0, 0.9, kind.size) * np.where(span > 0, 1.0, 0.0)
    # a legit importer's volume grows with its active span within the period
    size = size * np.where(kind == FRONT, 1.0, span / days)
    weights = np.zeros(kind.size)
    for k in range(len(KINDS)):
        rows = kind == k
        total = size[rows].sum()
        if total > 0:
            weights[rows] = KIND_DECLARATION_SHARE[k] * size[rows] / total
    return rng.multinomial(n_declarations, weights / weights.sum())
