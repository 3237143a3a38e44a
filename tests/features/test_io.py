"""The strict reader: every bad input of issue 2 gets its documented error, nothing is lost."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _inputs import (
    DECLARATIONS_HEADER,
    GOOD_ROWS,
    SAMPLE,
    declarations_csv,
    good_declarations,
    write,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.errors import ContractError, MappingError, Problem, RowProblemsError
from features.io import read_source, read_sources, validate_dir
from features.mapping import CsvFormat, Mapping, load_mapping


def _only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


# ----------------------------------------------------------------------------- good input


def test_good_csv_is_typed_as_the_architecture_says(tmp_path: Path) -> None:
    path = declarations_csv(tmp_path)
    result = read_source(path, "declarations")
    assert result.problems == [] and result.rejected.empty
    pd.testing.assert_frame_equal(result.frame, good_declarations())
    assert result.frame.index.tolist() == [0, 1, 2]


def test_hs_code_keeps_its_leading_zero_from_csv_and_parquet(tmp_path: Path) -> None:
    from_csv = read_source(declarations_csv(tmp_path / "csv"), "declarations").frame
    parquet = tmp_path / "pq" / "declarations.parquet"
    parquet.parent.mkdir()
    good_declarations().to_parquet(parquet, index=False)
    from_parquet = read_source(parquet, "declarations").frame
    assert from_csv.loc[0, "hs_code"] == "0801100000"
    assert from_parquet.loc[0, "hs_code"] == "0801100000"
    pd.testing.assert_frame_equal(from_csv, from_parquet)


def test_timestamps_with_offsets_become_naive_utc(tmp_path: Path) -> None:
    path = declarations_csv(
        tmp_path,
        "D1,2023-01-02T10:00:00+02:00,I,080110,,,,,",
        "D2,2023-01-02T10:00:00Z,I,080110,,,,,",
    )
    frame = read_source(path, "declarations").frame
    assert frame["declared_at"].dtype == "datetime64[us]"
    assert frame["declared_at"].tolist() == [
        pd.Timestamp("2023-01-02 08:00:00"),
        pd.Timestamp("2023-01-02 10:00:00"),
    ]
    parquet = tmp_path / "declarations.parquet"
    aware = pd.DataFrame(
        {
            "declaration_id": ["D1"],
            "declared_at": pd.to_datetime(["2023-01-02 10:00:00+02:00"]),
            "importer_id": ["I"],
            "hs_code": ["080110"],
        }
    )
    aware.to_parquet(parquet, index=False)
    assert read_source(parquet, "declarations").frame["declared_at"].tolist() == [
        pd.Timestamp("2023-01-02 08:00:00")
    ]


# ----------------------------------------------------------------------------- row problems


def test_unparseable_date_names_row_and_column(tmp_path: Path) -> None:
    path = declarations_csv(tmp_path, GOOD_ROWS[0], "D2,02/01/2023,I,080110,,,,,")
    result = read_source(path, "declarations")
    assert _only(result.problems) == Problem(
        str(path), 2, "declared_at", "must be an ISO 8601 timestamp, found '02/01/2023'"
    )
    assert result.frame["declaration_id"].tolist() == ["D1"]


def test_negative_weight_is_a_row_problem_and_zero_is_not(tmp_path: Path) -> None:
    path = declarations_csv(tmp_path, GOOD_ROWS[1], "D9,2023-01-01,I,080110,CO,,,-3.5,")
    result = read_source(path, "declarations")
    problem = _only(result.problems)
    assert (problem.row, problem.column) == (2, "gross_weight_kg")
    assert problem.reason == "must be >= 0, found -3.5"
    assert str(problem) == f"{path}: row 2: column 'gross_weight_kg': must be >= 0, found -3.5"


@pytest.mark.parametrize("value", ["12kg", "nan", "1 2", "1,234.5", "inf"])
def test_numbers_are_never_coerced(tmp_path: Path, value: str) -> None:
    path = declarations_csv(tmp_path, f'D1,2023-01-01,I,080110,,,,"{value}",')
    problem = _only(read_source(path, "declarations").problems)
    assert (problem.row, problem.column) == (1, "gross_weight_kg")
    assert problem.reason == f"must be a number, found {value!r}"


def test_a_decimal_comma_without_format_is_refused_with_the_setting_to_use(
    tmp_path: Path,
) -> None:
    path = declarations_csv(tmp_path, 'D1,2023-01-01,I,080110,,,,"1,5",')
    problem = _only(read_source(path, "declarations").problems)
    assert (problem.row, problem.column) == (1, "gross_weight_kg")
    assert problem.reason.startswith("must be a number, found '1,5'; ")
    assert 'set decimal = "," in the [format] section of a mapping' in problem.reason


def test_hs_code_with_letters_is_a_row_problem(tmp_path: Path) -> None:
    path = declarations_csv(tmp_path, GOOD_ROWS[0], GOOD_ROWS[1], "D3,2023-01-01,I,08O110,,,,,")
    problem = _only(read_source(path, "declarations").problems)
    assert (problem.row, problem.column) == (3, "hs_code")
    assert "found '08O110'" in problem.reason


def test_duplicate_declaration_id_names_the_first_row(tmp_path: Path) -> None:
    declarations_csv(tmp_path, *GOOD_ROWS, "D2,2023-01-05,I,080110,,,,,")
    result = read_sources(tmp_path)
    problem = _only(result.problems)
    assert (problem.row, problem.column) == (4, "declaration_id")
    assert problem.reason == "duplicate value 'D2', first seen at row 2"
    assert result.sources.declarations["declaration_id"].tolist() == ["D1", "D2", "D3"]
    rejected = result.rejected["declarations"]
    assert rejected["row"].tolist() == [4]
    assert rejected["reason"].tolist() == [f"column 'declaration_id': {problem.reason}"]


def test_labels_and_legs_must_point_to_valid_declarations(tmp_path: Path) -> None:
    declarations_csv(tmp_path, *GOOD_ROWS, "D4,2023-01-05,I,080110,,,,-1,")
    write(
        tmp_path / "labels.csv",
        "declaration_id,inspected,seized,inspected_at\n"
        "D1,true,false,2023-01-10\n"
        "D9,true,true,2023-01-10\n"
        "D4,1,0,2023-01-10\n"
        "D1,yes,no,2023-01-11\n"
        "D2,false,,\n",
    )
    write(
        tmp_path / "route_legs.csv",
        "declaration_id,leg_seq,port_from,port_to,departed_at,arrived_at\n"
        "D1,1,COBUN,NLRTM,2023-01-01,2023-01-02\n"
        "D1,x,COBUN,NLRTM,2023-01-01,2023-01-02\n",
    )
    result = read_sources(tmp_path)
    where = {(Path(p.file).name, p.row, p.column) for p in result.problems}
    assert where == {
        ("declarations.csv", 4, "gross_weight_kg"),
        ("labels.csv", 2, "declaration_id"),
        ("labels.csv", 3, "declaration_id"),
        ("labels.csv", 4, "declaration_id"),
        ("route_legs.csv", 2, "leg_seq"),
    }
    reasons = {(Path(p.file).name, p.row): p.reason for p in result.problems}
    assert reasons[("labels.csv", 2)] == "declaration 'D9' is not among the declarations"
    assert reasons[("labels.csv", 3)] == "declaration 'D4' was rejected in the declarations file"
    assert reasons[("labels.csv", 4)] == "duplicate value 'D1', first seen at row 1"
    assert reasons[("route_legs.csv", 2)] == "must be an integer, found 'x'"
    labels = result.sources.labels
    assert labels is not None
    assert labels["inspected"].tolist() == [True, False]
    assert labels["seized"].dtype == "boolean" and labels["seized"].isna().tolist() == [False, True]
    assert result.sources.route_legs is not None
    assert result.sources.route_legs["leg_seq"].dtype == "Int64"


def test_raise_on_problems_refuses_bad_rows(tmp_path: Path) -> None:
    declarations_csv(tmp_path, GOOD_ROWS[0], "D2,2023-01-01,I,080110,,,,-1,")
    result = read_sources(tmp_path)
    with pytest.raises(RowProblemsError, match="row 2: column 'gross_weight_kg'") as caught:
        result.raise_on_problems()
    assert caught.value.exit_code == 3
    assert "1 rows read" not in result.summary()
    assert "declarations (declarations.csv): 2 rows read, 1 valid, 1 rejected" in result.summary()
    read_sources(declarations_csv(tmp_path / "ok").parent).raise_on_problems()


# ----------------------------------------------------------------------------- file level


def test_missing_required_column_is_a_contract_error(tmp_path: Path) -> None:
    header = DECLARATIONS_HEADER.replace("hs_code,", "")
    path = declarations_csv(tmp_path, "D1,2023-01-01,I,,,,,", header=header)
    with pytest.raises(
        ContractError, match=r"declarations\.csv: missing required column.*'hs_code'"
    ):
        read_sources(tmp_path)
    assert ContractError.exit_code == 3
    assert path.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty file"),
        ("\n", "empty file"),
        (DECLARATIONS_HEADER + "\n", "no data rows"),
    ],
)
def test_empty_declarations_are_a_contract_error(tmp_path: Path, text: str, expected: str) -> None:
    write(tmp_path / "declarations.csv", text)
    with pytest.raises(ContractError, match=expected):
        read_sources(tmp_path)


def test_header_only_optional_source_is_fine(tmp_path: Path) -> None:
    declarations_csv(tmp_path)
    write(tmp_path / "financial_flags.csv", "flag_id,entity_id,flagged_at\n")
    result = read_sources(tmp_path)
    assert result.problems == []
    assert result.sources.financial_flags is not None and result.sources.financial_flags.empty


def test_truncated_parquet_is_a_contract_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "declarations.parquet"
    good_declarations().to_parquet(path, index=False)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) * 2 // 3])
    with pytest.raises(ContractError, match=r"declarations\.parquet: cannot be read as Parquet"):
        read_sources(tmp_path)


def test_hs_code_stored_as_integer_in_parquet_is_a_contract_error(tmp_path: Path) -> None:
    path = tmp_path / "declarations.parquet"
    good_declarations().assign(hs_code=[801100000, 90111, 84834090]).to_parquet(path, index=False)
    with pytest.raises(ContractError) as caught:
        read_sources(tmp_path)
    message = str(caught.value)
    assert "declarations.parquet" in message and "'hs_code'" in message
    assert "must be stored as text (string), found int64" in message


def test_non_utf8_csv_names_byte_and_line(tmp_path: Path) -> None:
    text = "\n".join([DECLARATIONS_HEADER, GOOD_ROWS[0], "D2,2023-01-01,Café SA,080110,,,,,"])
    path = tmp_path / "declarations.csv"
    path.write_bytes(text.encode("latin-1"))
    position = text.encode("latin-1").index(b"\xe9")
    with pytest.raises(ContractError) as caught:
        read_sources(tmp_path)
    message = str(caught.value)
    assert str(path) in message
    assert f"not valid UTF-8 at byte {position} (line 3)" in message
    assert "0xe9" in message


def test_row_with_too_many_fields_is_a_contract_error_naming_the_row(tmp_path: Path) -> None:
    declarations_csv(tmp_path, GOOD_ROWS[0], GOOD_ROWS[1] + ",surplus")
    with pytest.raises(ContractError, match=r"row 2 has 10 fields, expected 9"):
        read_sources(tmp_path)


def test_wrong_field_count_names_the_data_row_in_a_large_file(tmp_path: Path) -> None:
    # many blocks of a threaded read, a quoted line break before the bad rows (a field's
    # line break does not start a row), one row short and a later one long
    header = DECLARATIONS_HEADER + ",goods_description"
    rows = [
        f"D{i},2023-01-02T10:00:00,IMP1,0801100000,CO,NLRTM,sea,1200.5,5000,fruit"
        for i in range(60_000)
    ]
    rows[2] = rows[2].replace(",fruit", ',"green\nbananas"')
    rows[41_999] = rows[41_999].replace(",fruit", "")
    rows[50_000] += ",surplus"
    path = declarations_csv(tmp_path, *rows, header=header)
    with pytest.raises(ContractError) as caught:
        read_source(path, "declarations")
    message = str(caught.value)
    assert str(path) in message
    assert "row 42000 has 9 fields, expected 10 like the header (2 such row(s))" in message
    assert "D41999," in message


def test_unquoted_decimal_commas_in_a_comma_file_say_what_to_do(tmp_path: Path) -> None:
    declarations_csv(tmp_path, GOOD_ROWS[0], "D2,2023-01-03,IMP2,090111,EC,BEANR,air,0,12,25")
    with pytest.raises(ContractError) as caught:
        read_sources(tmp_path)
    message = str(caught.value)
    assert "row 2 has 10 fields, expected 9" in message
    assert 'set delimiter = ";" and decimal = ","' in message


def test_extra_columns_are_dropped_with_a_notice(tmp_path: Path) -> None:
    header = DECLARATIONS_HEADER + ",officer_note,vat"
    rows = [r + ",looked fine,12" for r in GOOD_ROWS]
    declarations_csv(tmp_path, *rows, header=header)
    result = read_sources(tmp_path)
    assert result.problems == []
    assert result.notices == [
        f"{tmp_path / 'declarations.csv'}: ignored 2 column(s) not in the contract: "
        "officer_note, vat"
    ]
    assert "officer_note" not in result.sources.declarations.columns
    pd.testing.assert_frame_equal(result.sources.declarations, good_declarations())


def test_directory_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="declarations source is required"):
        read_sources(tmp_path)
    declarations_csv(tmp_path)
    good_declarations().to_parquet(tmp_path / "declarations.parquet", index=False)
    with pytest.raises(ContractError, match=r"both declarations\.csv and declarations\.parquet"):
        read_sources(tmp_path)
    with pytest.raises(ContractError, match="does not exist"):
        read_sources(tmp_path / "nowhere")


# ----------------------------------------------------------------------------- file format (3a)

_EURO_HEADER = DECLARATIONS_HEADER.replace(",", ";") + ";goods_description"
_EURO_ROWS = (
    "D1;2023-01-02T10:00:00;IMP1;0801100000;CO;NLRTM;sea;1200,5;5000;Café, bananes",
    "D2;2023-01-03 11:30:00;IMP2;090111;EC;BEANR;air;0;12,25;",
    "D3;2023-01-04;IMP1;84834090;;;;;;",
)


def _euro_file(folder: Path, *, encoding: str, rows: tuple[str, ...] = _EURO_ROWS) -> Path:
    """A semicolon-delimited export with decimal commas and CRLF line ends."""
    path = folder / "declarations.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("\r\n".join([_EURO_HEADER, *rows, ""]).encode(encoding))
    return path


def _format_only(folder: Path, body: str) -> Mapping:
    return load_mapping(write(folder / "format.toml", f"[format]\n{body}"))


@pytest.mark.parametrize(
    ("encoding", "setting"), [("utf-8-sig", ""), ("cp1252", 'encoding = "cp1252"\n')]
)
def test_semicolon_export_with_decimal_commas_reads_through_a_format_only_mapping(
    tmp_path: Path, encoding: str, setting: str
) -> None:
    _euro_file(tmp_path, encoding=encoding)
    mapping = _format_only(tmp_path / "m", f'delimiter = ";"\ndecimal = ","\n{setting}')
    result = read_sources(tmp_path, mapping=mapping)
    assert result.problems == [] and result.notices == []
    frame = result.sources.declarations
    expected = good_declarations()
    expected.insert(4, "goods_description", pd.Series(["Café, bananes", None, None], dtype="str"))
    pd.testing.assert_frame_equal(frame, expected)


def test_decimal_commas_parse_exactly_and_anything_ambiguous_is_a_row_problem(
    tmp_path: Path,
) -> None:
    cells = ["1,5", "+0,25", ",5", "1,5e3", "7", "0,1", "1.234,5", "1.5", "1,234,5", "1 234,5"]
    rows = tuple(f"D{i};2023-01-01;I;080110;;;;{v};;" for i, v in enumerate(cells))
    path = _euro_file(tmp_path, encoding="utf-8", rows=rows)
    mapping = _format_only(tmp_path / "m", 'delimiter = ";"\ndecimal = ","\n')
    result = read_source(path, "declarations", mapping=mapping)
    assert result.frame["gross_weight_kg"].tolist() == [1.5, 0.25, 0.5, 1500.0, 7.0, 0.1]
    found = {(p.row, p.column): p.reason for p in result.problems}
    assert found == {
        (row, "gross_weight_kg"): "must be a number with ',' as its decimal mark and no "
        f"thousands separator, found {cells[row - 1]!r}"
        for row in (7, 8, 9, 10)
    }


def test_format_applies_to_every_csv_source_of_the_directory(tmp_path: Path) -> None:
    _euro_file(tmp_path, encoding="utf-8")
    write(
        tmp_path / "ports.csv",
        "locode;name;country;lat;lon\r\nNLRTM;Rotterdam;NL;51,95;4,14\r\n",
    )
    write(
        tmp_path / "labels.csv",
        "declaration_id;inspected;seized;inspected_at;seized_kg\r\n"
        "D1;true;true;2023-01-09;12,5\r\nD2;false;;;\r\n",
    )
    mapping = _format_only(tmp_path / "m", 'delimiter = ";"\ndecimal = ","\n')
    result = read_sources(tmp_path, mapping=mapping)
    assert result.problems == []
    assert result.sources.ports is not None and result.sources.labels is not None
    assert result.sources.ports[["lat", "lon"]].iloc[0].tolist() == [51.95, 4.14]
    assert result.sources.labels["seized_kg"].tolist()[0] == 12.5


@pytest.mark.parametrize(
    ("delimiter", "setting", "mapping_text"),
    [
        (";", 'delimiter = ";" (and decimal = ","', None),
        ("\t", 'delimiter = "\\t"', None),
        (",", 'delimiter = ","', 'delimiter = ";"\n'),
    ],
)
def test_a_one_field_header_names_the_delimiter_the_file_seems_to_use(
    tmp_path: Path, delimiter: str, setting: str, mapping_text: str | None
) -> None:
    header = DECLARATIONS_HEADER.replace(",", delimiter)
    row = GOOD_ROWS[0].replace(",", delimiter)
    path = write(tmp_path / "declarations.csv", f"{header}\r\n{row}\r\n")
    mapping = _format_only(tmp_path / "m", mapping_text) if mapping_text else None
    with pytest.raises(ContractError) as caught:
        read_sources(tmp_path, mapping=mapping)
    message = str(caught.value)
    assert message.startswith(f"{path}: the header is a single column")
    assert setting in message and "[format] section of a mapping" in message
    assert "fields, expected" not in message
    assert caught.value.exit_code == 3


def test_a_byte_the_named_encoding_cannot_decode_names_byte_and_line(tmp_path: Path) -> None:
    path = tmp_path / "declarations.csv"
    text = (
        f"{DECLARATIONS_HEADER}\n{GOOD_ROWS[0]}\n".encode() + b"D2,2023-01-01,I\x81,080110,,,,,\n"
    )
    path.write_bytes(text)
    mapping = _format_only(tmp_path / "m", 'encoding = "cp1252"\n')
    position = text.index(b"\x81")
    with pytest.raises(ContractError, match=rf"not valid cp1252 at byte {position} \(line 3\)"):
        read_sources(tmp_path, mapping=mapping)
    with pytest.raises(ContractError, match=r'not valid UTF-8 .* encoding = "cp1252"'):
        read_sources(tmp_path)


def test_utf8_bom_and_crlf_need_no_format(tmp_path: Path) -> None:
    path = tmp_path / "declarations.csv"
    path.write_bytes(("\r\n".join([DECLARATIONS_HEADER, *GOOD_ROWS, ""])).encode("utf-8-sig"))
    result = read_sources(tmp_path)
    assert result.problems == [] and result.notices == []
    pd.testing.assert_frame_equal(result.sources.declarations, good_declarations())


# ----------------------------------------------------------------------------- whitespace (3b)


def test_padded_identifiers_and_codes_are_the_same_entity_with_a_notice(tmp_path: Path) -> None:
    """The field case (``IMP00005 ``) and its kind: every id/code column of every source."""
    path = declarations_csv(
        tmp_path,
        "D1 ,2023-01-02T10:00:00,IMP1 , 0801100000,CO ,\tNLRTM,sea ,1200.5,5000",
        "D2,2023-01-03 11:30:00,\u00a0IMP2,090111, EC,BEANR, air, 0 ,12.25",
        GOOD_ROWS[2],
    )
    write(
        tmp_path / "labels.csv",
        "declaration_id,inspected,seized,inspected_at,drug_type\n"
        " D1,true ,true,2023-01-09 ,cocaine \n",
    )
    write(
        tmp_path / "financial_flags.csv",
        "flag_id,entity_id,flagged_at,flag_type\nF1,IMP1  ,2022-12-01,cash_payment\n",
    )
    result = read_sources(tmp_path)
    assert result.problems == []
    pd.testing.assert_frame_equal(result.sources.declarations, good_declarations())
    assert result.sources.labels is not None and result.sources.financial_flags is not None
    assert result.sources.labels["declaration_id"].tolist() == ["D1"]
    assert result.sources.labels["drug_type"].tolist() == ["cocaine"]
    assert result.sources.financial_flags["entity_id"].tolist() == ["IMP1"]
    counted = {n.split("column '")[1].split("'")[0]: n for n in result.notices}
    assert set(counted) == {
        "declaration_id",
        "importer_id",
        "hs_code",
        "origin_country",
        "port_of_entry",
        "transport_mode",
        "gross_weight_kg",
        "inspected",
        "inspected_at",
        "drug_type",
        "entity_id",
    }
    assert counted["importer_id"] == (
        f"{path}: column 'importer_id': removed surrounding whitespace from 2 value(s) "
        "(first at row 1: 'IMP1 ')"
    )


def test_whitespace_policy_holds_for_parquet_text_as_for_csv(tmp_path: Path) -> None:
    """Served requests reach the reader as Parquet: the same policy applies there."""
    padded = good_declarations().assign(
        importer_id=pd.Series(["IMP1 ", " IMP2", "IMP1"], dtype="str"),
        origin_country=pd.Series(["CO ", "EC", None], dtype="str"),
    )
    padded.to_parquet(tmp_path / "declarations.parquet", index=False)
    result = read_sources(tmp_path)
    assert result.problems == []
    pd.testing.assert_frame_equal(result.sources.declarations, good_declarations())
    assert len(result.notices) == 2


def test_blank_identifier_is_missing_and_free_text_keeps_its_spaces(tmp_path: Path) -> None:
    header = DECLARATIONS_HEADER + ",goods_description"
    declarations_csv(
        tmp_path,
        GOOD_ROWS[0] + ",  fresh bananas ",
        "D2,2023-01-01,   ,080110,,,,,,",
        header=header,
    )
    result = read_sources(tmp_path)
    problem = _only(result.problems)
    assert (problem.row, problem.column, problem.reason) == (
        2,
        "importer_id",
        "required value is missing",
    )
    assert result.sources.declarations["goods_description"].tolist() == ["  fresh bananas "]


def test_header_and_mapping_names_are_compared_without_surrounding_whitespace(
    tmp_path: Path,
) -> None:
    header = "declaration_id , declared_at,importer.id ,hs_code"
    declarations_csv(tmp_path, "D1,2023-01-01,I,080110", header=header)
    mapping = load_mapping(write(tmp_path / "m.toml", '[columns]\nimporter_id = " importer.id"\n'))
    result = read_sources(tmp_path, mapping=mapping)
    assert result.problems == []
    assert list(result.sources.declarations.columns) == [
        "declaration_id",
        "declared_at",
        "importer_id",
        "hs_code",
    ]
    assert result.notices == [
        f"{tmp_path / 'declarations.csv'}: removed surrounding whitespace from 3 column "
        "name(s): 'declaration_id ', ' declared_at', 'importer.id '"
    ]
    twice = "hs_code,declaration_id,declared_at,importer_id, hs_code"
    declarations_csv(tmp_path / "twice", "080110,D1,2023-01-01,I,080110", header=twice)
    with pytest.raises(ContractError, match="header names column 'hs_code' more than once"):
        read_sources(tmp_path / "twice")


# ----------------------------------------------------------------------------- HS codes (3c)


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        ("8039010", "7 digits: a leading zero was probably lost"),
        ("901110000", "9 digits: a leading zero was probably lost"),
        ("80110", "5 digits: a leading zero was probably lost"),
        ("8039010.0", "an HS code written as a number"),
        ("8.03901E+06", "an HS code written as a number"),
    ],
)
def test_hs_code_that_lost_its_leading_zero_is_a_row_problem_saying_so(
    tmp_path: Path, code: str, hint: str
) -> None:
    path = declarations_csv(tmp_path, GOOD_ROWS[0], f"D2,2023-01-01,I,{code},,,,,")
    result = read_source(path, "declarations")
    problem = _only(result.problems)
    assert (problem.file, problem.row, problem.column) == (str(path), 2, "hs_code")
    assert problem.reason.startswith(f"must be an HS code of 6, 8 or 10 digits, found {code!r}")
    assert hint in problem.reason
    assert result.frame["declaration_id"].tolist() == ["D1"]


# ----------------------------------------------------------------------------- mapping columns (3g)


def test_mapping_of_only_the_required_columns_keeps_the_contract_columns(tmp_path: Path) -> None:
    declarations_csv(tmp_path)
    required = Mapping(
        columns={c: c for c in ("declaration_id", "declared_at", "importer_id", "hs_code")}
    )
    plain = read_sources(tmp_path)
    for mapping in (required, Mapping(), Mapping(format=CsvFormat())):
        mapped = read_sources(tmp_path, mapping=mapping)
        assert mapped.problems == [] and mapped.notices == []
        pd.testing.assert_frame_equal(mapped.sources.declarations, plain.sources.declarations)


@pytest.mark.skipif(not (SAMPLE / "declarations.parquet").exists(), reason="no committed sample")
def test_sample_through_a_required_only_mapping_keeps_every_column() -> None:
    mapping = Mapping(columns={"declaration_id": "declaration_id", "hs_code": "hs_code"})
    mapped = read_source(SAMPLE / "declarations.parquet", "declarations", mapping=mapping)
    plain = read_source(SAMPLE / "declarations.parquet", "declarations")
    assert mapped.notices == []
    pd.testing.assert_frame_equal(mapped.frame, plain.frame)


def test_a_required_column_neither_mapped_nor_present_is_a_contract_error(tmp_path: Path) -> None:
    header = DECLARATIONS_HEADER.replace("hs_code", "tariff")
    declarations_csv(tmp_path, header=header)
    mapping = load_mapping(write(tmp_path / "m.toml", '[columns]\nimporter_id = "importer_id"\n'))
    with pytest.raises(ContractError) as caught:
        read_sources(tmp_path, mapping=mapping)
    message = str(caught.value)
    assert "missing required column(s) 'hs_code'" in message
    assert f"neither mapped in [columns] in {tmp_path / 'm.toml'}" in message
    assert isinstance(caught.value, ContractError) and not isinstance(caught.value, MappingError)


# ----------------------------------------------------------------------------- the sample


@pytest.mark.skipif(not (SAMPLE / "declarations.parquet").exists(), reason="no committed sample")
def test_committed_sample_passes_the_contract() -> None:
    result = validate_dir(SAMPLE)
    assert result.problems == [], result.problems[:5]
    assert result.notices == []
    sources = result.sources
    assert set(sources.present()) == {
        "declarations",
        "labels",
        "financial_flags",
        "route_legs",
        "ports",
    }
    assert sources.files["declarations"] == SAMPLE / "declarations.parquet"
    assert len(sources.declarations) == len(pd.read_parquet(SAMPLE / "declarations.parquet"))


def test_sample_as_csv_reads_like_the_parquet(tmp_path: Path) -> None:
    """The same world written as CSV gives the same frames: CSV parsing loses nothing."""
    source = SAMPLE if (SAMPLE / "ports.parquet").exists() else None
    if source is None:
        pytest.skip("no committed sample")
    for name in ("labels", "route_legs", "ports"):
        frame = pd.read_parquet(source / f"{name}.parquet")
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        shutil.copy(source / "declarations.parquet", tmp_path / "declarations.parquet")
    as_csv = read_sources(tmp_path)
    from_parquet = read_sources(source)
    assert as_csv.problems == []
    for name in ("labels", "route_legs", "ports"):
        pd.testing.assert_frame_equal(
            getattr(as_csv.sources, name), getattr(from_parquet.sources, name)
        )


# ----------------------------------------------------------------------------- nothing lost

_GOOD_CELLS = st.fixed_dictionaries(
    {
        "declared_at": st.sampled_from(["2023-01-01", "2023-02-03T04:05:06Z", "2023-03-01 12:00"]),
        "hs_code": st.sampled_from(["080110", "0801100000", "09011100"]),
        "weight": st.sampled_from(["", "0", "12.5", "1e3"]),
        "country": st.sampled_from(["", "CO", "NL"]),
    }
)
_BAD_CELLS = st.fixed_dictionaries(
    {
        "declared_at": st.sampled_from(["2023-13-01", "yesterday", ""]),
        "hs_code": st.sampled_from(["08011", "A80110", ""]),
        "weight": st.sampled_from(["-1", "12kg", "NaN"]),
        "country": st.sampled_from(["col", "c0", "nl"]),
    }
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(st.booleans(), _GOOD_CELLS, _BAD_CELLS, st.sampled_from(list("ABCDEFGH"))),
        min_size=1,
        max_size=25,
    )
)
def test_rows_read_equal_valid_plus_rejected(tmp_path: Path, rows: list) -> None:
    lines = ["declaration_id,declared_at,importer_id,hs_code,gross_weight_kg,origin_country"]
    expected_bad = 0
    seen: set[str] = set()
    for good, ok, bad, key in rows:
        cells = dict(ok)
        if not good:  # spoil exactly one cell
            column = sorted(bad)[len(seen) % len(bad)]
            cells[column] = bad[column]
        ident = f"D{key}"
        bad_row = not good or ident in seen
        expected_bad += bad_row
        seen.add(ident)
        lines.append(
            f"{ident},{cells['declared_at']},I,{cells['hs_code']},{cells['weight']},"
            f"{cells['country']}"
        )
    path = write(tmp_path / "mix" / "declarations.csv", "\n".join(lines) + "\n")
    result = read_source(path, "declarations")
    rejected = result.rejected
    assert len(result.frame) + len(rejected) == result.rows_read == len(rows)
    assert len(rejected) == expected_bad
    assert set(result.frame.index).isdisjoint(rejected.index)
    assert sorted({p.row or 0 for p in result.problems}) == rejected["row"].tolist()


# ----------------------------------------------------------------------------- scale


@pytest.mark.bench
def test_bench_read_one_million_declarations(tmp_path: Path) -> None:
    """Reading + validating 1M declarations takes seconds (Parquet, then CSV).

    Each read runs in a child process that reports its own peak RSS (``RUSAGE_SELF`` in the
    child: the parent's ``RUSAGE_CHILDREN`` would be the maximum over every earlier child).
    """
    if not (SAMPLE / "declarations.parquet").exists():
        pytest.skip("no committed sample")
    base = pd.read_parquet(SAMPLE / "declarations.parquet")
    big = pd.concat([base] * (1_000_000 // len(base) + 1), ignore_index=True).iloc[:1_000_000]
    big["declaration_id"] = pd.Series([f"D{i:09d}" for i in range(len(big))], dtype="str")
    parquet = tmp_path / "declarations.parquet"
    pq.write_table(pa.Table.from_pandas(big, preserve_index=False), parquet)
    csv = tmp_path / "csv" / "declarations.csv"
    csv.parent.mkdir()
    big.to_csv(csv, index=False)
    for path in (parquet, csv):
        code = (
            "import resource, sys, time; from pathlib import Path; start = time.perf_counter(); "
            "from features.io import read_source; "
            f"r = read_source(Path({str(path)!r}), 'declarations'); "
            "print(len(r.frame), len(r.problems), time.perf_counter() - start, "
            "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
        )
        done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        rows, problems, seconds, peak_kib = done.stdout.decode().split()
        peak_gb = int(peak_kib) / 1024**2  # ru_maxrss is KiB on Linux
        print(
            f"\nread+validate {path.name}: {int(rows):,} rows, {float(seconds):.1f} s "
            f"(imports included), peak RSS {peak_gb:.2f} GB"
        )
        assert (int(rows), int(problems)) == (1_000_000, 0)
        assert float(seconds) < 30
