"""Column specs and vectorised row checks on tiny typed frames with hand-worked answers."""

from __future__ import annotations

import pandas as pd
import pandera.errors
import pytest

from features.contracts import (
    CONTRACTS,
    check_rows,
    columns,
    duplicate_problems,
    required_columns,
    schema,
)
from features.errors import Problem


def _ts(*values: str | None) -> pd.Series:
    return pd.Series([pd.Timestamp(v) if v else pd.NaT for v in values], dtype="datetime64[us]")


def _str(*values: str | None) -> pd.Series:
    return pd.Series(list(values), dtype="str")


def test_required_columns_are_those_of_the_design() -> None:
    assert required_columns("declarations") == (
        "declaration_id",
        "declared_at",
        "importer_id",
        "hs_code",
    )
    assert set(required_columns("financial_flags")) == {"flag_id", "entity_id", "flagged_at"}
    assert {"declaration_id", "leg_seq", "port_from", "port_to"} <= set(
        required_columns("route_legs")
    )
    assert set(required_columns("ports")) == {"locode", "name", "country", "lat", "lon"}
    assert "selected_by" in columns("labels") and not columns("labels")["selected_by"].required
    assert set(CONTRACTS) == {
        "declarations",
        "labels",
        "financial_flags",
        "route_legs",
        "ports",
    }


def test_unknown_source_names_the_choices() -> None:
    with pytest.raises(ValueError, match="declarations"):
        columns("invoices")


def test_declaration_values_are_checked_against_their_constraints() -> None:
    frame = pd.DataFrame(
        {
            "declaration_id": _str("D1", "D2", None),
            "declared_at": _ts("2023-01-01", None, "2023-01-02"),
            "importer_id": _str("I", "I", "I"),
            "hs_code": _str("0801100000", "08011", "08A1100000"),
            "origin_country": _str("CO", "co", None),
            "port_of_entry": _str("NLRTM", "NLRT", "US1AB"),
            "transport_mode": _str("sea", "ship", None),
            "gross_weight_kg": [0.0, -3.5, float("inf")],
        }
    )
    found = {(p.row, p.column): p.reason for p in check_rows("declarations", frame, file="f")}
    assert found == {
        (3, "declaration_id"): "required value is missing",
        (2, "declared_at"): "required value is missing",
        (2, "hs_code"): "must be an HS code of 6, 8 or 10 digits, found '08011' (5 digits)",
        (3, "hs_code"): "must be an HS code of 6, 8 or 10 digits, found '08A1100000'",
        (2, "origin_country"): (
            "must be an ISO 3166 alpha-2 country code (two uppercase letters), found 'co'"
        ),
        (2, "port_of_entry"): (
            "must be a UN/LOCODE (2 uppercase letters + 3 uppercase letters or digits), "
            "found 'NLRT'"
        ),
        (2, "transport_mode"): "must be one of sea, air, road, rail, post, found 'ship'",
        (2, "gross_weight_kg"): "must be >= 0, found -3.5",
        (3, "gross_weight_kg"): "must be a finite number, found inf",
    }


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("8039010", "(7 digits: a leading zero was probably lost"),
        ("301110000", "(9 digits: a leading zero was probably lost"),
        ("0803901", "(7 digits)"),
        ("80390100000", "(11 digits)"),
        ("803901.0", "(an HS code written as a number"),
    ],
)
def test_hs_codes_have_an_even_length_and_odd_ones_say_why(code: str, reason: str) -> None:
    frame = pd.DataFrame({"hs_code": _str("080390", "08039010", "0803901000", code)})
    problems = check_rows("declarations", frame, file="f")
    assert [(p.row, p.column) for p in problems] == [(4, "hs_code")]
    assert problems[0].reason.startswith(
        f"must be an HS code of 6, 8 or 10 digits, found {code!r} {reason}"
    )


def test_unparsed_cells_are_not_reported_again_as_missing() -> None:
    frame = pd.DataFrame({"declared_at": _ts(None)})
    unparsed = {"declared_at": pd.Series([True])}
    assert check_rows("declarations", frame, file="f", unparsed=unparsed) == []
    assert len(check_rows("declarations", frame, file="f")) == 1


def test_duplicates_name_the_first_row() -> None:
    values = _str("A", "B", "A", None, None, "A")
    assert duplicate_problems(values, file="f", column="c") == [
        Problem("f", 3, "c", "duplicate value 'A', first seen at row 1"),
        Problem("f", 6, "c", "duplicate value 'A', first seen at row 1"),
    ]


def test_label_rules_seized_null_iff_not_inspected() -> None:
    frame = pd.DataFrame(
        {
            "declaration_id": _str("D1", "D2", "D3", "D4"),
            "inspected": pd.array([True, False, True, False], dtype="boolean"),
            "seized": pd.array([False, True, None, None], dtype="boolean"),
            "drug_type": _str(None, "Cocaine", None, "cocaine"),
            "inspected_at": _ts("2023-01-05", None, "2023-01-06", None),
            "selected_by": _str("rules", "random", "oracle", None),
        }
    )
    found = {(p.row, p.column): p.reason for p in check_rows("labels", frame, file="f")}
    assert found == {
        (2, "drug_type"): "must be a lowercase word (e.g. 'cocaine'), found 'Cocaine'",
        (3, "selected_by"): "must be one of rules, random, found 'oracle'",
        (2, "seized"): "must be null when inspected is false, found True",
        (3, "seized"): "must be true or false when inspected is true, found null",
    }


def test_route_and_port_rules() -> None:
    legs = pd.DataFrame(
        {
            "declaration_id": _str("D1", "D1"),
            "leg_seq": pd.array([1, 0], dtype="Int64"),
            "port_from": _str("COBUN", "PAMIT"),
            "port_to": _str("PAMIT", "NLRTM"),
            "departed_at": _ts("2023-01-01", "2023-01-10"),
            "arrived_at": _ts("2023-01-05", "2023-01-09"),
            "ais_gap_hours": [0.0, -1.0],
        }
    )
    found = {(p.row, p.column): p.reason for p in check_rows("route_legs", legs, file="f")}
    assert found == {
        (2, "leg_seq"): "must be >= 1, found 0",
        (2, "arrived_at"): "must not be before departed_at, found 2023-01-09T00:00:00",
        (2, "ais_gap_hours"): "must be >= 0, found -1.0",
    }
    ports = pd.DataFrame(
        {
            "locode": _str("NLRTM", "XXXX"),
            "name": _str("Rotterdam", "Nowhere"),
            "country": _str("NL", "XX"),
            "lat": [51.9, 91.0],
            "lon": [4.1, -180.5],
        }
    )
    where = {(p.row, p.column) for p in check_rows("ports", ports, file="f")}
    assert where == {(2, "locode"), (2, "lat"), (2, "lon")}


def test_pandera_schema_agrees_with_the_row_checks() -> None:
    good = pd.DataFrame(
        {
            "declaration_id": _str("D1", "D2"),
            "inspected": pd.array([True, False], dtype="boolean"),
            "seized": pd.array([True, None], dtype="boolean"),
            "inspected_at": _ts("2023-01-05", None),
        }
    )
    present = tuple(good.columns)
    schema("labels", present=present).validate(good)
    assert check_rows("labels", good, file="f") == []
    bad = good.assign(seized=pd.array([True, False], dtype="boolean"))
    assert check_rows("labels", bad, file="f") != []
    with pytest.raises(pandera.errors.SchemaError):
        schema("labels", present=present).validate(bad)
    wrong_dtype = good.assign(inspected=[1, 0])
    with pytest.raises(pandera.errors.SchemaError):
        schema("labels", present=present, with_checks=False).validate(wrong_dtype)
