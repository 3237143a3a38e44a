"""The batch's corridor table: expected seizures and a shrunk risk rate per corridor.

``shrunk_rate = (sum of risk_score + m * overall) / (declarations + m)`` with ``m = 20``
pseudo-declarations at the batch's overall mean risk, so a corridor seen twice is not ranked
on two scores. ``rank`` orders by expected seizures (sum of risk_score), then shrunk rate,
then corridor id. Rows without a corridor (no origin, ports or legs) are left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["SHRINKAGE", "corridor_table"]

SHRINKAGE = 20.0


def corridor_table(
    corridor_id: pa.ChunkedArray | pa.Array,
    risk_score: np.ndarray,
    red: np.ndarray,
    *,
    m: float = SHRINKAGE,
) -> pd.DataFrame:
    """One row per corridor: ``corridor_id``, ``declarations``, ``red``,
    ``expected_seizures``, ``risk_rate``, ``shrunk_rate``, ``rank`` (1 = first).

    Aggregated in Arrow, so the ids of millions of rows never become Python strings.
    """
    overall = float(np.mean(risk_score)) if len(risk_score) else 0.0
    table = pa.table(
        {
            "corridor_id": corridor_id,
            "risk": pa.array(risk_score, pa.float64()),
            "red": pa.array(np.asarray(red, dtype=np.int64)),
        }
    )
    table = table.filter(pc.is_valid(table["corridor_id"]))
    # one thread: a threaded hash aggregate sums the scores in a varying order, so the same
    # batch gave expected_seizures differing in the last bits from run to run
    grouped = table.group_by("corridor_id", use_threads=False).aggregate(
        [("risk", "count"), ("red", "sum"), ("risk", "sum")]
    )
    agg = pd.DataFrame(
        {
            "corridor_id": grouped["corridor_id"].to_pylist(),
            "declarations": grouped["risk_count"].to_numpy(),
            "red": grouped["red_sum"].to_numpy(),
            "expected_seizures": grouped["risk_sum"].to_numpy(),
        }
    ).set_index("corridor_id")
    agg["risk_rate"] = agg["expected_seizures"] / agg["declarations"]
    agg["shrunk_rate"] = (agg["expected_seizures"] + m * overall) / (agg["declarations"] + m)
    agg = agg.reset_index().sort_values(
        ["expected_seizures", "shrunk_rate", "corridor_id"],
        ascending=[False, False, True],
        kind="stable",
    )
    agg["rank"] = np.arange(1, len(agg) + 1, dtype=np.int64)
    return pd.DataFrame(
        {
            "corridor_id": agg["corridor_id"].astype("str").to_numpy(),
            "declarations": agg["declarations"].astype(np.int64).to_numpy(),
            "red": agg["red"].astype(np.int64).to_numpy(),
            "expected_seizures": agg["expected_seizures"].astype(float).to_numpy(),
            "risk_rate": agg["risk_rate"].astype(float).to_numpy(),
            "shrunk_rate": agg["shrunk_rate"].astype(float).to_numpy(),
            "rank": agg["rank"].to_numpy(),
        }
    )
