"""The numba TreeSHAP equals LightGBM's ``pred_contrib`` to 1e-9 on real, small, seeded models.

Each model is trained here on a synthetic frame built to reach the rule it checks (missing
values of each missing type, zero as missing, categorical splits with unseen and missing
categories, single-leaf trees, stumps, deep trees, early stopping); the test also checks the
model really contains that structure, so a change in LightGBM's defaults cannot make a test
pass vacuously.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskmodel.scoring import treeshap
from riskmodel.scoring.treeshap import compile_booster, feature_array, shap_values

TOL = 1e-9
CATS = [f"c{i}" for i in range(12)]


def _frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Numeric (with NaN, with exact zeros), integer-like and categorical features + a label."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    with_nan = np.where(rng.random(n) < 0.25, np.nan, rng.normal(size=n))
    zeros = np.where(rng.random(n) < 0.3, 0.0, rng.normal(size=n))
    counts = rng.integers(0, 6, n).astype(float)
    cat = pd.Categorical(rng.choice(CATS, n), categories=CATS)
    cat2 = pd.Categorical(rng.choice(["x", "y", "z"], n))
    signal = (
        a
        + np.nan_to_num(with_nan, nan=1.5)
        + zeros * counts / 3
        + np.isin(np.asarray(cat), CATS[:5])
        - (np.asarray(cat2) == "y")
        + rng.normal(scale=0.7, size=n)
    )
    frame = pd.DataFrame(
        {"a": a, "with_nan": with_nan, "zeros": zeros, "counts": counts, "cat": cat, "cat2": cat2}
    )
    return frame, (signal > 0.8).astype(int)


def _train(
    params: dict[str, Any], *, rounds: int = 40, n: int = 2000, seed: int = 0
) -> lgb.Booster:
    frame, label = _frame(n, seed)
    base = {
        "objective": "binary",
        "verbose": -1,
        "seed": 7,
        "num_threads": 1,
        "min_data_per_group": 5,
    }
    return lgb.train({**base, **params}, lgb.Dataset(frame, label), num_boost_round=rounds)


def _probe(seed: int = 1, n: int = 400) -> pd.DataFrame:
    """Rows to explain: fresh draws plus NaN in every column, zeros, unseen categories."""
    frame, _ = _frame(n, seed)
    frame["cat"] = frame["cat"].cat.add_categories(["never-seen"])
    frame.loc[0:20, "cat"] = "never-seen"
    frame.loc[21:40, "cat"] = np.nan
    frame.loc[41:60, "cat2"] = np.nan
    frame.loc[61:80, "a"] = np.nan
    frame.loc[81:100, "zeros"] = np.nan
    frame.loc[101:120, "counts"] = 0.0
    frame.loc[121:140, "a"] = 0.0
    frame.loc[141:150, "a"] = -0.0
    return frame


def _check(booster: lgb.Booster, frame: pd.DataFrame) -> np.ndarray:
    got = shap_values(compile_booster(booster), feature_array(booster, frame))
    expected = booster.predict(frame, pred_contrib=True)
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= TOL
    margin = booster.predict(frame, raw_score=True)
    assert np.max(np.abs(got.sum(axis=1) - margin)) <= TOL
    return got


def _nodes(booster: lgb.Booster) -> list[dict[str, Any]]:
    out = []
    stack = [t["tree_structure"] for t in booster.dump_model()["tree_info"]]
    while stack:
        node = stack.pop()
        if "split_index" in node:
            out.append(node)
            stack.extend((node["left_child"], node["right_child"]))
    return out


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_missing_values_follow_each_missing_type(zero_as_missing: bool) -> None:
    booster = _train({"num_leaves": 15, "zero_as_missing": zero_as_missing})
    kinds = {n["missing_type"] for n in _nodes(booster) if n["decision_type"] == "<="}
    if zero_as_missing:
        assert "Zero" in kinds
    else:
        assert {"NaN", "None"} <= kinds
    defaults = {n["default_left"] for n in _nodes(booster) if n["missing_type"] != "None"}
    assert defaults == {True, False}
    _check(booster, _probe())


def test_categorical_splits_with_unseen_and_missing_categories() -> None:
    booster = _train({"num_leaves": 31, "cat_smooth": 1, "max_cat_to_onehot": 2})
    assert any(n["decision_type"] == "==" for n in _nodes(booster))
    probe = _probe()
    got = _check(booster, probe)
    # the category order of the frame does not matter: codes come from the booster
    shuffled = probe.copy()
    shuffled["cat"] = probe["cat"].cat.reorder_categories(probe["cat"].cat.categories[::-1])
    again = shap_values(compile_booster(booster), feature_array(booster, shuffled))
    assert np.array_equal(again, got)


def test_stumps_and_single_leaf_trees() -> None:
    stumps = _train({"num_leaves": 2})
    assert compile_booster(stumps).max_depth == 1
    _check(stumps, _probe())
    # no split allowed: LightGBM keeps one tree of one leaf (the average) and stops
    nothing = _train({"num_leaves": 7, "min_data_in_leaf": 5000}, rounds=3)
    assert (compile_booster(nothing).tree_root < 0).all()
    got = _check(nothing, _probe())
    assert np.all(got[:, :-1] == 0)
    # training continued from it: a one-leaf tree followed by ordinary ones
    frame, label = _frame(2000, 0)
    params = {"objective": "binary", "verbose": -1, "seed": 7, "num_threads": 1, "num_leaves": 7}
    mixed = lgb.train(params, lgb.Dataset(frame, label), num_boost_round=10, init_model=nothing)
    roots = compile_booster(mixed).tree_root
    assert roots[0] < 0 and (roots[1:] >= 0).all()
    _check(mixed, _probe())


def test_deep_trees_with_and_without_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    booster = _train({"num_leaves": 63, "min_data_in_leaf": 3, "max_cat_to_onehot": 2})
    compiled = compile_booster(booster)
    assert compiled.max_depth >= 8
    probe = _probe()
    x = feature_array(booster, probe)
    expected = booster.predict(probe, pred_contrib=True)
    assert np.max(np.abs(shap_values(compiled, x) - expected)) <= TOL
    # every leaf evaluated from its polynomials (no table), then a mix of both
    for depth, values in ((0, treeshap.TABLE_MAX_VALUES), (3, 64)):
        monkeypatch.setattr(treeshap, "TABLE_MAX_DEPTH", depth)
        monkeypatch.setattr(treeshap, "TABLE_MAX_VALUES", values)
        other = treeshap._parse(booster.dump_model())
        assert (other.leaf_table < 0).any()
        assert np.max(np.abs(shap_values(other, x) - expected)) <= TOL


def test_long_paths_without_tables_stay_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths with up to ~15 distinct features, every leaf evaluated from its polynomials
    (the division-based update is where rounding could build up)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 40))
    y = (np.sin(x[:, :10]).sum(axis=1) + 0.1 * x[:, 10:20].prod(axis=1) > 0).astype(int)
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": 3}
    params |= {"num_leaves": 255, "min_data_in_leaf": 1, "min_sum_hessian_in_leaf": 0}
    booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=8)
    monkeypatch.setattr(treeshap, "TABLE_MAX_DEPTH", 0)
    compiled = treeshap._parse(booster.dump_model())
    assert compiled.leaf_depth.max() >= 12
    assert (compiled.leaf_table < 0).all()
    got = shap_values(compiled, x[:300])
    assert np.max(np.abs(got - booster.predict(x[:300], pred_contrib=True))) <= TOL


def test_early_stopped_booster_uses_its_best_iteration() -> None:
    frame, label = _frame(3000, 3)
    valid, valid_label = _frame(1000, 4)
    params = {"objective": "binary", "verbose": -1, "seed": 7, "num_threads": 1}
    params |= {"num_leaves": 31, "learning_rate": 0.3}
    booster = lgb.train(
        params,
        lgb.Dataset(frame, label),
        num_boost_round=300,
        valid_sets=[lgb.Dataset(valid, valid_label)],
        callbacks=[lgb.early_stopping(5, verbose=False)],
        keep_training_booster=True,  # else the trees past the best iteration are dropped
    )
    assert 0 < booster.best_iteration < booster.current_iteration()
    assert compile_booster(booster).tree_root.size == booster.best_iteration
    _check(booster, _probe())
    # the project's form: the booster reloaded from its text up to the best iteration
    reloaded = lgb.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration))
    _check(reloaded, _probe())


def test_compiled_once_per_booster_and_columns_checked() -> None:
    booster = _train({"num_leaves": 4}, rounds=5)
    assert compile_booster(booster) is compile_booster(booster)
    probe = _probe()
    with pytest.raises(ValueError, match="differ from the booster's features"):
        feature_array(booster, probe[list(reversed(probe.columns))])
    with pytest.raises(ValueError, match="features"):
        shap_values(compile_booster(booster), np.zeros((3, 2)))
    empty = shap_values(compile_booster(booster), np.zeros((0, probe.shape[1])))
    assert empty.shape == (0, probe.shape[1] + 1)


def test_linear_and_multiclass_models_are_refused() -> None:
    frame, label = _frame(500, 5)
    numeric = frame[["a", "zeros", "counts"]]
    params = {"verbose": -1, "num_threads": 1, "num_leaves": 4}
    linear = lgb.train(
        {**params, "objective": "binary", "linear_tree": True}, lgb.Dataset(numeric, label), 3
    )
    with pytest.raises(treeshap.UnsupportedModel, match="linear"):
        compile_booster(linear)
    classes = label + (frame["a"].to_numpy() > 1)
    multi = lgb.train(
        {**params, "objective": "multiclass", "num_class": 3}, lgb.Dataset(numeric, classes), 3
    )
    with pytest.raises(treeshap.UnsupportedModel, match="multi-class"):
        compile_booster(multi)


@functools.cache
def _property_model() -> tuple[lgb.Booster, dict[str, list[float]]]:
    """The model of the property tests, compiled and its kernels run once (so no example pays
    for training or compilation), and its numeric thresholds per feature."""
    booster = _train({"num_leaves": 31, "min_data_in_leaf": 5, "max_cat_to_onehot": 2})
    thresholds: dict[str, list[float]] = {}
    for node in _nodes(booster):
        if node["decision_type"] == "<=":
            name = booster.feature_name()[node["split_feature"]]
            thresholds.setdefault(name, []).append(float(node["threshold"]))
    shap_values(compile_booster(booster), np.zeros((1, len(booster.feature_name()))))
    return booster, thresholds


@pytest.fixture(scope="module")
def property_model() -> lgb.Booster:
    return _property_model()[0]


def _numeric(name: str) -> st.SearchStrategy[float]:
    _, thresholds = _property_model()
    at = st.sampled_from(thresholds.get(name, [0.0]))
    return st.one_of(
        at,
        at.map(lambda t: float(np.nextafter(t, np.inf))),
        st.sampled_from([np.nan, 0.0, -0.0, 1e-36, -1e-36, 1e300, -1e300]),
        st.floats(min_value=-5, max_value=5, allow_nan=False),
    )


_CODES = st.one_of(
    st.integers(min_value=0, max_value=len(CATS) - 1).map(float),
    st.sampled_from([np.nan, -1.0, -0.5, 0.5, 11.9, 12.0, 40.0, 1e9, 3e9, -3e9]),
)


@settings(max_examples=150)
@given(data=st.data())
def test_random_rows_match_pred_contrib(property_model: lgb.Booster, data: st.DataObject) -> None:
    """Raw float rows (what LightGBM sees): values at and just past thresholds, NaN, signed
    zeros, tiny values the Zero missing type treats as zero, and category codes that are
    negative, fractional, unseen or huge."""
    booster = property_model
    n = data.draw(st.integers(min_value=1, max_value=8))
    columns = []
    for name in booster.feature_name():
        strategy = _CODES if name.startswith("cat") else _numeric(name)
        columns.append(data.draw(st.lists(strategy, min_size=n, max_size=n)))
    x = np.array(columns, dtype=np.float64).T.copy()
    got = shap_values(compile_booster(booster), x)
    expected = booster.predict(x, pred_contrib=True)
    assert np.max(np.abs(got - expected)) <= TOL


def test_values_within_zero_threshold_are_zero() -> None:
    """LightGBM's prediction input drops values with ``|x| <= 1e-35`` as zeros, so a value
    equal to a split threshold at -1e-35 goes right, not left (found by the property test)."""
    booster, thresholds = _property_model()
    tiny = [treeshap._ZERO_THRESHOLD, -treeshap._ZERO_THRESHOLD, 1e-36, -1e-36, 0.0, -0.0]
    assert any(abs(t) == treeshap._ZERO_THRESHOLD for ts in thresholds.values() for t in ts)
    rows = []
    for value in tiny:
        for j in range(len(booster.feature_name())):
            row = np.full(len(booster.feature_name()), 1.0)
            row[j] = value
            rows.append(row)
    x = np.array(rows)
    got = shap_values(compile_booster(booster), x)
    assert np.max(np.abs(got - booster.predict(x, pred_contrib=True))) <= TOL


def test_no_writable_cache_is_silent(tmp_path: Path) -> None:
    """Without any usable numba cache location the kernels compile in memory, with no
    warning (``-W error`` would turn one into a failure)."""
    script = (
        "import numpy as np\n"
        "from riskmodel.scoring import treeshap\n"
        "t = treeshap._parse({'feature_names': ['a'], 'tree_info': [{'tree_structure': {\n"
        "  'split_index': 0, 'split_feature': 0, 'threshold': 0.5, 'decision_type': '<=',\n"
        "  'default_left': True, 'missing_type': 'None', 'internal_count': 4,\n"
        "  'left_child': {'leaf_index': 0, 'leaf_value': 1.0, 'leaf_count': 1},\n"
        "  'right_child': {'leaf_index': 1, 'leaf_value': 3.0, 'leaf_count': 3}}}]})\n"
        "print(treeshap.shap_values(t, np.array([[0.0], [1.0]])).tolist())\n"
    )
    env = {**os.environ, "NUMBA_CACHE_LOCATOR_CLASSES": "IPythonCacheLocator"}
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    # base 2.5; a row going left gets 1 - 2.5, right 3 - 2.5
    assert done.stdout.strip() == "[[-1.5, 2.5], [0.5, 2.5]]"
