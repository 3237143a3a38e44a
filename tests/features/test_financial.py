"""Financial-flag features on a hand-made frame; expected values worked out in comments."""

from __future__ import annotations

import numpy as np
from strategies import at, typed

from features.sources import Sources
from features.table import build_table

DAY = 24.0


def test_flags_by_role_type_window_and_recency() -> None:
    decl = typed(
        "declarations",
        [{"declaration_id": "D1", "declared_at": at(0), "importer_id": "I1",
          "exporter_id": "E1", "hs_code": "090111"}],
    )  # fmt: skip
    flags = typed(
        "financial_flags",
        [
            {"flag_id": "F1", "entity_id": "I1", "flagged_at": at(-10 * DAY),
             "flag_type": "suspicious_transaction_report", "amount_usd": 100.0},
            {"flag_id": "F2", "entity_id": "I1", "flagged_at": at(-60 * DAY),
             "flag_type": "cash_payment", "amount_usd": 50.0},
            {"flag_id": "F3", "entity_id": "I1", "flagged_at": at(-200 * DAY),
             "flag_type": "a_new_kind", "amount_usd": None},
            {"flag_id": "F4", "entity_id": "I1", "flagged_at": at(1),
             "flag_type": "suspicious_transaction_report", "amount_usd": 1e6},
            {"flag_id": "F5", "entity_id": "I1", "flagged_at": at(0),
             "flag_type": "cash_payment", "amount_usd": 1e6},
            {"flag_id": "F6", "entity_id": "E1", "flagged_at": at(-5 * DAY),
             "flag_type": "third_party_payment", "amount_usd": None},
        ],
    )  # fmt: skip
    t = build_table(Sources(declarations=decl, financial_flags=flags)).iloc[0]
    # importer: F1 (10 days before), F2 (60), F3 (200); F4 is later and F5 at the same
    # instant (not before), so neither counts
    assert (t["importer_flags_30d"], t["importer_flags_90d"], t["importer_flags_365d"]) == (
        1.0,
        2.0,
        3.0,
    )
    assert t["importer_flags_suspicious_transaction_report_30d"] == 1.0
    assert t["importer_flags_cash_payment_30d"] == 0.0
    assert t["importer_flags_cash_payment_90d"] == 1.0
    assert t["importer_flags_other_365d"] == 1.0  # unknown type counted as "other"
    # amounts: 100 (30 d), 100 + 50 (90 d), + missing amount of F3 adds nothing (365 d)
    assert t["importer_flag_amount_usd_30d"] == 100.0
    assert t["importer_flag_amount_usd_90d"] == 150.0
    assert t["importer_flag_amount_usd_365d"] == 150.0
    assert t["importer_days_since_flag"] == 10.0
    assert t["exporter_flags_third_party_payment_30d"] == 1.0
    assert t["exporter_days_since_flag"] == 5.0


def test_no_flag_means_no_recency() -> None:
    decl = typed(
        "declarations",
        [{"declaration_id": "D1", "declared_at": at(0), "importer_id": "I9", "hs_code": "090111"}],
    )
    flags = typed(
        "financial_flags",
        [{"flag_id": "F1", "entity_id": "I1", "flagged_at": at(-1), "flag_type": "cash_payment"}],
    )
    t = build_table(Sources(declarations=decl, financial_flags=flags)).iloc[0]
    assert t["importer_flags_365d"] == 0.0
    assert np.isnan(t["importer_days_since_flag"])
    assert "exporter_flags_30d" not in t.index  # no exporter column: no exporter features
