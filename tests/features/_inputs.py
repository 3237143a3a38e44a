"""Tiny hand-written input files for the contract and reader tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"
BACUDA_MAPPING = REPO / "experiments" / "mappings" / "bacuda.toml"

DECLARATIONS_HEADER = (
    "declaration_id,declared_at,importer_id,hs_code,origin_country,port_of_entry,"
    "transport_mode,gross_weight_kg,declared_value_usd"
)

#: three valid declarations; rows are 1-based data rows in the tests (header not counted).
GOOD_ROWS = (
    "D1,2023-01-02T10:00:00,IMP1,0801100000,CO,NLRTM,sea,1200.5,5000",
    "D2,2023-01-03 11:30:00,IMP2,090111,EC,BEANR,air,0,12.25",
    "D3,2023-01-04,IMP1,84834090,,,,,",
)


def write(path: Path, text: str) -> Path:
    """Write UTF-8 text (creating the folder) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def declarations_csv(folder: Path, *rows: str, header: str = DECLARATIONS_HEADER) -> Path:
    """``folder/declarations.csv`` with the given data rows (the good rows when none given)."""
    body = rows or GOOD_ROWS
    return write(folder / "declarations.csv", "\n".join([header, *body]) + "\n")


def good_declarations() -> pd.DataFrame:
    """The good rows as a typed frame (as the reader must return them)."""
    return pd.DataFrame(
        {
            "declaration_id": pd.Series(["D1", "D2", "D3"], dtype="str"),
            "declared_at": pd.to_datetime(
                ["2023-01-02 10:00:00", "2023-01-03 11:30:00", "2023-01-04 00:00:00"]
            ).astype("datetime64[us]"),
            "importer_id": pd.Series(["IMP1", "IMP2", "IMP1"], dtype="str"),
            "hs_code": pd.Series(["0801100000", "090111", "84834090"], dtype="str"),
            "origin_country": pd.Series(["CO", "EC", None], dtype="str"),
            "port_of_entry": pd.Series(["NLRTM", "BEANR", None], dtype="str"),
            "transport_mode": pd.Series(["sea", "air", None], dtype="str"),
            "gross_weight_kg": [1200.5, 0.0, float("nan")],
            "declared_value_usd": [5000.0, 12.25, float("nan")],
        }
    )
