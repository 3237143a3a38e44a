"""The ``route`` column of flagged.parquet: ports in leg order, ``?`` for a missing port."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.scoring.batch import _routes


def _reference(legs: pd.DataFrame, ids: pd.Series) -> pd.Series:
    """One declaration at a time, as a reader would build it."""
    paths: dict[str, str] = {}
    for decl_id, group in legs.sort_values("leg_seq").groupby("declaration_id"):
        ports = [group["port_from"].iloc[0], *group["port_to"].tolist()]
        paths[str(decl_id)] = ">".join("?" if pd.isna(p) else str(p) for p in ports)
    return pd.Series([paths.get(str(i)) for i in ids], index=ids.index, dtype="str")


def test_routes_follow_leg_order_with_unknown_ports_and_declarations_without_legs() -> None:
    rng = np.random.default_rng(3)
    ids = pd.Series([f"D{i:04d}" for i in range(400)], dtype="str")
    rows = [
        (ids[i], int(seq) + 1, f"P{rng.integers(9)}", f"Q{rng.integers(9)}")
        for i in range(len(ids))
        for seq in rng.permutation(int(rng.integers(0, 5)))
    ]
    legs = pd.DataFrame(rows, columns=["declaration_id", "leg_seq", "port_from", "port_to"])
    legs.loc[rng.random(len(legs)) < 0.1, "port_to"] = None
    legs.loc[rng.random(len(legs)) < 0.1, "port_from"] = None
    legs = legs.astype({"declaration_id": "str", "port_from": "str", "port_to": "str"})
    asked = ids.sample(250, random_state=4)
    asked.index = np.arange(7, 7 + len(asked))
    got = _routes(legs, asked)
    pd.testing.assert_series_equal(got, _reference(legs, asked))
    assert got.isna().any() and got.str.contains(r"\?", regex=True).any()
    assert _routes(None, asked).isna().all()


def test_legs_by_id_gives_what_an_isin_over_every_leg_gives() -> None:
    from features.lookup import isin
    from riskmodel.scoring.batch import _LegsById

    rng = np.random.default_rng(8)
    ids = [f"D{i:03d}" for i in rng.integers(0, 60, 500)]
    legs = pd.DataFrame(
        {"declaration_id": ids, "leg_seq": rng.integers(1, 4, 500), "port_to": "X"}
    ).astype({"declaration_id": "str"})
    legs.loc[[3, 40], "declaration_id"] = None
    grouped = _LegsById(legs)
    for asked in (
        pd.Series(["D001", "D007", "D001", "nope", "D059"], dtype="str"),
        pd.Series([], dtype="str"),
        pd.Series(sorted(set(ids)), dtype="str"),
    ):
        pd.testing.assert_frame_equal(grouped.of(asked), legs[isin(legs["declaration_id"], asked)])
