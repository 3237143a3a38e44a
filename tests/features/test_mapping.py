"""Mapping files: loading errors name the key; a foreign (BACUDA) layout reads onto the contract."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from _inputs import BACUDA_MAPPING, write

from features.errors import ContractError, MappingError
from features.io import read_sources, validate_dir
from features.mapping import CsvFormat, LabelMapping, Mapping, load_mapping
from riskmodel.world import World, write_foreign_layout

BACUDA_HEADER = (
    "sgd.id,sgd.date,importer.id,declarant.id,country,office.id,tariff.code,quantity,"
    "gross.weight,fob.value,cif.value,total.taxes,illicit"
)
BACUDA_ROWS = (
    "S1,2021-03-01,IMP-1,DEC-9,CO,OF-01,0803901000,100,2400.0,930,1000,210.5,0",
    "S2,2021-03-02 14:00:00,IMP-2,DEC-9,EC,OF-02,090111,50,900,465,500,105,1",
)


def _bacuda(folder: Path, *rows: str, header: str = BACUDA_HEADER) -> Path:
    return write(folder / "declarations.csv", "\n".join([header, *(rows or BACUDA_ROWS)]) + "\n")


def _mapping(tmp_path: Path, text: str) -> Path:
    return write(tmp_path / "mapping.toml", text)


MINIMAL = """
[columns]
declaration_id = "id"
declared_at = "date"
importer_id = "imp"
hs_code = "hs"
"""


def test_bacuda_example_mapping_loads() -> None:
    mapping = load_mapping(BACUDA_MAPPING)
    assert mapping.columns["declaration_id"] == "sgd.id"
    assert mapping.columns["hs_code"] == "tariff.code"
    assert mapping.labels == LabelMapping(seized="illicit", all_inspected=True)
    assert mapping.extra_categorical == ("office.id",)
    assert mapping.extra_numeric == ("total.taxes", "fob.value")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (MINIMAL + "[colums]\nx = 'y'\n", "colums"),
        (MINIMAL + "weight = 'w'\n", "columns.weight"),
        (MINIMAL + "[format]\ndelimiter = ';;'\n", "format.delimiter"),
        (MINIMAL + "[format]\ndelimiter = '\"'\n", "format.delimiter"),
        (MINIMAL + "[format]\ndecimal = ';'\n", "format.decimal"),
        (MINIMAL + "[format]\ndecimal = ','\n", "format.decimal"),
        (MINIMAL + "[format]\nencoding = 'klingon'\n", "format.encoding"),
        (MINIMAL + "[format]\nencoding = 'base64'\n", "format.encoding"),
        (MINIMAL + '[format]\nquote = "\'"\n', "format.quote"),
        (MINIMAL.replace('"imp"', "3"), "columns.importer_id"),
        (MINIMAL + "[labels]\nseized = 'y'\nall_inspected = 'yes'\n", "labels.all_inspected"),
        (MINIMAL + "[labels]\nall_inspected = true\n", "labels.seized"),
        (
            MINIMAL + "[labels]\nseized = 'y'\nall_inspected = true\nlabel_delay_days = true\n",
            "labels.label_delay_days",
        ),
        (MINIMAL + "[labels]\nseized = 'y'\nall_inspected = true\ndelay = 3\n", "labels.delay"),
        (MINIMAL + "[extra]\ncategorical = 'office'\n", "extra.categorical"),
        (MINIMAL + "[extra]\nnumbers = ['x']\n", "extra.numbers"),
        (MINIMAL + "[extra]\ncategorical = ['hs_code']\n", "extra.categorical"),
    ],
)
def test_mapping_errors_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(MappingError, match=key.replace(".", r"\.")) as caught:
        load_mapping(_mapping(tmp_path, text))
    assert str(tmp_path / "mapping.toml") in str(caught.value)
    assert caught.value.exit_code == 3


def test_format_section_alone_is_a_mapping_for_the_contract_layout(tmp_path: Path) -> None:
    text = '[format]\ndelimiter = "\\t"\ndecimal = ","\nencoding = "CP1252"\n'
    mapping = load_mapping(_mapping(tmp_path, text))
    assert mapping.columns == {} and mapping.labels is None
    assert mapping.format == CsvFormat(delimiter="\t", decimal=",", encoding="cp1252")
    assert load_mapping(BACUDA_MAPPING).format == CsvFormat()
    with pytest.raises(MappingError, match="empty mapping"):
        load_mapping(_mapping(tmp_path, "# nothing\n"))


def test_invalid_toml_is_a_mapping_error(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="not valid TOML"):
        load_mapping(_mapping(tmp_path, "[columns\n"))
    with pytest.raises(MappingError, match="cannot read"):
        load_mapping(tmp_path / "absent.toml")


def test_bacuda_csv_with_the_mapping_yields_contract_frames_labels_and_extras(
    tmp_path: Path,
) -> None:
    _bacuda(tmp_path)
    result = read_sources(tmp_path, mapping=load_mapping(BACUDA_MAPPING))
    assert result.problems == [] and result.notices == []
    d = result.sources.declarations
    assert list(d.columns) == [
        "declaration_id",
        "declared_at",
        "importer_id",
        "declarant_id",
        "hs_code",
        "origin_country",
        "quantity",
        "gross_weight_kg",
        "declared_value_usd",
        "office.id",
        "total.taxes",
        "fob.value",
    ]
    assert d["hs_code"].tolist() == ["0803901000", "090111"]
    assert d["declared_value_usd"].tolist() == [1000.0, 500.0]
    assert d["office.id"].dtype == "str" and d["total.taxes"].dtype == "float64"
    assert result.sources.extra_categorical == ("office.id",)
    assert result.sources.extra_numeric == ("total.taxes", "fob.value")
    labels = result.sources.labels
    assert labels is not None
    assert labels["declaration_id"].tolist() == ["S1", "S2"]
    assert labels["inspected"].tolist() == [True, True]
    assert labels["seized"].dtype == "boolean" and labels["seized"].tolist() == [False, True]
    assert labels["inspected_at"].tolist() == [
        pd.Timestamp("2021-03-15"),
        pd.Timestamp("2021-03-16 14:00:00"),
    ]
    assert "labels" not in result.sources.files


def test_bad_label_and_extra_values_are_row_problems_naming_the_source_column(
    tmp_path: Path,
) -> None:
    _bacuda(
        tmp_path,
        BACUDA_ROWS[0],
        "S2,2021-03-02,IMP-2,DEC-9,EC,OF-02,090111,50,-9,465,500,lots,maybe",
        "S3,2021-03-02,IMP-2,DEC-9,EC,OF-02,090111,50,9,465,500,1,",
    )
    result = read_sources(tmp_path, mapping=load_mapping(BACUDA_MAPPING))
    found = {(p.row, p.column): p.reason for p in result.problems}
    assert found == {
        (2, "gross.weight (gross_weight_kg)"): "must be >= 0, found -9.0",
        (2, "total.taxes"): "must be a number, found 'lots'",
        (2, "illicit (seized)"): "must be true or false (or 1/0, yes/no), found 'maybe'",
        (3, "illicit (seized)"): "must be true or false when inspected is true, found null",
    }
    assert result.sources.declarations["declaration_id"].tolist() == ["S1"]
    assert result.sources.labels is not None
    assert result.sources.labels["declaration_id"].tolist() == ["S1"]


def test_selection_biased_mapping_takes_inspected_from_the_outcome(tmp_path: Path) -> None:
    _bacuda(tmp_path, BACUDA_ROWS[0], BACUDA_ROWS[1].removesuffix("1"))
    text = BACUDA_MAPPING.read_text().replace("all_inspected = true", "all_inspected = false")
    result = read_sources(tmp_path, mapping=load_mapping(_mapping(tmp_path / "m", text)))
    assert result.problems == []
    labels = result.sources.labels
    assert labels is not None
    assert labels["inspected"].tolist() == [True, False]
    assert labels["inspected_at"].isna().tolist() == [False, True]


def test_mapped_column_missing_names_both_names(tmp_path: Path) -> None:
    _bacuda(tmp_path, header=BACUDA_HEADER.replace("tariff.code", "tariff"))
    with pytest.raises(ContractError) as caught:
        read_sources(tmp_path, mapping=load_mapping(BACUDA_MAPPING))
    message = str(caught.value)
    assert "'tariff.code'" in message and "'hs_code'" in message
    assert "declarations.csv" in message


def test_label_columns_may_be_absent_at_scoring_time(tmp_path: Path) -> None:
    header = BACUDA_HEADER.removesuffix(",illicit")
    _bacuda(tmp_path, *(r.rsplit(",", 1)[0] for r in BACUDA_ROWS), header=header)
    mapping = load_mapping(BACUDA_MAPPING)
    with pytest.raises(ContractError, match="label column 'illicit'"):
        read_sources(tmp_path, mapping=mapping)
    result = read_sources(tmp_path, mapping=mapping, require_labels=False)
    assert result.problems == [] and result.sources.labels is None
    assert validate_dir(tmp_path, mapping=mapping).problems == []


def test_labels_file_and_mapped_labels_conflict(tmp_path: Path) -> None:
    _bacuda(tmp_path)
    write(tmp_path / "labels.csv", "declaration_id,inspected,seized,inspected_at\n")
    with pytest.raises(ContractError, match=r"labels\.csv: the mapping takes labels"):
        read_sources(tmp_path, mapping=load_mapping(BACUDA_MAPPING))


def test_unmapped_columns_are_dropped_with_a_notice_and_contract_names_are_kept(
    tmp_path: Path,
) -> None:
    """The file's ``quantity`` is a contract name: used although the mapping does not name it."""
    _bacuda(tmp_path)
    mapping = Mapping(
        columns={
            "declaration_id": "sgd.id",
            "declared_at": "sgd.date",
            "importer_id": "importer.id",
            "hs_code": "tariff.code",
        }
    )
    result = read_sources(tmp_path, mapping=mapping)
    assert list(result.sources.declarations.columns) == [
        "declaration_id",
        "declared_at",
        "importer_id",
        "hs_code",
        "quantity",
    ]
    assert result.sources.declarations["quantity"].tolist() == [100.0, 50.0]
    assert result.sources.labels is None
    assert result.notices == [
        f"{tmp_path / 'declarations.csv'}: ignored 8 column(s) not in the contract or the "
        "mapping: declarant.id, country, office.id, gross.weight, fob.value, cif.value, "
        "total.taxes, illicit"
    ]


def test_a_mapped_source_column_wins_over_a_contract_named_one(tmp_path: Path) -> None:
    header = BACUDA_HEADER.replace("fob.value", "declared_value_usd")
    _bacuda(tmp_path, header=header)
    mapping = load_mapping(BACUDA_MAPPING)
    mapping = Mapping(columns=mapping.columns, labels=mapping.labels, path=BACUDA_MAPPING)
    result = read_sources(tmp_path, mapping=mapping)
    assert result.sources.declarations["declared_value_usd"].tolist() == [1000.0, 500.0]
    assert (
        f"{tmp_path / 'declarations.csv'}: column 'declared_value_usd' not used: the mapping in "
        f"{BACUDA_MAPPING} reads contract column 'declared_value_usd' from 'cif.value'"
    ) in result.notices


def test_one_source_column_may_feed_two_contract_columns(tmp_path: Path) -> None:
    _bacuda(tmp_path)
    base = load_mapping(BACUDA_MAPPING)
    mapping = Mapping(columns={**base.columns, "export_country": "country"}, labels=base.labels)
    declarations = read_sources(tmp_path, mapping=mapping).sources.declarations
    assert declarations["export_country"].tolist() == declarations["origin_country"].tolist()
    assert declarations["export_country"].tolist() == ["CO", "EC"]


def test_categorical_extras_follow_the_whitespace_policy_of_codes(tmp_path: Path) -> None:
    _bacuda(tmp_path, BACUDA_ROWS[0].replace(",OF-01,", ",OF-01 ,"), BACUDA_ROWS[1])
    result = read_sources(tmp_path, mapping=load_mapping(BACUDA_MAPPING))
    assert result.problems == []
    assert result.sources.declarations["office.id"].tolist() == ["OF-01", "OF-02"]
    assert result.notices == [
        f"{tmp_path / 'declarations.csv'}: column 'office.id': removed surrounding whitespace "
        "from 1 value(s) (first at row 1: 'OF-01 ')"
    ]


def test_generated_foreign_layout_validates_with_the_mapping(
    seeded_world: World, tmp_path: Path
) -> None:
    write_foreign_layout(seeded_world, tmp_path)
    result = validate_dir(tmp_path, mapping=load_mapping(BACUDA_MAPPING))
    assert result.problems == [], result.problems[:5]
    inspected = len(seeded_world.labels)
    assert len(result.sources.declarations) == inspected
    labels = result.sources.labels
    assert labels is not None
    assert int(labels["seized"].sum()) == int(seeded_world.labels["seized"].fillna(False).sum())
