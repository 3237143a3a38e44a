"""The synthetic world: determinism, no truth leaks, contract dtypes and stated properties."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskmodel.errors import UsageError
from riskmodel.rules import load_rules
from riskmodel.world import World, foreign_layout, generate_world, write_foreign_layout, write_world
from riskmodel.world.write import FOREIGN_COLUMNS, SOURCE_FILES

LOCODE = re.compile(r"^[A-Z]{2}[A-Z2-9]{3}$")


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    write_world(generate_world(n_declarations=1_500, seed=5), tmp_path / "a")
    write_world(generate_world(n_declarations=1_500, seed=5), tmp_path / "b")
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert set(a) >= {*SOURCE_FILES, "rules.toml", "truth/truth.parquet", "truth/world.json"}
    assert a == b


def test_different_seed_gives_a_different_world(tmp_path: Path) -> None:
    one = generate_world(n_declarations=1_500, seed=5)
    two = generate_world(n_declarations=1_500, seed=6)
    assert not one.declarations.equals(two.declarations)
    assert not np.allclose(one.truth["p_seizure"], two.truth["p_seizure"])


def test_truth_appears_only_under_truth(seeded_world_dir: Path, seeded_world: World) -> None:
    p = seeded_world.truth["p_seizure"].to_numpy()
    for name in SOURCE_FILES:
        frame = pd.read_parquet(seeded_world_dir / name)
        assert not {"p_seizure", "seized_truth"} & set(frame.columns), name
        for column in frame.select_dtypes("float64").columns:
            values = frame[column].to_numpy()
            assert not (len(values) == len(p) and np.allclose(values, p, equal_nan=True)), column
    rules_text = (seeded_world_dir / "rules.toml").read_text(encoding="utf-8")
    assert "p_seizure" not in rules_text
    truth = pd.read_parquet(seeded_world_dir / "truth" / "truth.parquet")
    assert list(truth.columns) == ["declaration_id", "p_seizure", "seized_truth"]
    assert (truth["declaration_id"] == seeded_world.declarations["declaration_id"]).all()


def test_labels_exist_only_for_inspected_declarations(seeded_world: World) -> None:
    labels, truth = seeded_world.labels, seeded_world.truth.set_index("declaration_id")
    assert labels["declaration_id"].is_unique
    assert labels["declaration_id"].isin(seeded_world.declarations["declaration_id"]).all()
    assert labels["inspected"].all() and labels["seized"].notna().all()
    assert (
        labels["seized"].to_numpy(dtype=bool)
        == truth.loc[labels["declaration_id"], "seized_truth"].to_numpy(dtype=bool)
    ).all()
    seized = labels["seized"].to_numpy(dtype=bool)
    assert labels.loc[seized, ["seized_kg", "drug_type"]].notna().all().all()
    assert (labels.loc[seized, "seized_kg"] > 0).all()
    assert labels.loc[~seized, ["seized_kg", "drug_type"]].isna().all().all()
    assert set(labels["selected_by"]) == {"rules", "random"}


def test_written_sources_have_contract_dtypes(seeded_world_dir: Path) -> None:
    declarations = pd.read_parquet(seeded_world_dir / "declarations.parquet")
    assert declarations["declared_at"].dtype == "datetime64[us]"
    assert declarations["hs_code"].dtype == "str"
    assert declarations["hs_code"].str.fullmatch(r"\d{6,10}").all()
    assert declarations["declaration_id"].is_unique
    for column in ("quantity", "gross_weight_kg", "declared_value_usd", "total_taxes_usd"):
        assert declarations[column].dtype == "float64"
        assert (declarations[column] >= 0).all(), column
    assert set(declarations["transport_mode"]) <= {"sea", "air", "road", "rail", "post"}
    sea = declarations["transport_mode"] == "sea"
    assert declarations.loc[sea, "container_id"].str.fullmatch(r"[A-Z]{3}U\d{7}").all()
    assert declarations.loc[~sea, "container_id"].isna().all()
    labels = pd.read_parquet(seeded_world_dir / "labels.parquet")
    assert labels["inspected"].dtype == "boolean" and labels["seized"].dtype == "boolean"
    assert labels["inspected_at"].dtype == "datetime64[us]"
    legs = pd.read_parquet(seeded_world_dir / "route_legs.parquet")
    assert legs["leg_seq"].dtype == "Int64"
    assert (legs["arrived_at"] > legs["departed_at"]).all()
    flags = pd.read_parquet(seeded_world_dir / "financial_flags.parquet")
    assert flags["flag_id"].is_unique and flags["flagged_at"].dtype == "datetime64[us]"


def test_base_rate_and_inspection_policy_in_stated_ranges(seeded_world: World) -> None:
    p = seeded_world.truth["p_seizure"]
    seized = seeded_world.truth["seized_truth"].to_numpy(dtype=bool)
    assert 0.003 <= p.mean() <= 0.03  # the base rate: mean latent probability
    # the realised rate is Bernoulli(p): within 4 binomial standard errors of the base rate
    se = float(np.sqrt(p.mean() * (1 - p.mean()) / len(p)))
    assert abs(seized.mean() - p.mean()) < 4 * se
    inspected = len(seeded_world.labels) / len(seeded_world.declarations)
    assert 0.01 <= inspected <= 0.10  # "about 1-10 % of declarations inspected"
    hit_rate = seeded_world.labels["seized"].to_numpy(dtype=bool).mean()
    assert hit_rate > seized.mean()
    assert seeded_world.params["inspection_policy"]["inspected_share"] == pytest.approx(
        inspected, abs=1e-6
    )
    random_share = (seeded_world.labels["selected_by"] == "random").mean() * inspected
    assert 0.005 <= random_share <= 0.04


def test_label_delay_within_bounds(seeded_world: World) -> None:
    merged = seeded_world.labels.merge(seeded_world.declarations, on="declaration_id")
    delay = (merged["inspected_at"] - merged["declared_at"]).dt.total_seconds() / 86_400
    low, high = seeded_world.params["inspection_policy"]["label_delay_days"]
    assert delay.min() >= low - 1e-6 and delay.max() <= high + 1e-6
    assert delay.std() > 1.0


def test_front_companies_are_short_lived(seeded_world: World) -> None:
    kinds = seeded_world.actors.set_index("entity_id")["kind"]
    d = seeded_world.declarations
    span = d.groupby("importer_id")["declared_at"].agg(lambda s: s.max() - s.min())
    span_days = span.dt.total_seconds() / 86_400
    kind = kinds.reindex(span_days.index)
    front = span_days[kind == "front"]
    legit = span_days[kind.isin(["major", "regular"])]
    assert len(front) >= 5
    assert front.median() < 120 < 365 < legit.median()
    first_seen = d.groupby("importer_id")["declared_at"].min()
    assert first_seen[kind == "front"].median() > first_seen[kind == "regular"].median()


def _planned_corridor(d: pd.DataFrame) -> pd.Series:
    return d["origin_country"] + ":" + d["port_of_loading"] + ">" + d["port_of_entry"]


def _endpoints(corridor_id: str) -> str:
    origin, path = corridor_id.split(":")
    ports = path.split(">")
    return f"{origin}:{ports[0]}>{ports[-1]}"


def test_drift_moves_trafficking_as_world_json_says(seeded_world_dir: Path) -> None:
    world = json.loads((seeded_world_dir / "truth" / "world.json").read_text(encoding="utf-8"))
    drift = world["drift"]
    d = pd.read_parquet(seeded_world_dir / "declarations.parquet")
    p = pd.read_parquet(seeded_world_dir / "truth" / "truth.parquet")["p_seizure"]
    corridor = _planned_corridor(d)
    after = d["declared_at"] >= pd.Timestamp(drift["date"])
    assert 0.3 < after.mean() < 0.7

    def share(corridors: list[str], period: pd.Series) -> float:
        on = corridor.isin([_endpoints(c) for c in corridors])
        return float(p[on & period].sum() / p[period].sum())

    old_before, old_after = (
        share(drift["from_corridors"], ~after),
        share(drift["from_corridors"], after),
    )
    new_before, new_after = (
        share(drift["to_corridors"], ~after),
        share(drift["to_corridors"], after),
    )
    assert old_after < 0.5 * old_before
    assert new_after > 2 * new_before
    assert (
        drift["from_share_of_trafficking_before_after"][0]
        > drift["from_share_of_trafficking_before_after"][1]
    )


def test_ports_are_real_locodes_covering_every_reference(seeded_world: World) -> None:
    ports = seeded_world.ports
    assert len(ports) >= 40 and ports["locode"].is_unique
    assert ports["locode"].str.match(LOCODE.pattern).all()
    assert (ports["locode"].str[:2] == ports["country"]).all()
    assert ports["lat"].between(-90, 90).all() and ports["lon"].between(-180, 180).all()
    known = set(ports["locode"])
    d, legs = seeded_world.declarations, seeded_world.route_legs
    used = (
        set(d["port_of_loading"])
        | set(d["port_of_entry"])
        | set(legs["port_from"])
        | set(legs["port_to"])
    )
    assert used <= known


def test_legs_chain_from_loading_to_entry_port(seeded_world: World) -> None:
    legs = seeded_world.route_legs
    d = seeded_world.declarations.set_index("declaration_id")
    first = legs.groupby("declaration_id").first()
    last = legs.groupby("declaration_id").last()
    assert (first["port_from"] == d.loc[first.index, "port_of_loading"]).all()
    assert (last["port_to"] == d.loc[last.index, "port_of_entry"]).all()
    following = legs.groupby("declaration_id")["port_from"].shift(-1)
    chained = following.notna()
    assert (legs.loc[chained, "port_to"] == following[chained]).all()


def test_no_single_observable_explains_the_risk(seeded_world: World) -> None:
    """Risk is spread over actors and corridors: no importer kind or corridor holds most of it."""
    p = seeded_world.truth["p_seizure"]
    d = seeded_world.declarations
    kind = d["importer_id"].map(seeded_world.actors.set_index("entity_id")["kind"])
    by_kind = p.groupby(kind).sum() / p.sum()
    by_origin = p.groupby(d["origin_country"]).sum() / p.sum()
    assert by_kind.max() < 0.6
    assert by_origin.max() < 0.5
    assert by_kind.get("major", 0.0) < 0.05


def test_rules_file_is_the_rule_set_that_chose_inspections(
    seeded_world_dir: Path, seeded_world: World
) -> None:
    rules = load_rules(seeded_world_dir / "rules.toml")
    assert rules == seeded_world.rules
    points = rules.score(seeded_world.declarations)
    inspected = seeded_world.declarations["declaration_id"].isin(
        seeded_world.labels.loc[seeded_world.labels["selected_by"] == "rules", "declaration_id"]
    )
    assert (points[inspected] > 0).all()
    assert points[inspected].mean() > 2 * points.mean()


def test_rewrite_keeps_foreign_files_and_refuses_other_folders(tmp_path: Path) -> None:
    world = generate_world(n_declarations=500, seed=1)
    out = tmp_path / "data"
    write_world(world, out)
    (out / "README.md").write_text("kept", encoding="utf-8")
    write_world(generate_world(n_declarations=500, seed=2), out)
    assert (out / "README.md").read_text(encoding="utf-8") == "kept"
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(UsageError, match=r"declarations\.parquet"):
        write_world(world, other)
    assert (other / "notes.txt").exists()


def test_foreign_layout_holds_inspected_declarations(seeded_world: World, tmp_path: Path) -> None:
    write_foreign_layout(seeded_world, tmp_path)
    frame = pd.read_csv(tmp_path / "declarations.csv", dtype={"tariff.code": str})
    assert tuple(frame.columns) == FOREIGN_COLUMNS
    assert len(frame) == len(seeded_world.labels)
    assert set(frame["illicit"]) <= {0, 1}
    assert frame["illicit"].sum() == seeded_world.labels["seized"].sum()
    assert frame["tariff.code"].str.fullmatch(r"\d{8}").all()
    assert (frame["fob.value"] <= frame["cif.value"]).all()
    assert foreign_layout(seeded_world)["sgd.id"].is_unique


def test_too_small_world_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="n_declarations"):
        generate_world(n_declarations=10, seed=1)
