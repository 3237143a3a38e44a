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

import numpy as np
import pandas as pd

from features.history import Facts, PriorIndex, factorize

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


def _take(column: pd.Series, rows: np.ndarray) -> pd.Series:
    """Text values of ``rows`` with a fresh 0-based index (aligned with the query)."""
    return column.iloc[rows].reset_index(drop=True)


def _num(decl: pd.DataFrame, column: str) -> np.ndarray | None:
    if column not in decl.columns:
        return None
    return decl[column].astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def _ratio(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None or b is None:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def _log(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), np.nan)


def _norm_z(
    facts: Facts,
    values: np.ndarray,
    hs: np.ndarray,
    ho: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """z-scores of log ``values`` against the past norm of the same HS (and HS x origin).

    Returns (z vs HS, z vs HS x origin or None, number of earlier HS declarations).
    """
    x = _log(values)
    ok = np.isfinite(x)
    t_all = facts.decl["_t"].to_numpy()
    q, q_t = facts.query, facts.t
    xq = x[q]
    weights = {"s1": np.where(ok, x, 0.0), "s2": np.where(ok, x * x, 0.0)}
    hs_key = np.where(ok, hs, -1)
    look = PriorIndex(hs_key, t_all, weights).at(hs[q], q_t)
    n = look.count()
    s1, s2 = look.total("s1"), look.total("s2")
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s1 / n
        var = np.maximum(s2 / n - mean * mean, 0.0)
        var_s = (n * var + _NORM_PRIOR_WEIGHT * _NORM_PRIOR_VAR) / (n + _NORM_PRIOR_WEIGHT)
        enough = n >= MIN_NORM_COUNT
        z_hs = np.where(enough, (xq - mean) / np.sqrt(var_s), np.nan)
    z_ho = None
    if ho is not None:
        look_ho = PriorIndex(np.where(ok, ho, -1), t_all, {"s1": weights["s1"]}).at(ho[q], q_t)
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
        chap = chapter.astype("str").to_numpy(dtype=object, na_value="")
        any_kw = np.zeros(len(codes), dtype=bool)
        fits = np.zeros(len(codes), dtype=bool)
        for pattern, chapters in DESCRIPTION_KEYWORDS.items():
            hit = text.str.contains(pattern, regex=True).to_numpy(dtype=bool)
            if len(hit) == 0:
                continue
            row_hit = hit[safe] & ~missing
            any_kw |= row_hit
            fits |= row_hit & np.isin(chap, chapters)
        mismatch = np.where(any_kw & (chap != ""), (~fits).astype(float), np.nan)
        out["description_hs_mismatch"] = mismatch
    return out


def declaration_features(facts: Facts) -> dict[str, np.ndarray | pd.Series]:
    """Declaration features for the query rows of ``facts`` (see the module doc)."""
    decl = facts.decl
    q = facts.query
    out: dict[str, np.ndarray | pd.Series] = {}
    hs = decl["hs_code"].astype("str")
    chapter = hs.str.slice(0, 2)
    out["hs_chapter"] = _take(chapter, q)
    out["hs_heading"] = _take(hs.str.slice(0, 4), q)
    out["hs_subheading"] = _take(hs.str.slice(0, 6), q)
    for name in ("transport_mode", "origin_country"):
        if name in decl.columns:
            out[name] = _take(decl[name].astype("str"), q)
    when = decl["declared_at"].iloc[q]
    out["declared_weekday"] = when.dt.day_of_week.to_numpy(dtype=float)
    out["declared_month"] = when.dt.month.to_numpy(dtype=float)
    out["declared_hour"] = when.dt.hour.to_numpy(dtype=float)

    for name in RAW_MAGNITUDES:
        raw = _num(decl, name)
        if raw is not None:
            out[name] = raw[q]
    value = _num(decl, "declared_value_usd")
    quantity = _num(decl, "quantity")
    weight = _num(decl, "gross_weight_kg")
    hs6 = hs.str.slice(0, 6)
    hs_key = factorize(hs6)
    ho_key = factorize(hs6, decl["origin_country"]) if "origin_country" in decl.columns else None
    measures = {
        "value_per_quantity": _ratio(value, quantity),
        "value_per_kg": _ratio(value, weight),
        "kg_per_quantity": _ratio(weight, quantity),
    }
    for name, values in measures.items():
        if values is None:
            continue
        out[name] = values[q]
        z_hs, z_ho, n = _norm_z(
            facts, values, hs_key, ho_key if name != "kg_per_quantity" else None
        )
        out[f"{name}_z_hs"] = z_hs
        if z_ho is not None:
            out[f"{name}_z_hs_origin"] = z_ho
        if name == "value_per_kg":
            out["hs_past_declarations"] = n
    taxes = _num(decl, "total_taxes_usd")
    tax_ratio = _ratio(taxes, value)
    if tax_ratio is not None:
        out["tax_ratio"] = tax_ratio[q]
    if "container_id" in decl.columns:
        key = factorize(decl["container_id"])
        kg = weight if weight is not None else np.zeros(len(decl))
        has_kg = np.isfinite(kg)
        index = PriorIndex(key, decl["_t"].to_numpy(), {"kg": np.where(has_kg, kg, 0.0)})
        look = index.at(key[q], facts.t, windows=(_CONTAINER_WINDOW,))
        out["container_declarations_30d"] = look.count(window=_CONTAINER_WINDOW) + 1
        if weight is not None:
            out["container_total_kg"] = look.total("kg", window=_CONTAINER_WINDOW) + weight[q]
    if "origin_country" in decl.columns and "export_country" in decl.columns:
        o = decl["origin_country"].iloc[q]
        e = decl["export_country"].iloc[q]
        differs = (o != e).to_numpy(dtype=float)
        differs[(o.isna() | e.isna()).to_numpy(dtype=bool)] = np.nan
        out["origin_differs_export"] = differs
    if "goods_description" in decl.columns:
        signals = _description_signals(decl["goods_description"].iloc[q], chapter.iloc[q])
        out.update(signals)
    return out


def extra_features(facts: Facts) -> dict[str, np.ndarray | pd.Series]:
    """Mapping extras as features: categorical as text (made categorical), numeric as float."""
    decl = facts.decl
    out: dict[str, np.ndarray | pd.Series] = {}
    for column in facts.extra_categorical:
        if column in decl.columns:
            out[extra_feature_name(column)] = _take(decl[column].astype("str"), facts.query)
    for column in facts.extra_numeric:
        values = _num(decl, column)
        if values is not None:
            out[extra_feature_name(column)] = values[facts.query]
    return out
