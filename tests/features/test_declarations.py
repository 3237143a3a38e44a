"""Declaration features on tiny hand-made frames; expected values worked out in comments."""

from __future__ import annotations

import math

import numpy as np
from strategies import at, cell, typed

from features.sources import Sources
from features.table import build_table

E = math.e


def test_unit_value_z_scores_against_the_past_norm() -> None:
    # six earlier declarations of HS 090111, 1 kg each, log(value per kg) = 0,0,1,1,0,1;
    # origins CO for logs 0,1,1 (rows 0,2,3), EC for the rest; the 7th (CO) has log value 2
    logs = [0, 0, 1, 1, 0, 1, 2]
    origins = ["CO", "EC", "CO", "CO", "EC", "EC", "CO"]
    rows = [
        {
            "declaration_id": f"D{i}",
            "declared_at": at(i),
            "importer_id": "I1",
            "hs_code": "0901110000",
            "origin_country": o,
            "quantity": 1.0,
            "gross_weight_kg": 1.0,
            "declared_value_usd": E**x,
        }
        for i, (x, o) in enumerate(zip(logs, origins, strict=True))
    ]
    t = build_table(Sources(declarations=typed("declarations", rows)))
    z = t["value_per_kg_z_hs"].to_numpy()
    # rows 0-4 have fewer than 5 earlier declarations of the subheading: no norm
    assert np.isnan(z[:5]).all()
    # row 6: n = 6, mean = 3/6 = 0.5, variance = 3/6 - 0.25 = 0.25;
    # smoothed variance = (6 * 0.25 + 5 * 0.25) / (6 + 5) = 0.25 -> sd 0.5; z = (2 - 0.5) / 0.5
    assert math.isclose(z[6], 3.0)
    # HS x origin CO before row 6: logs 0, 1, 1 (n = 3, sum 2); mean pulled to the HS mean
    # with weight 5: (2 + 5 * 0.5) / (3 + 5) = 0.5625; z = (2 - 0.5625) / 0.5 = 2.875
    assert math.isclose(t["value_per_kg_z_hs_origin"].iloc[6], 2.875)
    assert t["hs_past_declarations"].tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert math.isclose(t["value_per_quantity"].iloc[6], E**2)


def test_row_level_declaration_features() -> None:
    base = {"importer_id": "I1", "quantity": 4.0, "transport_mode": "sea"}
    rows = [
        # Monday 2024-01-01 00:00; 100 kg in container C1; taxes 30 on value 200 -> 0.15
        {
            **base,
            "declaration_id": "A",
            "declared_at": at(0),
            "hs_code": "090111",
            "goods_description": "green coffee beans",
            "origin_country": "CO",
            "export_country": "CO",
            "container_id": "C1",
            "gross_weight_kg": 100.0,
            "declared_value_usd": 200.0,
            "total_taxes_usd": 30.0,
        },
        # day 2, same container: 2 declarations, 100 + 250 = 350 kg; bananas under HS 09
        {
            **base,
            "declaration_id": "B",
            "declared_at": at(48),
            "hs_code": "090111",
            "goods_description": "Fresh Bananas",
            "origin_country": "CO",
            "export_country": "PA",
            "container_id": "C1",
            "gross_weight_kg": 250.0,
            "declared_value_usd": 0.0,
            "total_taxes_usd": 0.0,
        },
        # day 40, container reused: A and B are outside the 30 days before -> alone again
        {
            **base,
            "declaration_id": "C",
            "declared_at": at(40 * 24),
            "hs_code": "290000",
            "goods_description": "general cargo",
            "origin_country": "CO",
            "export_country": None,
            "container_id": "C1",
            "gross_weight_kg": 0.0,
            "declared_value_usd": 10.0,
            "total_taxes_usd": 1.0,
        },
    ]
    t = build_table(Sources(declarations=typed("declarations", rows))).set_index("declaration_id")
    assert t["hs_chapter"].astype(str).tolist() == ["09", "09", "29"]
    assert t.loc["A", "hs_heading"] == "0901" and t.loc["A", "hs_subheading"] == "090111"
    assert t.loc["A", "declared_weekday"] == 0.0 and t.loc["A", "declared_month"] == 1.0
    assert t.loc["A", "tax_ratio"] == 0.15
    assert np.isnan(cell(t, "B", "tax_ratio"))  # value 0: no ratio, not infinity
    assert t.loc["A", "value_per_kg"] == 2.0  # 200 / 100
    assert t.loc["A", "kg_per_quantity"] == 25.0  # 100 / 4
    assert np.isnan(cell(t, "C", "value_per_kg"))  # 0 kg
    assert t["container_declarations_30d"].tolist() == [1.0, 2.0, 1.0]
    assert t["container_total_kg"].tolist() == [100.0, 350.0, 0.0]
    assert t.loc["A", "origin_differs_export"] == 0.0
    assert t.loc["B", "origin_differs_export"] == 1.0
    assert np.isnan(cell(t, "C", "origin_differs_export"))  # export country unknown
    # coffee under chapter 09 fits; bananas (chapter 08) under 09 do not; "general cargo"
    # names no goods (no keyword), so no mismatch can be judged, but it is vague
    assert t["description_hs_mismatch"].tolist()[:2] == [0.0, 1.0]
    assert np.isnan(cell(t, "C", "description_hs_mismatch"))
    assert t["description_vague"].tolist() == [0.0, 0.0, 1.0]
    assert t["description_words"].tolist() == [3.0, 2.0, 2.0]


def test_raw_magnitudes_are_features_as_they_are() -> None:
    base = {"importer_id": "I1", "hs_code": "090111"}
    rows = [
        {**base, "declaration_id": "A", "declared_at": at(0), "declared_value_usd": 1234.5,
         "gross_weight_kg": 0.0, "quantity": 7.0, "total_taxes_usd": 99.25},
        {**base, "declaration_id": "B", "declared_at": at(1), "declared_value_usd": None,
         "gross_weight_kg": 10.0, "quantity": 2.0, "total_taxes_usd": 4.0},
    ]  # fmt: skip
    t = build_table(Sources(declarations=typed("declarations", rows))).set_index("declaration_id")
    assert t.loc["A", "declared_value_usd"] == 1234.5
    assert t.loc["A", "gross_weight_kg"] == 0.0  # zero weight is a value, not missing
    assert t.loc["A", "quantity"] == 7.0 and t.loc["A", "total_taxes_usd"] == 99.25
    assert np.isnan(cell(t, "B", "declared_value_usd"))  # null stays null, never 0
    # taxes per value is the existing tax_ratio, value per quantity value_per_quantity
    assert math.isclose(t.loc["A", "tax_ratio"], 99.25 / 1234.5)
    assert math.isclose(t.loc["A", "value_per_quantity"], 1234.5 / 7)
    names = t.attrs["feature_names"]
    assert len(names) == len(set(names))
    # an absent column gives no feature (dropped, not faked)
    only = typed("declarations", [{**base, "declaration_id": "C", "declared_at": at(0)}])
    absent = build_table(Sources(declarations=only)).attrs["feature_names"]
    assert not {"declared_value_usd", "gross_weight_kg", "quantity", "total_taxes_usd"} & set(
        absent
    )
