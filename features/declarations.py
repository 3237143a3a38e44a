"""Declaration features: what the declaration itself says, and how it compares with the past.

Row-local features (HS levels, the raw magnitudes -- declared value, gross weight, quantity,
total taxes -- as they are, unit values, tax ratio, calendar, transport, description
signals, mapping extras) use only the declaration. Comparisons use only earlier
declarations: the unit-value norm of the same HS subheading (and subheading x origin) is the
running mean and spread of log unit values declared strictly before ``t``; the container
weight sums the declarations sharing the container in the 30 days before ``t`` plus this one.
"""

from __future__ import annotations

import re
from typing import cast

import numpy as np
import pandas as pd

from features.history import Facts, PriorIndex

__all__ = [
    "CATEGORICAL",
    "DESCRIPTION_KEYWORDS",
    "MIN_NORM_COUNT",
    "RAW_MAGNITUDES",
    "VAGUE_PATTERN",
    "declaration_features",
    "extra_feature_name",
    "extra_features",
]

MIN_NORM_COUNT = 5
"""Earlier declarations of the same HS subheading needed before a unit-value z-score exists."""
_NORM_PRIOR_VAR = 0.25
"""Prior variance of log unit values (a factor of about e^0.5 ~ 1.65 either way)."""
_NORM_PRIOR_WEIGHT = 5.0
"""Pseudo-declarations that pull a thin norm's spread (and HS x origin mean) to the prior."""
_CONTAINER_WINDOW = 30

RAW_MAGNITUDES = ("declared_value_usd", "gross_weight_kg", "quantity", "total_taxes_usd")
"""Numeric contract columns that are features as they are (besides the ratios built on them)."""

CATEGORICAL = ("hs_chapter", "hs_heading", "hs_subheading", "transport_mode", "origin_country")

VAGUE_PATTERN = (
    r"\b(?:general cargo|samples?|parts?|various|assorted|misc|miscellaneous|goods|"
    r"n\.e\.s|consolidated|personal effects|gifts?|mixed)\b"
)
"""Wording that says little about what is in the box."""

DESCRIPTION_KEYWORDS: dict[str, tuple[str, ...]] = {
    r"\b(?:banana|fruit|mango|pineapple|avocado|citrus|orange)": ("08", "20"),
    r"\bcoffee|\btea\b": ("09", "21"),
    r"\b(?:fish|hake|shrimp|seafood|fillet|tuna|salmon)": ("03", "16"),
    r"\b(?:flower|rose)": ("06",),
    r"\b(?:rice|wheat|maize|cereal)": ("10", "11"),
    r"\b(?:beer|wine|spirits|vodka|whisky)": ("22",),
    r"\b(?:timber|wood|lumber|plywood)": ("44",),
    r"\b(?:steel|iron)\b": ("72", "73"),
    r"\b(?:tyre|tire)": ("40",),
    r"\b(?:phone|smartphone|telephone)": ("85",),
    r"\b(?:computer|laptop|notebook)": ("84",),
    r"\b(?:machine|machinery|gear|gearbox|transmission|pump|engine)": ("84", "85", "87"),
    r"\b(?:furniture|table|chair|sofa)": ("94",),
    r"\b(?:t-shirt|shirt|garment|clothing|apparel|dress)": ("61", "62"),
    r"\b(?:pharma|medicament|medicine|tablet)": ("30",),
    r"\b(?:resin|polyethylene|plastic|hdpe|polymer)": ("39",),
    r"\b(?:cotton|fabric|textile|yarn)": ("52", "54", "55", "60"),
    r"\b(?:chemical|compound|acid|heterocyclic|solvent|reagent)": ("28", "29", "38"),
    r"\b(?:vehicle|auto|motor|car)\b": ("87",),
}
"""Description keyword (regex) -> HS chapters that goods so described normally fall in."""


def extra_feature_name(column: str) -> str:
    """Feature name of a mapping extra column: ``office.id`` -> ``extra_office_id``."""
    return "extra_" + (re.sub(r"[^0-9a-zA-Z]+", "_", column).strip("_").lower() or "column")


def _num(decl: pd.DataFrame, column: str) -> np.ndarray | None:
    if column not in decl.columns:
        return None
    values = decl[column]
    if values.dtype == np.float64:  # the contract's type: no round trip through Float64
        return values.to_numpy()
    return values.astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def _ratio(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None or b is None:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def _log(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), np.nan)


def _measures(decl: pd.DataFrame) -> dict[str, np.ndarray | None]:
    """Unit-value measures of every row of ``decl`` (None where a column is absent)."""
    value = _num(decl, "declared_value_usd")
    quantity = _num(decl, "quantity")
    weight = _num(decl, "gross_weight_kg")
    return {
        "value_per_quantity": _ratio(value, quantity),
        "value_per_kg": _ratio(value, weight),
        "kg_per_quantity": _ratio(weight, quantity),
    }


def _hs6(frame: pd.DataFrame) -> list[pd.Series]:
    return [frame["hs_code"].astype("str").str.slice(0, 6)]


def _hs6_origin(frame: pd.DataFrame) -> list[pd.Series]:
    return [*_hs6(frame), frame["origin_country"]]


def _norm_z(
    facts: Facts, name: str, values: np.ndarray, *, by_origin: bool
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """z-scores of the rows' log ``values`` of measure ``name`` against the past norm of the
    same HS subheading (and HS x origin when ``by_origin``).

    Returns (z vs HS, z vs HS x origin or None, number of earlier HS declarations).
    """
    xq = _log(values)

    def weights() -> tuple[np.ndarray, dict[str, np.ndarray]]:
        x = _log(cast(np.ndarray, _measures(facts.decl)[name]))
        ok = np.isfinite(x)
        return ok, {"s1": np.where(ok, x, 0.0), "s2": np.where(ok, x * x, 0.0)}

    hs, q_hs = facts.keys("hs6", _hs6)

    def build_hs() -> PriorIndex:
        ok, w = weights()
        return PriorIndex(np.where(ok, hs, -1), facts.t_facts, w, grid=facts.decl_grid)

    look = facts.at(facts.cached(f"norm:{name}:hs", build_hs), q_hs)
    n = look.count()
    s1, s2 = look.total("s1"), look.total("s2")
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s1 / n
        var = np.maximum(s2 / n - mean * mean, 0.0)
        var_s = (n * var + _NORM_PRIOR_WEIGHT * _NORM_PRIOR_VAR) / (n + _NORM_PRIOR_WEIGHT)
        enough = n >= MIN_NORM_COUNT
        z_hs = np.where(enough, (xq - mean) / np.sqrt(var_s), np.nan)
    z_ho = None
    if by_origin:
        ho, q_ho = facts.keys("hs6_origin", _hs6_origin)

        def build_ho() -> PriorIndex:
            ok, w = weights()
            return PriorIndex(
                np.where(ok, ho, -1), facts.t_facts, {"s1": w["s1"]}, grid=facts.decl_grid
            )

        look_ho = facts.at(facts.cached(f"norm:{name}:hs_origin", build_ho), q_ho)
        n_ho, s1_ho = look_ho.count(), look_ho.total("s1")
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_ho = (s1_ho + _NORM_PRIOR_WEIGHT * mean) / (n_ho + _NORM_PRIOR_WEIGHT)
            z_ho = np.where(enough, (xq - mean_ho) / np.sqrt(var_s), np.nan)
    return z_hs, z_ho, n


def _description_signals(desc: pd.Series, chapter: pd.Series | None) -> dict[str, np.ndarray]:
    """Vague wording, word count and keyword/HS-chapter mismatch, computed per distinct text."""
    codes, uniques = pd.factorize(desc, use_na_sentinel=True)
    text = pd.Series(uniques, dtype="str").str.lower()
    missing = codes < 0
    safe = np.where(missing, 0, codes)

    def per_row(values: np.ndarray) -> np.ndarray:
        if len(values) == 0:
            return np.full(len(codes), np.nan)
        out = values[safe].astype(float)
        out[missing] = np.nan
        return out

    out = {
        "description_vague": per_row(text.str.contains(VAGUE_PATTERN, regex=True).to_numpy()),
        "description_words": per_row(text.str.count(r"\S+").to_numpy(dtype=float)),
    }
    if chapter is not None:
        # the keyword/chapter test runs once per distinct (description, chapter) pair
        chap_codes, chap_uniques = pd.factorize(chapter.astype("str"), use_na_sentinel=True)
        chaps = np.array([*(str(c) for c in chap_uniques), ""], dtype=object)  # "": null
        chap_at = np.where(chap_codes < 0, len(chaps) - 1, chap_codes)
        pair, pairs = pd.factorize(
            np.where(missing, len(text), safe).astype(np.int64) * len(chaps) + chap_at
        )
        p_desc, p_chap = np.divmod(np.asarray(pairs, dtype=np.int64), len(chaps))
        p_known = p_desc < len(text)
        p_desc = np.where(p_known, p_desc, 0)
        any_kw = np.zeros(len(pairs), dtype=bool)
        fits = np.zeros(len(pairs), dtype=bool)
        for pattern, chapters in DESCRIPTION_KEYWORDS.items():
            hit = text.str.contains(pattern, regex=True).to_numpy(dtype=bool)
            if len(hit) == 0:
                continue
            pair_hit = hit[p_desc] & p_known
            any_kw |= pair_hit
            fits |= pair_hit & np.isin(chaps, chapters)[p_chap]
        mismatch = np.where(any_kw & (chaps[p_chap] != ""), (~fits).astype(float), np.nan)
        out["description_hs_mismatch"] = mismatch[pair]
    return out


def declaration_features(facts: Facts) -> dict[str, np.ndarray | pd.Series]:
    """Declaration features for the rows of ``facts`` (see the module doc)."""
    rows = facts.rows
    out: dict[str, np.ndarray | pd.Series] = {}
    hs = rows["hs_code"].astype("str")
    chapter = hs.str.slice(0, 2)
    out["hs_chapter"] = chapter
    out["hs_heading"] = hs.str.slice(0, 4)
    out["hs_subheading"] = hs.str.slice(0, 6)
    for name in ("transport_mode", "origin_country"):
        if name in rows.columns:
            out[name] = rows[name].astype("str")
    when = rows["declared_at"]
    out["declared_weekday"] = when.dt.day_of_week.to_numpy(dtype=float)
    out["declared_month"] = when.dt.month.to_numpy(dtype=float)
    out["declared_hour"] = when.dt.hour.to_numpy(dtype=float)

    for name in RAW_MAGNITUDES:
        raw = _num(rows, name)
        if raw is not None:
            out[name] = raw
    value = _num(rows, "declared_value_usd")
    weight = _num(rows, "gross_weight_kg")
    by_origin = facts.has("origin_country")
    for name, values in _measures(rows).items():
        if values is None:
            continue
        out[name] = values
        z_hs, z_ho, n = _norm_z(
            facts, name, values, by_origin=by_origin and name != "kg_per_quantity"
        )
        out[f"{name}_z_hs"] = z_hs
        if z_ho is not None:
            out[f"{name}_z_hs_origin"] = z_ho
        if name == "value_per_kg":
            out["hs_past_declarations"] = n
    taxes = _num(rows, "total_taxes_usd")
    tax_ratio = _ratio(taxes, value)
    if tax_ratio is not None:
        out["tax_ratio"] = tax_ratio
    if facts.has("container_id"):
        key, q_key = facts.keys("container", lambda frame: [frame["container_id"]])

        def build_container() -> PriorIndex:
            kg = _num(facts.decl, "gross_weight_kg")
            kg = kg if kg is not None else np.zeros(len(facts.decl))
            weights = {"kg": np.where(np.isfinite(kg), kg, 0.0)}
            return PriorIndex(key, facts.t_facts, weights, grid=facts.decl_grid)

        look = facts.at(
            facts.cached("container", build_container), q_key, windows=(_CONTAINER_WINDOW,)
        )
        out["container_declarations_30d"] = look.count(window=_CONTAINER_WINDOW) + 1
        if weight is not None:
            out["container_total_kg"] = look.total("kg", window=_CONTAINER_WINDOW) + weight
    if "origin_country" in rows.columns and "export_country" in rows.columns:
        o = rows["origin_country"]
        e = rows["export_country"]
        differs = (o != e).to_numpy(dtype=float)
        differs[(o.isna() | e.isna()).to_numpy(dtype=bool)] = np.nan
        out["origin_differs_export"] = differs
    if "goods_description" in rows.columns:
        out.update(_description_signals(rows["goods_description"], chapter))
    return out


def extra_features(facts: Facts) -> dict[str, np.ndarray | pd.Series]:
    """Mapping extras as features: categorical as text (made categorical), numeric as float."""
    rows = facts.rows
    out: dict[str, np.ndarray | pd.Series] = {}
    for column in facts.extra_categorical:
        if column in rows.columns:
            out[extra_feature_name(column)] = rows[column].astype("str")
    for column in facts.extra_numeric:
        values = _num(rows, column)
        if values is not None:
            out[extra_feature_name(column)] = values
    return out
