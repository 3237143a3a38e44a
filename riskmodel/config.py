"""Experiment configuration: a TOML file validated once into frozen dataclasses.

The file has the sections of the design (``[data]``, ``[split]``, ``[features]``, ``[model]``,
``[tracking]``) plus ``[training]`` for the choices that are not LightGBM parameters
(selection-bias correction). Every section is optional except ``[data]``; unknown sections or
keys, and values of the wrong type, raise :class:`ConfigError` naming the file and the key.

Paths in the config (``data.path``, ``data.mapping``) are taken relative to the current
working directory of the process, not to the config file, so that
``riskmodel train --config experiments/baseline.toml`` run from the repository root finds
``data/sample``. ``with_overrides`` replaces them (``--data``, ``--mapping``).

``[model]`` accepts a fixed set of LightGBM parameter names (canonical names only, no
aliases) with a type check each, plus ``num_boost_round`` and ``early_stopping_rounds``.

``[training] selection`` chooses how training handles the selection bias of the labels:
``"ipw"`` weights each inspected row by the inverse of its estimated inspection propensity
(random-sample rows stand for the many declarations that were never inspected), capped at
``max_weight``; ``"none"`` (the default, measured better) trains on the inspected rows as
they are. ``calibration`` is
``"platt"`` or ``"isotonic"`` (see ``riskmodel.calibrate``). ``refit`` (default true) refits
the early-stopped model on training + validation rows. See ``riskmodel.train`` for the
measured effect of each choice.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from riskmodel.errors import ConfigError

__all__ = [
    "DEFAULT_PERIOD_DAYS",
    "LIGHTGBM_PARAMS",
    "DataConfig",
    "ExperimentConfig",
    "FeaturesConfig",
    "ModelConfig",
    "SplitConfig",
    "TrackingConfig",
    "TrainingConfig",
    "config_to_toml",
    "load_config",
    "parse_config",
    "write_config",
]

# Canonical LightGBM parameter name -> (type, lower bound or None, lower bound inclusive).
LIGHTGBM_PARAMS: dict[str, tuple[type, float | None, bool]] = {
    "learning_rate": (float, 0.0, False),
    "num_leaves": (int, 2, True),
    "max_depth": (int, None, True),
    "min_data_in_leaf": (int, 0, True),
    "min_sum_hessian_in_leaf": (float, 0.0, True),
    "feature_fraction": (float, 0.0, False),
    "feature_fraction_bynode": (float, 0.0, False),
    "bagging_fraction": (float, 0.0, False),
    "bagging_freq": (int, 0, True),
    "lambda_l1": (float, 0.0, True),
    "lambda_l2": (float, 0.0, True),
    "min_gain_to_split": (float, 0.0, True),
    "max_bin": (int, 2, True),
    "min_data_per_group": (int, 1, True),
    "max_cat_threshold": (int, 1, True),
    "max_cat_to_onehot": (int, 1, True),
    "cat_l2": (float, 0.0, True),
    "cat_smooth": (float, 0.0, True),
    "path_smooth": (float, 0.0, True),
    "extra_trees": (bool, None, True),
    "scale_pos_weight": (float, 0.0, False),
    "is_unbalance": (bool, None, True),
    "num_threads": (int, 1, True),
    "seed": (int, None, True),
    "deterministic": (bool, None, True),
    "metric": (str, None, True),
}

DEFAULT_PERIOD_DAYS = 120

_DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 20.0,
    "min_data_per_group": 50,
    "num_threads": 2,
    "seed": 42,
    "deterministic": True,
}


@dataclass(frozen=True)
class DataConfig:
    """Where the sources are: a DATA directory and an optional mapping file."""

    path: Path
    mapping: Path | None = None


@dataclass(frozen=True)
class SplitConfig:
    """Time split by ``declared_at``: each boundary is a date or a day count.

    ``test_start`` or ``test_days`` (counted back from the day after the newest
    ``declared_at``); ``valid_start`` or ``valid_days`` (counted back from the test start).
    """

    valid_start: pd.Timestamp | None = None
    valid_days: int | None = 120
    test_start: pd.Timestamp | None = None
    test_days: int | None = 120
    label_delay_days: int = 14


@dataclass(frozen=True)
class FeaturesConfig:
    """Feature names or groups to leave out (ablations)."""

    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelConfig:
    """LightGBM parameters (known names, checked types) and boosting-round control."""

    params: Mapping[str, Any] = field(default_factory=lambda: dict(_DEFAULT_PARAMS))
    num_boost_round: int = 2000
    early_stopping_rounds: int = 100


@dataclass(frozen=True)
class TrainingConfig:
    """Training choices that are not LightGBM parameters."""

    selection: str = "none"
    max_weight: float = 20.0
    calibration: str = "platt"
    refit: bool = True


@dataclass(frozen=True)
class TrackingConfig:
    """MLflow experiment name and registered-model name (empty: do not register)."""

    experiment: str = "seizure-risk"
    register_as: str = "seizure-risk"


@dataclass(frozen=True)
class ExperimentConfig:
    """One experiment: data, split, features, model, training and tracking settings."""

    data: DataConfig
    split: SplitConfig = field(default_factory=SplitConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    source: str = "<config>"

    def with_overrides(
        self,
        *,
        data: Path | str | None = None,
        mapping: Path | str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> ExperimentConfig:
        """A copy with the data path, mapping or LightGBM params replaced (None: keep)."""
        data_cfg = self.data
        if data is not None:
            data_cfg = replace(data_cfg, path=Path(data))
        if mapping is not None:
            data_cfg = replace(data_cfg, mapping=Path(mapping))
        model_cfg = self.model
        if params is not None:
            merged = {**self.model.params, **params}
            _check_model_params(merged, self.source)
            model_cfg = replace(model_cfg, params=merged)
        return replace(self, data=data_cfg, model=model_cfg)

    def lightgbm_params(self) -> dict[str, Any]:
        """The parameter dict for ``lightgbm.train`` (binary objective, quiet)."""
        return {"objective": "binary", "verbosity": -1, **self.model.params}

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """A plain nested dict with the TOML layout (for logging and writing back)."""
        split = {
            k: v
            for k, v in {
                "valid_start": _date_str(self.split.valid_start),
                "valid_days": self.split.valid_days,
                "test_start": _date_str(self.split.test_start),
                "test_days": self.split.test_days,
                "label_delay_days": self.split.label_delay_days,
            }.items()
            if v is not None
        }
        data: dict[str, Any] = {"path": self.data.path.as_posix()}
        if self.data.mapping is not None:
            data["mapping"] = self.data.mapping.as_posix()
        return {
            "data": data,
            "split": split,
            "features": {"exclude": list(self.features.exclude)},
            "model": {
                **dict(self.model.params),
                "num_boost_round": self.model.num_boost_round,
                "early_stopping_rounds": self.model.early_stopping_rounds,
            },
            "training": {
                "selection": self.training.selection,
                "max_weight": self.training.max_weight,
                "refit": self.training.refit,
                "calibration": self.training.calibration,
            },
            "tracking": {
                "experiment": self.tracking.experiment,
                "register_as": self.tracking.register_as,
            },
        }


def load_config(path: Path | str) -> ExperimentConfig:
    """Read and validate an experiment TOML file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(raw, source=str(path))


def parse_config(raw: Mapping[str, Any], *, source: str = "<config>") -> ExperimentConfig:
    """Validate a parsed TOML mapping into an :class:`ExperimentConfig`."""
    sections = {"data", "split", "features", "model", "training", "tracking"}
    for name, value in raw.items():
        if name not in sections:
            raise ConfigError(
                f"{source}: unknown section [{name}]; expected one of {sorted(sections)}"
            )
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: [{name}] must be a table, found {value!r}")
    if "data" not in raw:
        raise ConfigError(f"{source}: missing section [data] (with key 'path')")
    return ExperimentConfig(
        data=_parse_data(raw["data"], source),
        split=_parse_split(raw.get("split", {}), source),
        features=_parse_features(raw.get("features", {}), source),
        model=_parse_model(raw.get("model", {}), source),
        training=_parse_training(raw.get("training", {}), source),
        tracking=_parse_tracking(raw.get("tracking", {}), source),
        source=source,
    )


def config_to_toml(config: ExperimentConfig) -> str:
    """Serialise a config to TOML text that :func:`load_config` reads back unchanged."""
    lines: list[str] = []
    for section, values in config.to_dict().items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        lines.append("")
    return "\n".join(lines)


def write_config(config: ExperimentConfig, path: Path | str) -> None:
    """Write a config as TOML (atomically), e.g. the best parameters found by tuning."""
    from features.atomic import write_text_atomic

    write_text_atomic(Path(path), config_to_toml(config))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"cannot write non-finite number {value!r} to TOML")
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write value {value!r} of type {type(value).__name__} to TOML")


def _date_str(value: pd.Timestamp | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%d")


def _check_keys(section: str, values: Mapping[str, Any], allowed: set[str], source: str) -> None:
    for key in values:
        if key not in allowed:
            raise ConfigError(
                f"{source}: [{section}] unknown key '{key}'; expected one of {sorted(allowed)}"
            )


def _typed(section: str, key: str, value: Any, kind: type, source: str) -> Any:
    """Check one value's type; ints are accepted where floats are expected."""
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise ConfigError(
            f"{source}: [{section}] key '{key}' must be {kind.__name__}, "
            f"found {value!r} ({type(value).__name__})"
        )
    return value


def _parse_data(values: Mapping[str, Any], source: str) -> DataConfig:
    _check_keys("data", values, {"path", "mapping"}, source)
    if "path" not in values:
        raise ConfigError(f"{source}: [data] missing key 'path'")
    path = _typed("data", "path", values["path"], str, source)
    mapping = values.get("mapping")
    if mapping is not None:
        mapping = Path(_typed("data", "mapping", mapping, str, source))
    return DataConfig(path=Path(path), mapping=mapping)


def _parse_date(key: str, value: Any, source: str) -> pd.Timestamp:
    if isinstance(value, dt.datetime | dt.date):
        return pd.Timestamp(value)
    if isinstance(value, str):
        try:
            return pd.Timestamp(dt.date.fromisoformat(value))
        except ValueError:
            pass
    raise ConfigError(f"{source}: [split] key '{key}' must be a date YYYY-MM-DD, found {value!r}")


def _parse_split(values: Mapping[str, Any], source: str) -> SplitConfig:
    allowed = {"valid_start", "valid_days", "test_start", "test_days", "label_delay_days"}
    _check_keys("split", values, allowed, source)
    out: dict[str, Any] = {}
    for key in ("valid_start", "test_start"):
        if key in values:
            out[key] = _parse_date(key, values[key], source)
    for key in ("valid_days", "test_days", "label_delay_days"):
        if key in values:
            number = _typed("split", key, values[key], int, source)
            if number < (0 if key == "label_delay_days" else 1):
                raise ConfigError(
                    f"{source}: [split] key '{key}' must be "
                    f"{'>= 0' if key == 'label_delay_days' else '>= 1'}, found {number}"
                )
            out[key] = number
    for period in ("valid", "test"):
        if f"{period}_start" in out and f"{period}_days" in out:
            raise ConfigError(
                f"{source}: [split] give either '{period}_start' or '{period}_days', not both"
            )
        if f"{period}_start" not in out and f"{period}_days" not in out:
            out[f"{period}_days"] = DEFAULT_PERIOD_DAYS
    if "valid_start" in out and "test_start" in out and out["valid_start"] >= out["test_start"]:
        raise ConfigError(
            f"{source}: [split] 'valid_start' ({_date_str(out['valid_start'])}) must be before "
            f"'test_start' ({_date_str(out['test_start'])})"
        )
    return SplitConfig(
        valid_start=out.get("valid_start"),
        valid_days=out.get("valid_days"),
        test_start=out.get("test_start"),
        test_days=out.get("test_days"),
        label_delay_days=out.get("label_delay_days", SplitConfig.label_delay_days),
    )


def _parse_features(values: Mapping[str, Any], source: str) -> FeaturesConfig:
    _check_keys("features", values, {"exclude"}, source)
    exclude = values.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(v, str) for v in exclude):
        raise ConfigError(
            f"{source}: [features] key 'exclude' must be a list of strings, found {exclude!r}"
        )
    return FeaturesConfig(exclude=tuple(exclude))


def _check_model_params(params: Mapping[str, Any], source: str) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for key, value in params.items():
        if key not in LIGHTGBM_PARAMS:
            raise ConfigError(
                f"{source}: [model] unknown key '{key}'; expected a LightGBM parameter "
                f"({', '.join(sorted(LIGHTGBM_PARAMS))}) or num_boost_round, "
                "early_stopping_rounds"
            )
        kind, low, inclusive = LIGHTGBM_PARAMS[key]
        value = _typed("model", key, value, kind, source)
        if low is not None and (value < low or (value == low and not inclusive)):
            raise ConfigError(
                f"{source}: [model] key '{key}' must be {'>=' if inclusive else '>'} {low}, "
                f"found {value!r}"
            )
        if key in {"feature_fraction", "feature_fraction_bynode", "bagging_fraction"} and (
            value > 1.0
        ):
            raise ConfigError(f"{source}: [model] key '{key}' must be <= 1, found {value!r}")
        checked[key] = value
    return checked


def _parse_model(values: Mapping[str, Any], source: str) -> ModelConfig:
    rounds = {k: values[k] for k in ("num_boost_round", "early_stopping_rounds") if k in values}
    params = _check_model_params({k: v for k, v in values.items() if k not in rounds}, source)
    for key, value in rounds.items():
        if _typed("model", key, value, int, source) < 1:
            raise ConfigError(f"{source}: [model] key '{key}' must be >= 1, found {value}")
    return ModelConfig(params={**_DEFAULT_PARAMS, **params}, **rounds)


def _parse_training(values: Mapping[str, Any], source: str) -> TrainingConfig:
    _check_keys("training", values, {"selection", "max_weight", "calibration", "refit"}, source)
    out: dict[str, Any] = {}
    for key, choices in (("selection", ("ipw", "none")), ("calibration", ("platt", "isotonic"))):
        if key in values:
            choice = _typed("training", key, values[key], str, source)
            if choice not in choices:
                raise ConfigError(
                    f"{source}: [training] key '{key}' must be one of {list(choices)}, "
                    f"found {choice!r}"
                )
            out[key] = choice
    if "max_weight" in values:
        weight = _typed("training", "max_weight", values["max_weight"], float, source)
        if weight < 1.0:
            raise ConfigError(f"{source}: [training] key 'max_weight' must be >= 1, found {weight}")
        out["max_weight"] = weight
    if "refit" in values:
        out["refit"] = _typed("training", "refit", values["refit"], bool, source)
    return TrainingConfig(**out)


def _parse_tracking(values: Mapping[str, Any], source: str) -> TrackingConfig:
    _check_keys("tracking", values, {"experiment", "register_as"}, source)
    out = {k: _typed("tracking", k, v, str, source) for k, v in values.items()}
    return TrackingConfig(**out)
