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
