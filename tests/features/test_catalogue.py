"""Feature catalogue: every feature the pipeline can produce has a readable entry."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from strategies import at, read_world, typed

from features.catalogue import (
    GROUPS,
    catalogue,
    catalogue_frame,
    catalogue_json,
    describe,
    feature_info,
)
from features.sources import Sources
from features.table import build_table

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def _all_features_world() -> Sources:
    if not SAMPLE.joinpath("declarations.parquet").exists():
        pytest.skip("no committed sample")
    world = read_world(SAMPLE)
    decl = world.declarations.head(300).copy()
    decl["office.id"] = decl["customs_office"]
    decl["fob value"] = decl["declared_value_usd"]
    return Sources(
        declarations=decl,
        labels=world.labels,
        financial_flags=world.financial_flags,
        route_legs=world.route_legs,
        ports=world.ports,
        extra_categorical=("office.id",),
        extra_numeric=("fob value",),
    )


def test_every_produced_feature_has_an_entry() -> None:
    table = build_table(_all_features_world(), windows=(7, 30))
    names = table.attrs["feature_names"]
    assert table.attrs["groups_absent"] == {}
    frame = catalogue_frame(names)
    assert frame["name"].tolist() == names
    assert set(frame["group"]) == set(GROUPS)
    assert frame["template"].str.contains("{value").all()
    kinds = dict(zip(frame["name"], frame["kind"], strict=True))
    for name in table.attrs["categorical_features"]:
        assert kinds[name] == "categorical" or name.startswith("extra_")


def test_templates_read_in_plain_words() -> None:
    assert describe("importer_flags_suspicious_transaction_report_90d", 3.0) == (
        "the importer had 3 suspicious transaction report flags in the 90 days before"
    )
    assert describe("corridor_seizure_rate", 0.125) == (
        "the corridor's past seizure rate (smoothed) is 12.5%"
    )
    assert describe("importer_seizures", math.nan) == (
        "importer seizures: not known (missing, or no earlier facts)"
    )
    assert describe("route_ais_gap_hours_max", math.nan) == (
        "longest AIS gap: not known (missing, or no earlier facts)"
    )
    # a template that starts with its value: the words after it, not the raw feature name
    assert describe("route_ais_gap_hours_total", math.nan) == (
        "hours without AIS signal in total: not known (missing, or no earlier facts)"
    )
    assert describe("extra_office_id", "K1") == "office_id is K1"
    assert describe("hs_chapter", "09") == "HS chapter 09"
    assert describe("declared_value_usd", 1234.5) == "declared value of 1,234.50 USD"
    assert describe("profile_customs_office_seizure_rate", 0.05) == (
        "past seizure rate of this customs office is 5.0% (few inspections: pulled toward the "
        "overall rate)"
    )


def test_every_profile_has_a_plain_text_per_window() -> None:
    names = {e.name: e for e in catalogue(extra_categorical=["extra_office_id"])}
    profiled = [n for n in names if n.startswith("profile_")]
    assert all(names[n].group == "profile" for n in profiled)
    assert "profile_extra_office_id_seizure_rate" in names
    assert "profile_origin_country_seizure_rate_90d" in names
    assert "profile_hs_code_seizure_rate_90d" not in names
    for name in profiled:
        text = describe(name, 0.25)
        assert "{" not in text and "_" not in text, text


def test_catalogue_as_table_and_json() -> None:
    entries = catalogue()
    frame = catalogue_frame()
    assert len(frame) == len(entries) == len({e.name for e in entries})
    records = json.loads(catalogue_json(["tax_ratio", "route_km"]))
    assert records == [
        {"name": "tax_ratio", "group": "declaration", "kind": "numeric",
         "template": "taxes are {value:.1%} of the declared value"},
        {"name": "route_km", "group": "route", "kind": "numeric",
         "template": "the route is {value:,.0f} km long"},
    ]  # fmt: skip
    with pytest.raises(KeyError, match="no_such_feature"):
        feature_info("no_such_feature")


def test_a_tiny_world_builds_only_catalogued_features() -> None:
    decl = typed(
        "declarations",
        [{"declaration_id": "A", "declared_at": at(0), "importer_id": "I", "hs_code": "090111"}],
    )
    names = build_table(Sources(declarations=decl)).attrs["feature_names"]
    assert {n for n in names} <= {e.name for e in catalogue()}
