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

    ``corridor_id``: text, or dictionary-encoded text (chunks may hold different
    dictionaries); null for rows without a corridor. Aggregated on integer codes, so the ids
    of millions of rows never become Python strings; each corridor's sum adds its rows' scores
    in row order (the same batch always gives the same bits).
    """
    overall = float(np.mean(risk_score)) if len(risk_score) else 0.0
    chunked = (
        corridor_id if isinstance(corridor_id, pa.ChunkedArray) else pa.chunked_array([corridor_id])
    )
    if not pa.types.is_dictionary(chunked.type):
        chunked = pa.chunked_array(
            [pc.dictionary_encode(chunk) for chunk in chunked.chunks],
            pa.dictionary(pa.int32(), chunked.type),
        )
    chunked = chunked.unify_dictionaries()
    dictionary = chunked.chunk(0).dictionary if chunked.num_chunks else pa.array([], pa.string())
    codes = np.concatenate(
        [np.asarray(c.indices.fill_null(-1), dtype=np.int64) for c in chunked.chunks]
        or [np.zeros(0, dtype=np.int64)]
    )
    known = codes >= 0
    size = len(dictionary)
    count = np.bincount(codes[known], minlength=size)
    reds = np.bincount(codes[known], weights=np.asarray(red, dtype=float)[known], minlength=size)
    sums = np.bincount(
        codes[known], weights=np.asarray(risk_score, dtype=float)[known], minlength=size
    )
    present = np.flatnonzero(count > 0)
    agg = pd.DataFrame(
        {
            "corridor_id": pd.Series(dictionary.take(pa.array(present)).to_pylist(), dtype=object),
            "declarations": count[present],
            "red": reds[present].astype(np.int64),
            "expected_seizures": sums[present],
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
