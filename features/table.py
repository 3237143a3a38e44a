"""The point-in-time training table and the fitted feature pipeline that scoring reuses.

Design (docs/architecture.md, "Feature pipeline"). The fitted state *is* the fact log known
before the cutoff: the declaration columns the features read, the labels whose outcome was
known, the flags raised and the legs of those declarations (Parquet, one file per source,
plus ``pipeline.json`` with parameters, feature names, category levels and absent groups).

Two uses, one computation path (:class:`features.history.Facts`, facts vs rows):

- Training (:func:`build_table`): every declaration is a fact for the later ones; each row
  sees every fact known before its ``declared_at``.
- Scoring (:meth:`FeaturePipeline.transform`): a row sees the fitted state plus its own
  facts only (its own columns and route legs), never the other declarations of its batch.
  So ``pipeline.fit(S).transform(B)`` row r equals ``build_table(S + r)`` row r for every
  r in B, and transform(B) equals the concatenation of transform over any chunking of B,
  or over B in any order. Labels and flags given with a batch are history: they enter
  through :meth:`FeaturePipeline.refresh`, which returns a pipeline whose state (and
  cutoff) has moved forward, keeping the fitted feature set and category levels.

Cost: the state's per-key indexes (key dictionaries, facts sorted by key and time,
cumulative sums) are built once per fitted, loaded or refreshed pipeline, on the first
transform, and kept (``history_``); a transform maps its rows through the dictionaries
(unseen values have no history) and searches the sorted facts: O(batch x log history).

Declarations the state cannot score: dated before the cutoff (the state holds facts from
their future) or already in the fitted history. :meth:`FeaturePipeline.screen` lists them
per row with a reason, so a batch scorer rejects those rows and transforms the rest;
``transform`` itself refuses a batch holding one (:class:`FutureLeakError`, or
:class:`ContractError` for a known id), for library callers that want the strict behaviour.

Categoricals: transform's categories are the fitted levels (sorted values of the fitted
declarations) followed by the batch's unseen values, so a seen value's code never depends
on the batch; LightGBM maps pandas categoricals through the categories stored with the
model anyway, and sends an unseen category the way it sends a missing one.

Missing optional sources (or contract columns) make their feature groups absent, never
zero-filled; ``groups_absent`` says which and why.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.catalogue import GROUPS, catalogue
from features.declarations import (
    CATEGORICAL,
    declaration_features,
    extra_feature_name,
    extra_features,
)
from features.errors import EXIT_USAGE, ContractError, RiskError
from features.financial import financial_features
from features.history import ENTITY_ROLES, Facts, entity_features, text_array, times_us
from features.lookup import isin
from features.profiles import profile_features
from features.routes import corridor_features, route_facts, route_features
from features.sources import Sources

__all__ = [
    "LABEL_COLUMNS",
    "FeatureConfigError",
    "FeaturePipeline",
    "FutureLeakError",
    "build_table",
]

LABEL_COLUMNS = ("inspected", "seized", "seized_kg", "drug_type", "inspected_at", "selected_by")
"""Label columns passed through to the training table when present."""

STATE_FORMAT = "riskmodel-feature-state"
STATE_VERSION = 1

_DECL_COLUMNS = (
    "declaration_id",
    "declared_at",
    "importer_id",
    "declarant_id",
    "exporter_id",
    "hs_code",
    "goods_description",
    "origin_country",
    "export_country",
    "port_of_loading",
    "port_of_entry",
    "customs_office",
    "transport_mode",
    "container_id",
    "quantity",
    "gross_weight_kg",
    "declared_value_usd",
    "total_taxes_usd",
)
_LABEL_FACTS = ("declaration_id", "inspected", "seized", "inspected_at")
_FLAG_FACTS = ("flag_id", "entity_id", "flagged_at", "flag_type", "amount_usd")
_LEG_FACTS = (
    "declaration_id",
    "leg_seq",
    "port_from",
    "port_to",
    "departed_at",
    "arrived_at",
    "ais_gap_hours",
)
_PORT_FACTS = ("locode", "lat", "lon")
_META = ("declaration_id", "declared_at", "corridor_id")


class FutureLeakError(ContractError):
    """A declaration to transform is dated before the fitted cutoff (it would see its future)."""


class FeatureConfigError(RiskError):
    """Bad pipeline parameters (unknown feature or group in ``exclude``, bad windows)."""

    exit_code = EXIT_USAGE


def _keep(frame: pd.DataFrame | None, columns: Iterable[str]) -> pd.DataFrame | None:
    if frame is None:
        return None
    return frame[[c for c in columns if c in frame.columns]]


def _decl_columns(sources: Sources) -> list[str]:
    extras = [*sources.extra_categorical, *sources.extra_numeric]
    return [c for c in (*_DECL_COLUMNS, *extras) if c in sources.declarations.columns]


def _known_labels(labels: pd.DataFrame, declared: pd.DataFrame) -> pd.DataFrame:
    """Labels joined to their declaration: ``_pos``, ``_known``, ``_inspected``, ``_seized``.

    An outcome is known at ``inspected_at`` (never before its declaration was lodged); a label
    without ``inspected_at`` is never known and is left out.
    """
    ids = pd.Series(np.arange(len(declared)), index=declared["declaration_id"].to_numpy())
    pos = ids.reindex(labels["declaration_id"].to_numpy()).to_numpy()
    out = pd.DataFrame(index=labels.index)
    found = ~np.isnan(pos.astype(float))
    seized = (
        labels["seized"].astype("boolean")
        if "seized" in labels.columns
        else pd.Series(pd.NA, index=labels.index, dtype="boolean")
    )
    if "inspected" in labels.columns:
        inspected = labels["inspected"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    else:
        inspected = seized.notna().to_numpy(dtype=bool)
    has_time = (
        labels["inspected_at"].notna().to_numpy(dtype=bool)
        if "inspected_at" in labels.columns
        else np.zeros(len(labels), dtype=bool)
    )
    keep = found & has_time
    out = out[keep]
    p = pos[keep].astype(np.int64)
    known = times_us(labels["inspected_at"][keep])
    out["_pos"] = p
    out["_known"] = np.maximum(known, declared["_t"].to_numpy()[p])
    out["_inspected"] = inspected[keep]
    out["_seized"] = seized.fillna(False).to_numpy(dtype=bool)[keep] & inspected[keep]
    return out.reset_index(drop=True)


def _frame_rows(declarations: pd.DataFrame) -> pd.DataFrame:
    """Declarations with a fresh 0-based index and ``_t`` (int64 us)."""
    decl = declarations.reset_index(drop=True).copy()
    decl["_t"] = times_us(decl["declared_at"])
    return decl


def _legs_of(legs: pd.DataFrame, decl: pd.DataFrame) -> pd.DataFrame:
    """The legs of ``decl``'s declarations with ``_pos`` (their row in ``decl``)."""
    rows = pd.DataFrame(
        {"declaration_id": decl["declaration_id"].to_numpy(), "_pos": np.arange(len(decl))}
    )
    found = legs.merge(rows, on="declaration_id", how="inner", sort=False)
    return found.reset_index(drop=True)


def _history_facts(sources: Sources, windows: tuple[int, ...], smoothing: float) -> Facts:
    """Every declaration of ``sources`` as facts, and as the rows (a training table)."""
    decl = _frame_rows(sources.declarations)
    labels = None
    if sources.labels is not None:
        labels = _known_labels(sources.labels, decl)
    flags = None
    if sources.financial_flags is not None:
        f = sources.financial_flags
        f = f[f["flagged_at"].notna() & f["entity_id"].notna()].reset_index(drop=True).copy()
        f["_t"] = times_us(f["flagged_at"])
        flags = f
    legs = None
    if sources.route_legs is not None:
        ids = pd.Series(np.arange(len(decl)), index=decl["declaration_id"].to_numpy())
        pos = ids.reindex(sources.route_legs["declaration_id"].to_numpy()).to_numpy(dtype=float)
        ok = ~np.isnan(pos)
        legs = sources.route_legs[ok].reset_index(drop=True).copy()
        legs["_pos"] = pos[ok].astype(np.int64)
    return Facts(
        decl=decl,
        rows=decl,
        labels=labels,
        flags=flags,
        legs=legs,
        row_legs=legs,
        ports=sources.ports,
        windows=windows,
        smoothing=smoothing,
        extra_categorical=tuple(sources.extra_categorical),
        extra_numeric=tuple(sources.extra_numeric),
    )


def _absent_reasons(sources: Sources, produced: set[str], groups: dict[str, str]) -> dict[str, str]:
    """Why each group without any produced feature is absent."""
    decl = sources.declarations.columns
    reasons: dict[str, str] = {}
    have = {groups[n] for n in produced}
    for group in GROUPS:
        if group in have:
            continue
        if group == "financial":
            reasons[group] = (
                "financial_flags source absent"
                if sources.financial_flags is None
                else "declarations have neither importer_id nor exporter_id"
            )
        elif group == "route":
            reasons[group] = "route_legs source absent"
        elif group == "corridor":
            reasons[group] = "no origin_country, port columns or route legs to make a corridor"
        elif group == "profile":
            reasons[group] = "labels source absent (risk profiles need inspection outcomes)"
        elif group == "extra":
            reasons[group] = "the mapping declares no extra columns"
        elif group.endswith("_history"):
            role = group.removesuffix("_history")
            missing = [c for c in ENTITY_ROLES[role] if c not in decl]
            reasons[group] = f"declarations lack column(s) {', '.join(missing)}"
        else:
            reasons[group] = "no input column for this group"
    return reasons


class FeaturePipeline:
    """Point-in-time features as a fitted object: ``fit`` on history, ``transform`` new rows.

    Parameters: ``windows`` (trailing days for counts), ``smoothing`` (pseudo-inspections
    ``m`` pulling every seizure rate toward the overall rate), ``exclude`` (feature or group
    names left out, for ablations). Fitted attributes end in ``_``.
    """

    def __init__(
        self,
        *,
        windows: Sequence[int] = (30, 90, 365),
        smoothing: float = 20.0,
        exclude: Iterable[str] = (),
    ) -> None:
        windows = tuple(int(w) for w in windows)
        if not windows or any(w <= 0 for w in windows) or len(set(windows)) != len(windows):
            raise FeatureConfigError(
                f"windows must be distinct positive day counts, found {list(windows)}"
            )
        if not smoothing >= 0:
            raise FeatureConfigError(f"smoothing must be >= 0, found {smoothing!r}")
        self.windows: tuple[int, ...] = windows
        self.smoothing = float(smoothing)
        self.exclude: tuple[str, ...] = tuple(exclude)

    # ------------------------------------------------------------------ computation

    def _groups(self, sources: Sources) -> dict[str, str]:
        names = catalogue(
            windows=self.windows,
            extra_categorical=[extra_feature_name(c) for c in sources.extra_categorical],
            extra_numeric=[extra_feature_name(c) for c in sources.extra_numeric],
        )
        return {e.name: e.group for e in names}

    def _check_exclude(self, groups: dict[str, str]) -> None:
        unknown = [x for x in self.exclude if x not in groups and x not in GROUPS]
        if unknown:
            raise FeatureConfigError(
                f"exclude names unknown feature(s) or group(s) {unknown}; expected a group "
                f"({', '.join(GROUPS)}) or a feature name from the catalogue"
            )

    def _compute(self, facts: Facts, sources: Sources) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Features of ``facts.rows``, with metadata; ``sources`` (the facts' own) say which
        sources and columns exist, for the absent groups."""
        values: dict[str, Any] = {}
        values.update(declaration_features(facts))
        for role in ENTITY_ROLES:
            values.update(entity_features(facts, role))
        values.update(profile_features(facts))
        values.update(financial_features(facts))
        routes = route_facts(facts)
        values.update(route_features(facts, routes))
        values.update(corridor_features(facts, routes))
        values.update(extra_features(facts))
        groups = self._groups(sources)
        self._check_exclude(groups)
        unknown = [n for n in values if n not in groups]
        if unknown:
            raise RuntimeError(f"features without a catalogue entry: {unknown}")
        absent = _absent_reasons(sources, set(values), groups)
        dropped = set(self.exclude)
        for group in GROUPS:
            if group in dropped and group not in absent:
                absent[group] = "excluded"
        names = [n for n in values if n not in dropped and groups[n] not in dropped]
        cats = set(CATEGORICAL) | {extra_feature_name(c) for c in sources.extra_categorical}
        categorical = [n for n in names if n in cats]
        rows = facts.rows
        corridor = routes[1].corridor
        # numeric features go straight into one float block (one copy, no consolidation);
        # the id, time, corridor and categorical columns are then placed in name order
        numeric = [n for n in names if n not in cats]
        block = np.empty((len(numeric), len(rows)), dtype=float)
        for i, name in enumerate(numeric):
            block[i] = np.asarray(values[name], dtype=float)
        frame = pd.DataFrame(block.T, columns=pd.Index(numeric), copy=False)
        placed: list[tuple[int, str, Any]] = [
            (0, "declaration_id", rows["declaration_id"].array),
            (1, "declared_at", rows["declared_at"].array),
            (
                2,
                "corridor_id",
                corridor.array
                if corridor is not None
                else pd.array([pd.NA] * len(rows), dtype="str"),
            ),
        ]
        placed += [
            (len(_META) + i, name, pd.Series(values[name], dtype="str").array)
            for i, name in enumerate(names)
            if name in cats
        ]
        for loc, name, value in placed:
            frame.insert(loc, name, value)
        meta = {
            "feature_names": names,
            "categorical_features": categorical,
            "groups_absent": absent,
        }
        return frame, meta

    # ------------------------------------------------------------------ fit / transform

    def fit(self, sources: Sources, *, cutoff: pd.Timestamp | None = None) -> FeaturePipeline:
        """Learn the fact log known before ``cutoff`` (default: just after the newest fact)."""
        decl = sources.declarations
        if cutoff is None:
            newest = [decl["declared_at"].max()]
            if sources.labels is not None and "inspected_at" in sources.labels.columns:
                newest.append(sources.labels["inspected_at"].max())
            if sources.financial_flags is not None:
                newest.append(sources.financial_flags["flagged_at"].max())
            stamps = [pd.Timestamp(x) for x in newest if pd.notna(x)]
            cutoff = (max(stamps) if stamps else pd.Timestamp("1970-01-01")) + pd.Timedelta(1, "us")
        cutoff = pd.Timestamp(cutoff)
        if cutoff.tzinfo is not None:
            cutoff = cutoff.tz_convert("UTC").tz_localize(None)
        before = (decl["declared_at"] < cutoff).to_numpy(dtype=bool)
        kept = decl.loc[before, _decl_columns(sources)].reset_index(drop=True)
        known = kept["declaration_id"]
        labels = _keep(sources.labels, _LABEL_FACTS)
        if labels is not None:
            ok = isin(labels["declaration_id"], known)
            if "inspected_at" in labels.columns:
                ok &= (labels["inspected_at"] < cutoff).to_numpy(dtype=bool)
            labels = labels[ok].reset_index(drop=True)
        flags = _keep(sources.financial_flags, _FLAG_FACTS)
        if flags is not None:
            flags = flags[(flags["flagged_at"] < cutoff).to_numpy(dtype=bool)].reset_index(
                drop=True
            )
        legs = _keep(sources.route_legs, _LEG_FACTS)
        if legs is not None:
            legs = legs[isin(legs["declaration_id"], known)].reset_index(drop=True)
        ports = _keep(sources.ports, _PORT_FACTS)
        self.state_ = Sources(
            declarations=kept,
            labels=labels,
            financial_flags=flags,
            route_legs=legs,
            ports=ports,
            extra_categorical=tuple(sources.extra_categorical),
            extra_numeric=tuple(sources.extra_numeric),
        )
        self.cutoff_ = cutoff
        self.history_: Facts | None = None
        # the feature set is that of the whole input (what build_table on it would produce)
        probe = Sources(
            declarations=decl.iloc[:0][_decl_columns(sources)],
            labels=_keep(sources.labels, _LABEL_FACTS),
            financial_flags=_keep(sources.financial_flags, _FLAG_FACTS),
            route_legs=_keep(sources.route_legs, _LEG_FACTS),
            ports=ports,
            extra_categorical=tuple(sources.extra_categorical),
            extra_numeric=tuple(sources.extra_numeric),
        )
        _, meta = self._compute(_history_facts(probe, self.windows, self.smoothing), probe)
        self.feature_names_: list[str] = meta["feature_names"]
        self.categorical_features_: list[str] = meta["categorical_features"]
        self.groups_absent_: dict[str, str] = meta["groups_absent"]
        self.category_levels_: dict[str, list[str]] = {
            name: _levels(kept, name, sources) for name in self.categorical_features_
        }
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "state_"):
            raise RiskError("FeaturePipeline is not fitted: call fit(sources) or load(folder)")

    def _history(self) -> Facts:
        """The fitted facts with their per-key indexes, built on first use and kept.

        Key dictionaries, sorted keys and times and cumulative sums live in the Facts'
        cache; every later transform only looks its batch up in them.
        """
        if getattr(self, "history_", None) is None:
            self.history_ = _history_facts(self.state_, self.windows, self.smoothing)
            ids = pd.Index(self.history_.decl["declaration_id"]).drop_duplicates()
            self.history_.cache["ids"] = ids
        return cast(Facts, self.history_)

    def screen(self, declarations: pd.DataFrame) -> pd.DataFrame:
        """Rows of a batch the fitted state cannot score, each with its reason.

        Returns one row per refused declaration (index = the input's index; columns
        ``row`` (1-based data row: the input's integer index + 1, as the readers number
        rows, else the position + 1), ``declaration_id``, ``column``, ``reason``); empty when
        every row can be transformed. Refused: a declaration dated before ``cutoff_`` (the
        fitted history already holds facts from its future) and a ``declaration_id`` already
        in the fitted history. A batch scorer rejects these rows and transforms the rest.
        """
        self._check_fitted()
        history = self._history()
        declared = declarations["declared_at"]
        early = (declared < self.cutoff_).to_numpy(dtype=bool)
        ids: pd.Index = history.cache["ids"]
        seen = isin(declarations["declaration_id"], ids) & ~early
        index = declarations.index
        position = (
            index.to_numpy() + 1
            if pd.api.types.is_integer_dtype(index.dtype)
            else np.arange(1, len(declarations) + 1)
        )
        parts = []
        if early.any():
            parts.append(
                pd.DataFrame(
                    {
                        "row": position[early],
                        "declaration_id": declarations["declaration_id"].to_numpy()[early],
                        "column": "declared_at",
                        "reason": [
                            f"dated {when}, before the feature state's cutoff {self.cutoff_}; "
                            f"expected declarations at or after the cutoff (the fitted history "
                            f"already holds facts from its future)"
                            for when in declared.to_numpy()[early]
                        ],
                    },
                    index=declarations.index[early],
                )
            )
        if seen.any():
            parts.append(
                pd.DataFrame(
                    {
                        "row": position[seen],
                        "declaration_id": declarations["declaration_id"].to_numpy()[seen],
                        "column": "declaration_id",
                        "reason": "already in the fitted history",
                    },
                    index=declarations.index[seen],
                )
            )
        if not parts:
            return pd.DataFrame(
                {"row": [], "declaration_id": [], "column": [], "reason": []},
                index=declarations.index[:0],
            ).astype({"row": np.int64})
        return pd.concat(parts).sort_values("row", kind="stable")

    def transform(self, sources: Sources) -> pd.DataFrame:
        """Features of ``sources.declarations`` (input order and index), point in time.

        Each row sees the fitted state (facts before ``cutoff_``) and its own facts only:
        its own columns and its own route legs (from ``sources.route_legs``); never the
        other declarations of the batch, so a row's features do not depend on its batch or
        on chunking. Labels and flags given with the batch are ignored here: they are
        history, added with :meth:`refresh`. Cost: O(batch x log history) once the state's
        indexes exist (built on the first call and kept).

        Columns: ``declaration_id``, ``declared_at``, ``corridor_id``, then
        ``feature_names_``. A declaration :meth:`screen` refuses is an error for the whole
        batch here (:class:`FutureLeakError` for a date before ``cutoff_``,
        :class:`ContractError` for an id already in the history), naming its row; score a
        batch row by row with :meth:`screen` then :meth:`transform` of the rest.
        """
        self._check_fitted()
        batch = sources.declarations
        refused = self.screen(batch)
        if len(refused):
            first = refused.iloc[0]
            kind = FutureLeakError if first["column"] == "declared_at" else ContractError
            value = first["declaration_id"]
            raise kind(
                f"declarations: row {int(first['row'])}: column "
                f"{first['column']!r}: declaration {value!r} is {first['reason']} — "
                f"{len(refused)} such row(s)"
            )
        history = self._history()
        known = self.state_.declarations
        columns = _decl_columns(self.state_)
        # a fitted column absent from the batch is unknown for its rows (null), never zero
        rows = _frame_rows(
            pd.DataFrame(
                {
                    c: batch[c]
                    if c in batch.columns
                    else pd.Series(None, index=batch.index, dtype=known[c].dtype)
                    for c in columns
                },
                index=batch.index,
            )
        )
        legs = None
        if sources.route_legs is not None and history.legs is not None:
            legs = _legs_of(_keep(sources.route_legs, _LEG_FACTS), rows)  # type: ignore[arg-type]
        facts = replace(history, rows=rows, row_legs=legs)
        frame, _ = self._compute(facts, self.state_)
        missing = [n for n in self.feature_names_ if n not in frame.columns]
        if missing:
            raise ContractError(
                f"declarations: cannot compute feature(s) {missing} the pipeline was fitted "
                f"with; expected the input columns and sources it was fitted on"
            )
        wanted = [*_META, *self.feature_names_]
        if list(frame.columns) != wanted:
            frame = frame[wanted]
        for name in self.categorical_features_:
            levels = history.cached(
                f"levels:{name}",
                lambda: _Levels(self.category_levels_.get(name, [])),  # noqa: B023
            )
            frame[name] = _as_category(frame[name], levels)
        frame.index = batch.index
        frame.attrs.update(self._attrs())
        return frame

    def refresh(self, sources: Sources, *, cutoff: pd.Timestamp | None = None) -> FeaturePipeline:
        """A new pipeline whose state adds ``sources``' newer facts; ``self`` is unchanged.

        Newer declarations (ids not yet in the state), labels (for declarations without
        one yet), flags (new ``flag_id``) and legs (of declarations without legs yet) join
        the fact log, and the cutoff moves to ``cutoff`` (default: just after the newest
        fact), never backwards. The feature set and category levels stay the fitted ones
        (a model's input schema); a refresh that would change the feature set is a
        :class:`ContractError`.
        """
        self._check_fitted()
        state = self.state_
        old_ids = state.declarations["declaration_id"]
        new_decl = sources.declarations
        new_decl = new_decl[~isin(new_decl["declaration_id"], old_ids)]
        columns = [c for c in _decl_columns(state) if c in new_decl.columns]
        declarations = pd.concat([state.declarations, new_decl[columns]], ignore_index=True)

        def union(
            old: pd.DataFrame | None, new: pd.DataFrame | None, key: str
        ) -> pd.DataFrame | None:
            if new is None:
                return old
            if old is None:
                return new.reset_index(drop=True)
            new = new[~isin(new[key], old[key])]
            return pd.concat(
                [old, new[[c for c in old.columns if c in new.columns]]], ignore_index=True
            )

        merged = Sources(
            declarations=declarations,
            labels=union(state.labels, _keep(sources.labels, _LABEL_FACTS), "declaration_id"),
            financial_flags=union(
                state.financial_flags, _keep(sources.financial_flags, _FLAG_FACTS), "flag_id"
            ),
            route_legs=union(
                state.route_legs, _keep(sources.route_legs, _LEG_FACTS), "declaration_id"
            ),
            ports=state.ports if state.ports is not None else _keep(sources.ports, _PORT_FACTS),
            extra_categorical=state.extra_categorical,
            extra_numeric=state.extra_numeric,
        )
        fresh = FeaturePipeline(
            windows=self.windows, smoothing=self.smoothing, exclude=self.exclude
        )
        fresh.fit(merged, cutoff=cutoff)
        if fresh.cutoff_ < self.cutoff_:
            fresh.fit(merged, cutoff=self.cutoff_)
        if fresh.feature_names_ != self.feature_names_:
            raise ContractError(
                f"refresh: the new history gives features {fresh.feature_names_} but the "
                f"pipeline was fitted with {self.feature_names_}; expected the sources and "
                f"columns it was fitted on"
            )
        fresh.categorical_features_ = list(self.categorical_features_)
        fresh.category_levels_ = {k: list(v) for k, v in self.category_levels_.items()}
        fresh.groups_absent_ = dict(self.groups_absent_)
        return fresh

    def _attrs(self) -> dict[str, Any]:
        return {
            "feature_names": list(self.feature_names_),
            "categorical_features": list(self.categorical_features_),
            "groups_absent": dict(self.groups_absent_),
        }

    # ------------------------------------------------------------------ persistence

    def save(self, folder: Path | str) -> None:
        """Write the fitted state as Parquet (one file per source) and ``pipeline.json``."""
        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        present: list[str] = []
        for name in ("declarations", "labels", "financial_flags", "route_legs", "ports"):
            frame = getattr(self.state_, name)
            if frame is not None:
                frame.to_parquet(folder / f"{name}.parquet", index=False)
                present.append(name)
        doc = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "parameters": {
                "windows": list(self.windows),
                "smoothing": self.smoothing,
                "exclude": list(self.exclude),
            },
            "cutoff": self.cutoff_.isoformat(),
            "sources": present,
            "extra_categorical": list(self.state_.extra_categorical),
            "extra_numeric": list(self.state_.extra_numeric),
            "feature_names": self.feature_names_,
            "categorical_features": self.categorical_features_,
            "category_levels": self.category_levels_,
            "groups_absent": self.groups_absent_,
        }
        (folder / "pipeline.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path | str) -> FeaturePipeline:
        """Read a folder written by :meth:`save`; a missing or foreign file is a ContractError."""
        folder = Path(folder)
        path = folder / "pipeline.json"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ContractError(f"{path}: unreadable feature state: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
            raise ContractError(
                f"{path}: expected format {STATE_FORMAT!r}, found {doc.get('format')!r}"
                if isinstance(doc, dict)
                else f"{path}: expected a JSON object"
            )
        if doc.get("version") != STATE_VERSION:
            raise ContractError(
                f"{path}: expected feature-state version {STATE_VERSION}, "
                f"found {doc.get('version')!r}"
            )
        params = doc["parameters"]
        pipeline = cls(
            windows=params["windows"], smoothing=params["smoothing"], exclude=params["exclude"]
        )
        frames: dict[str, pd.DataFrame | None] = {}
        for name in ("declarations", "labels", "financial_flags", "route_legs", "ports"):
            file = folder / f"{name}.parquet"
            if name in doc["sources"]:
                try:
                    frames[name] = pd.read_parquet(file)
                except (OSError, ValueError) as exc:
                    raise ContractError(f"{file}: unreadable feature state: {exc}") from None
            else:
                frames[name] = None
        if frames["declarations"] is None:
            raise ContractError(f"{folder}: feature state has no declarations.parquet")
        pipeline.state_ = Sources(
            declarations=frames["declarations"],
            labels=frames["labels"],
            financial_flags=frames["financial_flags"],
            route_legs=frames["route_legs"],
            ports=frames["ports"],
            extra_categorical=tuple(doc["extra_categorical"]),
            extra_numeric=tuple(doc["extra_numeric"]),
        )
        pipeline.cutoff_ = pd.Timestamp(doc["cutoff"])
        pipeline.feature_names_ = list(doc["feature_names"])
        pipeline.categorical_features_ = list(doc["categorical_features"])
        pipeline.category_levels_ = {k: list(v) for k, v in doc["category_levels"].items()}
        pipeline.groups_absent_ = dict(doc["groups_absent"])
        pipeline.history_ = None
        return pipeline


def _levels(decl: pd.DataFrame, name: str, sources: Sources) -> list[str]:
    """Sorted distinct values a categorical feature takes on the fitted declarations."""
    width = {"hs_chapter": 2, "hs_heading": 4, "hs_subheading": 6}
    if name in width:
        values = decl["hs_code"].astype("str").str.slice(0, width[name])
    else:
        column = next((c for c in sources.extra_categorical if extra_feature_name(c) == name), name)
        values = decl[column].astype("str")
    return sorted(str(v) for v in values.dropna().unique())


class _Levels:
    """A categorical feature's fitted levels, prepared once for every batch: the values in
    order, as an Arrow array (for the lookup) and as the category dtype of a batch that
    holds no unseen value."""

    def __init__(self, levels: Sequence[str]) -> None:
        self.values = [str(v) for v in levels]
        self.arrow = pa.array(self.values, type=pa.large_string())
        self.dtype = pd.CategoricalDtype(self.values)


def _as_category(values: pd.Series, levels: Sequence[str] | _Levels) -> pd.Series:
    """Categorical with the fitted levels first, then any new level (sorted).

    A seen value's code is its position among ``levels`` whatever else ``values`` holds.
    """
    known = levels if isinstance(levels, _Levels) else _Levels(levels)
    text = cast(pa.Array, text_array(values.astype("str")))
    codes = np.asarray(
        pc.fill_null(pc.index_in(text, value_set=known.arrow), -1).to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )
    new = (codes < 0) & ~np.asarray(text.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    dtype = known.dtype
    if new.any():
        unseen = text.filter(pa.array(new))
        extra = sorted(str(v) for v in pc.unique(unseen).to_pylist())
        where = pc.index_in(unseen, value_set=pa.array(extra, type=pa.large_string()))
        codes[new] = len(known.values) + np.asarray(where.to_numpy(zero_copy_only=False))
        dtype = pd.CategoricalDtype(known.values + extra)
    return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype), index=values.index)


def build_table(
    sources: Sources,
    *,
    exclude: Iterable[str] = (),
    windows: Sequence[int] = (30, 90, 365),
    smoothing: float = 20.0,
) -> pd.DataFrame:
    """The point-in-time training table: one row per declaration, in input order.

    Columns: ``declaration_id``, ``declared_at``, ``corridor_id`` (not a feature), the label
    columns present (``inspected``, ``seized``, ``seized_kg``, ``drug_type``,
    ``inspected_at``, ``selected_by``; null where a declaration has no label), then the
    features. ``attrs``: ``feature_names``, ``categorical_features``, ``groups_absent``.
    """
    pipeline = FeaturePipeline(windows=windows, smoothing=smoothing, exclude=exclude)
    facts = _history_facts(sources, pipeline.windows, pipeline.smoothing)
    frame, meta = pipeline._compute(facts, sources)
    frame = frame[[*_META, *meta["feature_names"]]]
    for name in meta["categorical_features"]:
        frame[name] = _as_category(frame[name], [])
    labels = sources.labels
    if labels is not None:
        present = [c for c in LABEL_COLUMNS if c in labels.columns]
        joined = (
            labels.drop_duplicates("declaration_id")
            .set_index("declaration_id")[present]
            .reindex(frame["declaration_id"].to_numpy())
            .reset_index(drop=True)
        )
        frame = pd.concat([frame[list(_META)], joined, frame[meta["feature_names"]]], axis=1)
    frame.attrs.update(meta)
    return frame
