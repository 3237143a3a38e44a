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
from riskmodel.world.generate import MO_SHARE, MODUS_OPERANDI, NEIGHBOUR_CODES
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
    assert list(truth.columns) == ["declaration_id", "p_seizure", "seized_truth", "modus_operandi"]
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


def _kind(world: World) -> pd.Series:
    kinds = world.actors.set_index("entity_id")["kind"]
    return world.declarations["importer_id"].map(kinds)


def test_every_modus_operandi_is_present_with_its_stated_share(seeded_world: World) -> None:
    truth = seeded_world.truth
    p = truth["p_seizure"].to_numpy()
    p_share = pd.Series(p).groupby(truth["modus_operandi"].to_numpy()).sum() / p.sum()
    assert set(p_share.index) == set(MODUS_OPERANDI)
    for mo, target in MO_SHARE.items():
        assert abs(p_share[mo] - target) < 0.05, mo
    recorded = seeded_world.params["modus_operandi"]
    assert set(recorded) == set(MODUS_OPERANDI)
    assert recorded["rip_on"]["share_of_seizures"] >= 0.15
    assert sum(v["declarations"] for v in recorded.values()) == len(truth)


def test_rip_on_loads_ride_on_legitimate_importers_and_leave_their_methods_trace(
    seeded_world: World,
) -> None:
    d, truth = seeded_world.declarations, seeded_world.truth
    rip = (truth["modus_operandi"] == "rip_on").to_numpy()
    assert rip.sum() > 50
    assert not _kind(seeded_world)[rip].isin(["front"]).any()
    assert (d.loc[rip, "transport_mode"] == "sea").all()
    # spread: no single entry port or HS code holds most of the rip-on risk
    p = truth["p_seizure"].to_numpy()
    by_port = pd.Series(p[rip]).groupby(d.loc[rip, "port_of_entry"].to_numpy()).sum()
    by_hs = pd.Series(p[rip]).groupby(d.loc[rip, "hs_code"].to_numpy()).sum()
    assert by_port.max() / by_port.sum() < 0.5 and by_hs.max() / by_hs.sum() < 0.5
    # each lane's method leaves its own trace (world.json names every corridor's method)
    method_of = {
        _endpoints(c): v["rip_method"] for c, v in seeded_world.params["corridors"].items()
    }
    method = _planned_corridor(d).map(method_of).to_numpy()
    by_sea = rip & (method == "transshipment")
    in_goods = rip & (method == "in_goods")
    assert by_sea.sum() > 50 and in_goods.sum() > 50
    # a transshipment's voyage: riskier loads have more AIS gaps
    legs = seeded_world.route_legs
    per = legs.groupby("declaration_id").agg(
        gap=("ais_gap_hours", lambda s: float((s > 0).any())), n=("leg_seq", "size")
    )
    gap = per.reindex(d.loc[by_sea, "declaration_id"])["gap"].to_numpy()
    high = p[by_sea] >= np.quantile(p[by_sea], 0.8)
    assert gap[high].mean() > gap[~high].mean()
    # a load hidden inside the goods: riskier loads are declared cheaper than their HS code's
    # usual value per kg
    per_kg = d["declared_value_usd"] / d["gross_weight_kg"].where(d["gross_weight_kg"] > 0)
    relative = (per_kg / per_kg.groupby(d["hs_code"]).transform("median")).to_numpy()
    high = p[in_goods] >= np.quantile(p[in_goods], 0.8)
    assert np.nanmedian(relative[in_goods][high]) < 0.8 * np.nanmedian(relative[in_goods][~high])


def test_fronts_include_sleepers_and_old_shells_and_legit_newcomers_are_common(
    seeded_world: World,
) -> None:
    d, truth = seeded_world.declarations, seeded_world.truth
    kind = _kind(seeded_world)
    first = d.groupby("importer_id")["declared_at"].transform("min")
    age_days = (d["declared_at"] - first).dt.total_seconds() / 86_400
    front_load = (truth["modus_operandi"] == "front").to_numpy()
    assert front_load.sum() > 20
    # some front loads come after months of clean trading (sleepers)
    assert (age_days[front_load] > 90).mean() > 0.1
    # a front's clean phase carries no front risk: its first declarations are clean
    front_rows = (kind == "front").to_numpy()
    assert truth.loc[front_rows & (age_days < 1).to_numpy(), "modus_operandi"].ne("front").any()
    # young importers are mostly legitimate newcomers, not fronts
    young = (age_days < 90).to_numpy() & kind.isin(["newcomer", "front"]).to_numpy()
    assert (kind[young] == "newcomer").mean() > 0.5
    assert seeded_world.params["entities"]["sleeper_fronts"] >= 1


def test_hijacked_loads_change_the_importers_usual_trade(seeded_world: World) -> None:
    d, truth = seeded_world.declarations, seeded_world.truth
    hij = (truth["modus_operandi"] == "hijacked").to_numpy()
    assert hij.sum() >= 5
    assert _kind(seeded_world)[hij].isin(["major", "regular", "cash", "evader"]).all()
    usual = d.loc[~hij].groupby("importer_id")["origin_country"].agg(lambda s: s.mode().iloc[0])
    changed = (
        d.loc[hij, "origin_country"].to_numpy()
        != usual.reindex(d.loc[hij, "importer_id"]).to_numpy()
    )
    assert changed.mean() > 0.5


def test_precursors_sit_in_chemical_codes_and_small_parcels(seeded_world: World) -> None:
    d, truth = seeded_world.declarations, seeded_world.truth
    pre = (truth["modus_operandi"] == "precursor").to_numpy()
    assert pre.sum() > 20
    assert d.loc[pre, "hs_code"].str.startswith("29").all()
    assert d.loc[pre, "hs_code"].isin(NEIGHBOUR_CODES).any()
    assert d.loc[pre, "transport_mode"].isin(["post", "air"]).any()
    # legitimate chemical trade is common: most chapter-29 declarations are not loads
    chem = d["hs_code"].str.startswith("29").to_numpy()
    assert truth.loc[chem, "p_seizure"].median() < 0.1


def test_complicit_brokers_have_a_mostly_legitimate_book(seeded_world: World) -> None:
    d, truth = seeded_world.declarations, seeded_world.truth
    kinds = seeded_world.actors.set_index("entity_id")["kind"]
    complicit = d["declarant_id"].map(kinds).eq("complicit").to_numpy()
    assert complicit.any()
    client_kind = _kind(seeded_world)[complicit]
    assert client_kind.isin(["major", "regular", "cash", "newcomer", "evader"]).mean() > 0.6
    assert (truth.loc[complicit, "modus_operandi"] == "insider").any()


def test_financial_flags_are_noisy(seeded_world: World) -> None:
    flags = seeded_world.financial_flags
    kinds = seeded_world.actors.set_index("entity_id")["kind"]
    flagged_kind = flags["entity_id"].map(kinds)
    importers = flagged_kind.isin(["major", "regular", "cash", "newcomer", "evader", "front"])
    # most importer flags fall on legitimate traders
    assert (flagged_kind[importers] != "front").mean() > 0.7
    # a front is flagged a few times more often than a regular trader, not a hundred
    n = seeded_world.actors.loc[seeded_world.actors["role"] == "importer", "kind"].value_counts()
    per = flagged_kind[importers].value_counts() / n
    assert 1.5 < per["front"] / per["regular"] < 20
    # many of a front's flags arrive after its last declaration
    d = seeded_world.declarations
    last = d.groupby("importer_id")["declared_at"].max()
    front_flags = flags[(flagged_kind == "front").to_numpy()]
    late = front_flags["flagged_at"].to_numpy() > last.reindex(front_flags["entity_id"]).to_numpy()
    assert late.mean() > 0.2


def _planned_corridor(d: pd.DataFrame) -> pd.Series:
    return d["origin_country"] + ":" + d["port_of_loading"] + ">" + d["port_of_entry"]


def _endpoints(corridor_id: str) -> str:
    origin, path = corridor_id.split(":")
    ports = path.split(">")
    return f"{origin}:{ports[0]}>{ports[-1]}"


def test_displacements_move_risk_as_world_json_says(seeded_world_dir: Path) -> None:
    world = json.loads((seeded_world_dir / "truth" / "world.json").read_text(encoding="utf-8"))
    events = world["displacements"]
    assert len(events) == 2
    d = pd.read_parquet(seeded_world_dir / "declarations.parquet")
    p = pd.read_parquet(seeded_world_dir / "truth" / "truth.parquet")["p_seizure"]
    corridor = _planned_corridor(d)
    dates = [pd.Timestamp(e["date"]) for e in events]
    end = d["declared_at"].max()
    assert dates[0] < dates[1] and end - pd.Timedelta(days=120) < dates[1] < end
    for k, event in enumerate(events):
        lo = dates[k - 1] if k else d["declared_at"].min()
        hi = dates[k + 1] if k + 1 < len(events) else end
        before = (d["declared_at"] >= lo) & (d["declared_at"] < dates[k])
        after = (d["declared_at"] >= dates[k]) & (d["declared_at"] <= hi)

        def share(corridors: list[str], period: pd.Series) -> float:
            on = corridor.isin([_endpoints(c) for c in corridors])
            return float(p[on & period].sum() / p[period].sum())

        gain = event["gaining_corridors"]
        lose = event["losing_corridors"]
        assert share(gain, after) > 1.5 * share(gain, before), event["event"]
        assert share(lose, after) < 0.7 * share(lose, before), event["event"]


def test_truth_never_changes_a_feature(seeded_world_dir: Path, tmp_path: Path) -> None:
    """Features are identical whether or not truth/ exists beside the sources."""
    import shutil

    from features.io import read_sources
    from features.table import build_table

    bare = tmp_path / "bare"
    shutil.copytree(seeded_world_dir, bare, ignore=shutil.ignore_patterns("truth"))
    assert not (bare / "truth").exists()
    with_truth = build_table(read_sources(seeded_world_dir).sources)
    without = build_table(read_sources(bare).sources)
    pd.testing.assert_frame_equal(with_truth, without)
    truth_columns = {"p_seizure", "seized_truth", "modus_operandi"}
    assert not truth_columns & set(with_truth.columns)


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
    """Risk is spread over actors and origins: no importer kind or origin holds most of it."""
    p = seeded_world.truth["p_seizure"]
    d = seeded_world.declarations
    kind = d["importer_id"].map(seeded_world.actors.set_index("entity_id")["kind"])
    by_kind = p.groupby(kind).sum() / p.sum()
    by_origin = p.groupby(d["origin_country"]).sum() / p.sum()
    assert by_kind.max() < 0.6
    assert by_origin.max() < 0.5
    assert by_kind.get("front", 0.0) < 0.4


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
