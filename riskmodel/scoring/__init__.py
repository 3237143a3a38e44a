"""Batch scoring for customs systems (issue 9): one small public surface over its modules.

- :mod:`riskmodel.scoring.batch` — chunked reading, two-pass scoring, incremental atomic
  writing and the manifest (:func:`score_batch`);
- :mod:`riskmodel.scoring.channels` — red/yellow/green within the inspection budget, officer
  rules (TOML) and exploration;
- :mod:`riskmodel.scoring.reasons` — exact SHAP contributions (LightGBM ``pred_contrib``) and the
  top reasons per row;
- :mod:`riskmodel.scoring.drift` — population stability index against the training reference
  saved with the model, and the inspection burden per group;
- :mod:`riskmodel.scoring.corridors` — the batch's corridor table with shrinkage.

Heavy modules are imported by their users; importing this package is cheap.
"""

from __future__ import annotations
