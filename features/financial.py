"""Financial-flag features for the importer and the exporter of a declaration.

A flag counts for a declaration at ``t`` when its ``entity_id`` is the declaration's
importer (or exporter) and ``flagged_at < t``. Per role: flags by type and in total, and their
summed ``amount_usd``, in each trailing window, and days since the last flag. Flag types
outside :data:`FLAG_TYPES` are counted as ``other`` so the feature names never depend on the
data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.history import DAY_US, Facts, KeyCode, PriorIndex

__all__ = ["FLAG_ROLES", "FLAG_TYPES", "financial_features"]

FLAG_TYPES: tuple[str, ...] = (
    "suspicious_transaction_report",
    "cash_payment",
    "third_party_payment",
    "high_risk_jurisdiction",
    "rapid_turnover",
    "invoice_mismatch",
    "partner_agency_alert",
    "other",
)
"""Flag types with their own features; anything else is ``other``."""

FLAG_ROLES: dict[str, str] = {"importer": "importer_id", "exporter": "exporter_id"}


def financial_features(facts: Facts) -> dict[str, np.ndarray]:
    """Flag counts, amounts and recency per role for the rows (empty without flags)."""
    flags = facts.flags
    if flags is None:
        return {}
    roles = {r: c for r, c in FLAG_ROLES.items() if facts.has(c)}
    if not roles:
        return {}
    code = facts.cached("key:flag_entity", lambda: KeyCode.of([flags["entity_id"].astype("str")]))
    has_amount = "amount_usd" in flags.columns
    index = facts.cached("flags", lambda: _flag_index(flags, code.codes))
    q_t = facts.t
    out: dict[str, np.ndarray] = {}
    for role, column in roles.items():
        q_key = code.lookup([facts.rows[column].astype("str")])
        look = facts.at(index, q_key, windows=facts.windows)
        for w in facts.windows:
            out[f"{role}_flags_{w}d"] = look.count(window=w)
            for kind in FLAG_TYPES:
                out[f"{role}_flags_{kind}_{w}d"] = look.total(kind, window=w)
            if has_amount:
                out[f"{role}_flag_amount_usd_{w}d"] = look.total("amount", window=w)
        last = look.last()
        out[f"{role}_days_since_flag"] = (q_t - last) / DAY_US
    return out


def _flag_index(flags: pd.DataFrame, keys: np.ndarray) -> PriorIndex:
    """Flags by entity code and time, weighted by type (one weight per type) and amount."""
    kinds = flags["flag_type"].astype("str").to_numpy(dtype=object, na_value="other")
    kinds = np.where(np.isin(kinds, FLAG_TYPES), kinds, "other")
    weights: dict[str, np.ndarray] = {k: (kinds == k).astype(np.int64) for k in FLAG_TYPES}
    if "amount_usd" in flags.columns:
        amount = flags["amount_usd"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        weights["amount"] = np.where(np.isfinite(amount), amount, 0.0)
    return PriorIndex(keys, flags["_t"].to_numpy(), weights)
