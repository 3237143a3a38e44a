"""The MLflow pyfunc (models-from-code): raw declarations in, RiskModel scores out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from riskmodel import api

if TYPE_CHECKING:
    from conftest import EmbeddedTraining, PastAndFuture


@pytest.fixture(scope="module")
def served(embedded_training: EmbeddedTraining):  # type: ignore[no-untyped-def]
    import mlflow

    mlflow.set_tracking_uri(embedded_training.tracking_uri)
    return mlflow.pyfunc.load_model(embedded_training.first.model_uri)


def test_pyfunc_scores_raw_declarations_as_the_risk_model_does(
    served: Any, embedded_training: EmbeddedTraining, past_and_future: PastAndFuture
) -> None:
    from features.sources import Sources

    raw = past_and_future.future_declarations
    scores = served.predict(raw)
    typed = api.validate(past_and_future.future).sources.declarations
    expected = embedded_training.first.model.predict(Sources(declarations=typed))  # type: ignore[union-attr]
    assert list(scores.columns[:2]) == ["declaration_id", "risk_score"]
    assert scores["declaration_id"].tolist() == raw["declaration_id"].tolist()
    pd.testing.assert_series_equal(
        scores["risk_score"].reset_index(drop=True),
        expected["risk_score"].reset_index(drop=True),
        check_exact=True,
    )
    assert scores["risk_score"].between(0.0, 1.0).all()


def test_signature_requires_only_the_contract_required_columns(served: Any) -> None:
    inputs = {spec.name: spec.required for spec in served.metadata.get_input_schema().inputs}
    required = {name for name, needed in inputs.items() if needed}
    assert required == {"declaration_id", "declared_at", "importer_id", "hs_code"}
    assert served.metadata.get_output_schema().input_names() == ["declaration_id", "risk_score"]


def test_a_request_without_a_required_column_is_refused(
    served: Any, past_and_future: PastAndFuture
) -> None:
    from mlflow.exceptions import MlflowException

    raw = past_and_future.future_declarations.head(3).drop(columns=["hs_code"])
    with pytest.raises(MlflowException, match="hs_code"):
        served.predict(raw)


def test_a_row_violating_the_contract_is_named_with_row_and_column(
    served: Any, past_and_future: PastAndFuture
) -> None:
    raw = past_and_future.future_declarations.head(3).copy()
    raw.loc[1, "gross_weight_kg"] = -5.0
    with pytest.raises(Exception, match=r"row 2.*gross_weight_kg|gross_weight_kg.*row 2"):
        served.predict(raw)


def test_the_logged_input_example_is_served_as_logged(
    served: Any, embedded_training: EmbeddedTraining
) -> None:
    """The input example MLflow stores (and validates at log time) scores without error.

    The raw example and the serving payload (``serving_input_example.json``, what MLflow
    checks when the model is logged and what ``mlflow models serve`` would receive) both go
    through the loaded pyfunc: declarations at the feature state's cutoff, with ids the
    fitted history has never seen.
    """
    import json

    from mlflow.models import Model
    from mlflow.models.utils import load_serving_example
    from mlflow.pyfunc.scoring_server import infer_and_parse_data

    uri = embedded_training.first.model_uri
    example = Model.load(uri).load_input_example(uri)
    assert isinstance(example, pd.DataFrame) and len(example) == api.INPUT_EXAMPLE_ROWS
    scores = served.predict(example)
    assert scores["declaration_id"].tolist() == example["declaration_id"].tolist()
    assert scores["risk_score"].between(0.0, 1.0).all()
    assert example["declaration_id"].str.startswith("EXAMPLE-").all()

    payload = infer_and_parse_data(
        json.loads(load_serving_example(uri)), served.metadata.get_input_schema()
    )
    assert len(served.predict(payload)) == api.INPUT_EXAMPLE_ROWS


def test_a_whole_request_fault_names_the_request_not_a_temporary_file(
    past_and_future: PastAndFuture,
) -> None:
    from features.errors import ContractError
    from riskmodel.pyfunc_model import REQUEST_NAME, typed_declarations

    raw = past_and_future.future_declarations.head(3).drop(columns=["hs_code"])
    with pytest.raises(ContractError) as info:
        typed_declarations(raw)
    assert REQUEST_NAME in str(info.value) and "hs_code" in str(info.value)
    assert "riskmodel-serve-" not in str(info.value)


NUMBER_COLUMNS = ("quantity", "gross_weight_kg", "declared_value_usd", "total_taxes_usd")


def _whole_numbers(raw: pd.DataFrame) -> pd.DataFrame:
    """``raw`` with every number column rounded to whole values, still as float64."""
    rounded = raw.copy()
    for name in NUMBER_COLUMNS:
        rounded[name] = rounded[name].round()
    return rounded


def test_numbers_are_accepted_as_integers_and_nullable_integers(
    served: Any, past_and_future: PastAndFuture
) -> None:
    """Every number column as int64, or as nullable Int64 with nulls, scores as the float."""
    reference = _whole_numbers(past_and_future.future_declarations.head(6))
    for name in NUMBER_COLUMNS:
        reference.loc[2, name] = float("nan")
    expected = served.predict(reference)["risk_score"].to_numpy()

    nullable = reference.copy()
    for name in NUMBER_COLUMNS:
        nullable[name] = nullable[name].astype("Int64")
    assert nullable["quantity"].isna().sum() == 1
    assert (served.predict(nullable)["risk_score"].to_numpy() == expected).all()

    complete = reference.drop(index=2).reset_index(drop=True)
    as_int = complete.copy()
    for name in NUMBER_COLUMNS:
        as_int[name] = as_int[name].astype("int64")
    scores = served.predict(as_int)["risk_score"].to_numpy()
    assert (scores == served.predict(complete)["risk_score"].to_numpy()).all()


def test_timestamps_are_accepted_as_iso_text_with_any_offset(
    served: Any, past_and_future: PastAndFuture
) -> None:
    """``declared_at`` as naive UTC, tz-aware, or ISO text ending in Z or +01:00: same scores."""
    raw = past_and_future.future_declarations.head(6).reset_index(drop=True)
    expected = served.predict(raw)["risk_score"].to_numpy()
    utc = raw["declared_at"]
    variants = {
        "text Z": utc.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "text +01:00": (utc + pd.Timedelta(hours=1)).dt.strftime("%Y-%m-%dT%H:%M:%S.%f+01:00"),
        "aware": utc.dt.tz_localize("UTC").dt.tz_convert("Europe/Paris"),
    }
    for label, declared in variants.items():
        request = raw.assign(declared_at=declared)
        scores = served.predict(request)["risk_score"].to_numpy()
        assert (scores == expected).all(), label


def test_a_json_request_parsed_by_mlflow_scores_as_the_frame_does(
    served: Any, past_and_future: PastAndFuture
) -> None:
    """Through the scoring server's own request parsing (no server): offsets, integer numbers."""
    import json

    from mlflow.pyfunc.scoring_server import infer_and_parse_data

    raw = _whole_numbers(past_and_future.future_declarations.head(6)).reset_index(drop=True)
    expected = served.predict(raw)["risk_score"].to_numpy()
    utc = raw["declared_at"]
    for suffix, hours in (("Z", 0), ("+01:00", 1), ("-05:00", -5)):
        request = raw.assign(
            declared_at=(utc + pd.Timedelta(hours=hours)).dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
            + suffix
        )
        for name in NUMBER_COLUMNS:
            request[name] = request[name].astype("int64")
        body = {"dataframe_split": json.loads(request.to_json(orient="split", index=False))}
        assert isinstance(body["dataframe_split"]["data"][0][raw.columns.get_loc("quantity")], int)
        parsed = infer_and_parse_data(body, served.metadata.get_input_schema())
        scores = served.predict(parsed)["risk_score"].to_numpy()
        assert (scores == expected).all(), suffix


@pytest.mark.parametrize(
    ("column", "odd"),
    [("hs_code", 8039010), ("importer_id", 5), ("quantity", "12kg"), ("declared_at", 3.5)],
)
def test_a_column_mixing_value_kinds_is_a_contract_error_naming_it(
    served: Any, past_and_future: PastAndFuture, column: str, odd: Any
) -> None:
    from features.errors import ContractError

    raw = past_and_future.future_declarations.head(4).reset_index(drop=True)
    raw[column] = raw[column].astype(object)
    raw.loc[2, column] = odd
    with pytest.raises(ContractError) as info:
        served.predict(raw)
    message = str(info.value)
    assert f"column '{column}'" in message and "row 3" in message, message
    assert info.value.exit_code == 3
