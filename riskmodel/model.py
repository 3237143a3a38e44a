"""RiskModel: the fitted feature state, the LightGBM booster and the calibrator, as one unit.

A saved model is a folder an auditor can read, with no pickles:

- ``feature_state/`` — :meth:`FeaturePipeline.save` (Parquet + JSON);
- ``model.txt`` — the booster in LightGBM's own text format (only the trees up to the best
  iteration, so a loaded model predicts exactly what the in-process one did);
- ``calibrator.json`` — :meth:`Calibrator.to_dict`;
- ``drift_reference.json`` (optional: models trained before it existed lack it) — per-feature
  bins and shares of the training rows (:func:`riskmodel.scoring.drift.fit_reference`), the
  reference batch scoring measures drift against;
- ``meta.json`` — feature names, categorical features, training cutoff, split, config
  snapshot, data fingerprint; written last, so a folder without it is incomplete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskmodel.calibrate import Calibrator
from riskmodel.errors import ModelError

if TYPE_CHECKING:
    import lightgbm

    from features.sources import Sources
    from features.table import FeaturePipeline

__all__ = ["MODEL_FILES", "RiskModel", "model_matrix"]

MODEL_FILES = ("feature_state", "model.txt", "calibrator.json", "meta.json")


def model_matrix(
    features: pd.DataFrame,
    feature_names: list[str],
    categorical: list[str],
    *,
    where: str = "input",
) -> pd.DataFrame:
    """The frame LightGBM sees: exactly ``feature_names``, categoricals as ``category``,
    everything else ``float64`` (nullable values become NaN).

    A missing column is a :class:`ModelError` naming the columns.
    """
    missing = [c for c in feature_names if c not in features.columns]
    if missing:
        raise ModelError(
            f"{where}: the model needs feature column(s) {missing} that are absent; "
            f"found {len(features.columns)} column(s)"
        )
    cats = set(categorical)
    # pandas deep-copies ``attrs`` on every column access: 135 columns of a table whose attrs
    # hold the feature lists cost seconds, so read the columns from a shallow copy without them
    features = features.copy(deep=False)
    features.attrs = {}
    out: dict[str, Any] = {}
    for name in feature_names:
        col = features[name]
        if name in cats:
            out[name] = (
                col if isinstance(col.dtype, pd.CategoricalDtype) else col.astype("category")
            )
        elif isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object:
            raise ModelError(
                f"{where}: column '{name}' must be numeric for the model, found {col.dtype}"
            )
        elif col.dtype == np.float64:
            out[name] = col.to_numpy()
        else:
            try:
                out[name] = col.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            except (TypeError, ValueError) as exc:
                raise ModelError(
                    f"{where}: column '{name}' must be numeric, found {col.dtype}: {exc}"
                ) from None
    return pd.DataFrame(out, index=features.index)


@dataclass
class RiskModel:
    """Feature pipeline + LightGBM booster + calibrator, with the metadata to audit them.

    ``early_stopped``: after a refit on training + validation rows (``meta["refit"]``), the
    early-stopped booster the calibrator was fitted on, kept in memory only (not saved), so
    that validation figures come from a model that never trained on the validation rows.
    """

    pipeline: FeaturePipeline
    booster: lightgbm.Booster
    calibrator: Calibrator
    meta: dict[str, Any] = field(default_factory=dict)
    early_stopped: lightgbm.Booster | None = field(default=None, repr=False, compare=False)
    drift_reference: dict[str, Any] | None = None

    @property
    def feature_names(self) -> list[str]:
        """Features in the order the booster expects them."""
        return list(self.meta["feature_names"])

    @property
    def categorical_features(self) -> list[str]:
        """Features passed to LightGBM as native categoricals."""
        return list(self.meta["categorical_features"])

    def matrix(self, features: pd.DataFrame) -> pd.DataFrame:
        """The model input for a feature frame (see :func:`model_matrix`)."""
        return model_matrix(features, self.feature_names, self.categorical_features)

    def raw_margin_table(self, features: pd.DataFrame) -> np.ndarray:
        """Log-odds for the rows of a feature frame (e.g. a point-in-time training table)."""
        if len(features) == 0:
            return np.zeros(0, dtype=float)
        return np.asarray(self.booster.predict(self.matrix(features), raw_score=True), float)

    def predict_table(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated seizure probabilities for the rows of a feature frame."""
        return self.calibrator.transform(self.raw_margin_table(features))

    def features(self, sources: Sources) -> pd.DataFrame:
        """Features of new declarations from the fitted pipeline (input row order)."""
        features = self.pipeline.transform(sources)
        if len(features) != len(sources.declarations):
            raise ModelError(
                f"feature pipeline returned {len(features)} row(s) for "
                f"{len(sources.declarations)} declaration(s)"
            )
        return features

    def raw_margin(self, sources: Sources) -> np.ndarray:
        """Log-odds for new declarations."""
        return self.raw_margin_table(self.features(sources))

    def predict(self, sources: Sources) -> pd.DataFrame:
        """``declaration_id`` and calibrated ``risk_score`` for new declarations, input order."""
        score = self.calibrator.transform(self.raw_margin(sources))
        return pd.DataFrame(
            {
                "declaration_id": sources.declarations["declaration_id"].to_numpy(),
                "risk_score": score,
            }
        )

    def fit_drift_reference(self, table: pd.DataFrame) -> RiskModel:
        """Learn the drift reference from the training rows of a point-in-time table.

        Training rows are those declared before ``meta["training_cutoff"]`` (all rows when the
        meta has no cutoff). Returns ``self``.
        """
        from riskmodel.scoring.drift import fit_reference

        rows = table
        cutoff = self.meta.get("training_cutoff")
        if cutoff is not None and "declared_at" in table.columns:
            rows = table[(table["declared_at"] < pd.Timestamp(cutoff)).to_numpy(dtype=bool)]
        self.drift_reference = fit_reference(rows, self.feature_names, self.categorical_features)
        return self

    def save(self, folder: Path | str) -> None:
        """Write the model folder (see module doc); ``folder`` must be new or empty."""
        folder = Path(folder)
        if folder.exists() and any(folder.iterdir()):
            raise ModelError(f"{folder}: refusing to save a model into a non-empty folder")
        folder.mkdir(parents=True, exist_ok=True)
        self.pipeline.save(folder / "feature_state")
        self.booster.save_model(str(folder / "model.txt"))
        (folder / "calibrator.json").write_text(
            json.dumps(self.calibrator.to_dict(), indent=2), encoding="utf-8"
        )
        if self.drift_reference is not None:
            (folder / "drift_reference.json").write_text(
                json.dumps(self.drift_reference, indent=2), encoding="utf-8"
            )
        (folder / "meta.json").write_text(
            json.dumps(self.meta, indent=2, default=str), encoding="utf-8"
        )

    @classmethod
    def load(cls, folder: Path | str) -> RiskModel:
        """Read a model folder; a missing or corrupt part is a :class:`ModelError`."""
        import lightgbm

        from features.table import FeaturePipeline

        folder = Path(folder)
        if not folder.is_dir():
            raise ModelError(f"{folder}: model folder not found")
        missing = [name for name in MODEL_FILES if not (folder / name).exists()]
        if missing:
            raise ModelError(f"{folder}: incomplete model folder, missing {missing}")
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            if not isinstance(meta, dict) or "feature_names" not in meta:
                raise ValueError("expected an object with 'feature_names'")
        except (OSError, ValueError) as exc:
            raise ModelError(f"{folder / 'meta.json'}: unreadable model metadata: {exc}") from None
        try:
            cal_state = json.loads((folder / "calibrator.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{folder / 'calibrator.json'}: unreadable: {exc}") from None
        try:
            calibrator = Calibrator.from_dict(cal_state)
        except ModelError as exc:
            raise ModelError(f"{folder / 'calibrator.json'}: {exc}") from None
        try:
            booster = lightgbm.Booster(model_file=str(folder / "model.txt"))
        except (lightgbm.basic.LightGBMError, OSError, ValueError) as exc:
            raise ModelError(f"{folder / 'model.txt'}: not a LightGBM model: {exc}") from None
        if booster.feature_name() != list(meta["feature_names"]):
            raise ModelError(
                f"{folder}: model.txt features differ from meta.json feature_names: "
                + _name_difference(booster.feature_name(), list(meta["feature_names"]))
            )
        try:
            pipeline = FeaturePipeline.load(folder / "feature_state")
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(
                f"{folder / 'feature_state'}: cannot load feature state: {exc}"
            ) from exc
        drift_reference = None
        drift_file = folder / "drift_reference.json"
        if drift_file.exists():
            try:
                drift_reference = json.loads(drift_file.read_text(encoding="utf-8"))
                if not isinstance(drift_reference, dict) or "features" not in drift_reference:
                    raise ValueError("expected an object with 'features'")
            except (OSError, ValueError) as exc:
                raise ModelError(f"{drift_file}: unreadable drift reference: {exc}") from None
        return cls(
            pipeline=pipeline,
            booster=booster,
            calibrator=calibrator,
            meta=meta,
            drift_reference=drift_reference,
        )


def _name_difference(booster: list[str], meta: list[str], *, shown: int = 5) -> str:
    """What differs between two feature lists, in a line (not both lists: 167 names each)."""
    only_booster = [n for n in booster if n not in set(meta)]
    only_meta = [n for n in meta if n not in set(booster)]
    parts = []
    if only_booster:
        parts.append(f"only in model.txt {only_booster[:shown]}")
    if only_meta:
        parts.append(f"only in meta.json {only_meta[:shown]}")
    if not parts:
        at = next(
            (i for i, (a, b) in enumerate(zip(booster, meta, strict=False)) if a != b),
            min(len(booster), len(meta)),
        )
        parts.append(f"the same names, in another order or repeated (first difference at {at})")
    return f"{len(booster)} against {len(meta)} names; " + "; ".join(parts)
