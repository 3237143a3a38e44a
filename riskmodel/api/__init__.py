"""The notebook API: every command of the CLI is one call here (no printing, no exiting).

One module per capability (``data``: sample, validate, features; ``training``: train,
evaluate, tune, promote; ``scoring``: score; ``report``: explain, verify), re-exported here; a
new capability adds one module.

``train``, ``evaluate``, ``tune``, ``promote``, ``sample``, ``validate``, ``features`` return
dataclasses or frames; progress goes to an optional ``progress(message)`` callback so the CLI
can show a status line. Domain errors are :class:`riskmodel.errors.RiskError` subclasses with
their exit code.

Metrics JSON (``metrics_out``): one flat object, written atomically, holding the model's
metrics under the design's names (``test_precision_at_5pct``, ``valid_pr_auc``...) and each
baseline's under ``<baseline>_<name>`` (``rules_test_precision_at_5pct``), exactly the metric
names of the MLflow run. Undefined values (e.g. PR-AUC without a seizure) are ``null``.

Which declarations ``evaluate`` scores: those declared at or after the model's test start
(``meta["split"]["test_start"]``, the first day the model never saw, not even for early
stopping or calibration). DATA may hold the training history too; it is used for the
point-in-time features of the scored declarations, and only the declarations from the test
start on are scored and counted.
"""

from riskmodel.api._common import Progress
from riskmodel.api.data import describe, features, sample, validate
from riskmodel.api.report import ExplainResult, explain, verify
from riskmodel.api.scoring import score, score_period
from riskmodel.api.training import (
    INPUT_EXAMPLE_ROWS,
    REQUIRED_DECLARATION_COLUMNS,
    EvaluateResult,
    TrainResult,
    TuneResult,
    evaluate,
    input_example,
    promote,
    train,
    tune,
    write_metrics,
)

__all__ = [
    "INPUT_EXAMPLE_ROWS",
    "REQUIRED_DECLARATION_COLUMNS",
    "EvaluateResult",
    "ExplainResult",
    "Progress",
    "TrainResult",
    "TuneResult",
    "describe",
    "evaluate",
    "explain",
    "features",
    "input_example",
    "promote",
    "sample",
    "score",
    "score_period",
    "train",
    "tune",
    "validate",
    "verify",
    "write_metrics",
]
