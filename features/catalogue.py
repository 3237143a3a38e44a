"""The feature catalogue: every feature's name, group, kind and a plain-language template.

Reviewers read a feature through its template: ``describe("importer_flags_90d", 3)`` gives
"the importer had 3 financial flags in the 90 days before". Windowed names (``..._90d``)
and mapping extras (``extra_...``) are generated, so the catalogue covers any window set
and any mapping; :func:`catalogue_frame` and :func:`catalogue_json` make it a table or JSON.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import pandas as pd

from features.financial import FLAG_ROLES, FLAG_TYPES
from features.profiles import RECENT_ATTRIBUTES, RECENT_WINDOW_DAYS, profile_attributes

__all__ = [
    "DEFAULT_WINDOWS",
    "GROUPS",
    "FeatureInfo",
    "catalogue",
    "catalogue_frame",
    "catalogue_json",
    "describe",
    "feature_info",
]

DEFAULT_WINDOWS: tuple[int, ...] = (30, 90, 365)

GROUPS: tuple[str, ...] = (
    "declaration",
    "importer_history",
    "declarant_history",
    "exporter_history",
    "pair_history",
    "profile",
    "financial",
    "route",
    "corridor",
    "extra",
)
"""Feature groups, the units of ``exclude`` and of ``groups_absent``."""


@dataclass(frozen=True)
class FeatureInfo:
    """One feature: stable name, group, ``numeric``/``categorical``, and reviewer template.

    The template is a ``str.format`` string with ``{value}``.
    """

    name: str
    group: str
    kind: str
    template: str


_ROLE_WORDS = {
    "importer": "the importer",
    "declarant": "the declarant (broker)",
    "exporter": "the exporter",
    "pair": "this importer and declarant together",
}

_DECLARATION: tuple[tuple[str, str, str], ...] = (
    ("hs_chapter", "categorical", "HS chapter {value}"),
    ("hs_heading", "categorical", "HS heading {value}"),
    ("hs_subheading", "categorical", "HS subheading {value}"),
    ("transport_mode", "categorical", "transport by {value}"),
    ("origin_country", "categorical", "goods originate in {value}"),
    ("declared_weekday", "numeric", "declared on weekday {value:.0f} (0 = Monday)"),
    ("declared_month", "numeric", "declared in month {value:.0f}"),
    ("declared_hour", "numeric", "declared at hour {value:.0f} (UTC)"),
    ("declared_value_usd", "numeric", "declared value of {value:,.2f} USD"),
    ("gross_weight_kg", "numeric", "gross weight of {value:,.1f} kg"),
    ("quantity", "numeric", "quantity of {value:,.0f} units"),
    ("total_taxes_usd", "numeric", "total taxes of {value:,.2f} USD"),
    ("value_per_quantity", "numeric", "declared value of {value:,.2f} USD per unit of quantity"),
    ("value_per_kg", "numeric", "declared value of {value:,.2f} USD per kg"),
    ("kg_per_quantity", "numeric", "{value:,.3f} kg per unit of quantity"),
    (
        "value_per_quantity_z_hs",
        "numeric",
        "value per unit is {value:+.1f} standard deviations from earlier declarations of "
        "the same HS subheading",
    ),
    (
        "value_per_quantity_z_hs_origin",
        "numeric",
        "value per unit is {value:+.1f} standard deviations from earlier declarations of "
        "the same HS subheading and origin",
    ),
    (
        "value_per_kg_z_hs",
        "numeric",
        "value per kg is {value:+.1f} standard deviations from earlier declarations of the "
        "same HS subheading",
    ),
    (
        "value_per_kg_z_hs_origin",
        "numeric",
        "value per kg is {value:+.1f} standard deviations from earlier declarations of the "
        "same HS subheading and origin",
    ),
    (
        "kg_per_quantity_z_hs",
        "numeric",
        "weight per unit is {value:+.1f} standard deviations from earlier declarations of "
        "the same HS subheading",
    ),
    (
        "hs_past_declarations",
        "numeric",
        "{value:.0f} earlier declarations of the same HS subheading with a value per kg",
    ),
    ("tax_ratio", "numeric", "taxes are {value:.1%} of the declared value"),
    (
        "container_declarations_30d",
        "numeric",
        "{value:.0f} declarations shared this container in the 30 days up to this one",
    ),
    (
        "container_total_kg",
        "numeric",
        "{value:,.0f} kg declared in this container over the 30 days up to this one",
    ),
    (
        "origin_differs_export",
        "numeric",
        "origin differs from export country: {value:.0f} (1 = yes)",
    ),
    ("description_vague", "numeric", "vague goods description: {value:.0f} (1 = yes)"),
    ("description_words", "numeric", "goods description has {value:.0f} words"),
    (
        "description_hs_mismatch",
        "numeric",
        "goods description does not fit the HS chapter: {value:.0f} (1 = yes)",
    ),
)


def _declaration() -> list[FeatureInfo]:
    return [FeatureInfo(n, "declaration", k, t) for n, k, t in _DECLARATION]


def _history(windows: Sequence[int]) -> list[FeatureInfo]:
    out: list[FeatureInfo] = []
    for role, who in _ROLE_WORDS.items():
        group = f"{role}_history"
        first = "first declaration" if role != "pair" else "first declaration together"
        out.append(
            FeatureInfo(
                f"{role}_age_days",
                group,
                "numeric",
                f"{who} first declared {{value:.0f}} days before",
            )
        )
        out.append(
            FeatureInfo(f"{role}_first_time", group, "numeric", f"{first}: {{value:.0f}} (1 = yes)")
        )
        out += [
            FeatureInfo(
                f"{role}_declarations_{w}d",
                group,
                "numeric",
                f"{who} made {{value:.0f}} declarations in the {w} days before",
            )
            for w in windows
        ]
        out += [
            FeatureInfo(
                f"{role}_inspections",
                group,
                "numeric",
                f"{who} had {{value:.0f}} inspections with a known outcome before",
            ),
            FeatureInfo(
                f"{role}_seizures",
                group,
                "numeric",
                f"{who} had {{value:.0f}} seizures known before",
            ),
            FeatureInfo(
                f"{role}_seizure_rate",
                group,
                "numeric",
                f"{who}'s past seizure rate (smoothed toward the overall rate) is {{value:.1%}}",
            ),
        ]
        if role == "declarant":
            out.append(
                FeatureInfo(
                    "declarant_young_client_share_365d",
                    group,
                    "numeric",
                    "{value:.0%} of the declarant's declarations in the 365 days before were "
                    "for importers that had started declaring less than 90 days earlier",
                )
            )
    return out


def _financial(windows: Sequence[int]) -> list[FeatureInfo]:
    out: list[FeatureInfo] = []
    for role in FLAG_ROLES:
        who = _ROLE_WORDS[role]
        for w in windows:
            out.append(
                FeatureInfo(
                    f"{role}_flags_{w}d",
                    "financial",
                    "numeric",
                    f"{who} had {{value:.0f}} financial flags in the {w} days before",
                )
            )
            out += [
                FeatureInfo(
                    f"{role}_flags_{kind}_{w}d",
                    "financial",
                    "numeric",
                    f"{who} had {{value:.0f}} {kind.replace('_', ' ')} flags "
                    f"in the {w} days before",
                )
                for kind in FLAG_TYPES
            ]
            out.append(
                FeatureInfo(
                    f"{role}_flag_amount_usd_{w}d",
                    "financial",
                    "numeric",
                    f"financial flags on {who} in the {w} days before total {{value:,.0f}} USD",
                )
            )
        out.append(
            FeatureInfo(
                f"{role}_days_since_flag",
                "financial",
                "numeric",
                f"{who}'s last financial flag was {{value:.0f}} days before",
            )
        )
    return out


_ROUTE: tuple[tuple[str, str, str], ...] = (
    ("route_legs", "route", "the route has {value:.0f} legs"),
    ("route_transshipments", "route", "the route has {value:.0f} transshipments"),
    ("route_dwell_hours_total", "route", "{value:.0f} hours spent in ports between legs"),
    ("route_dwell_hours_max", "route", "longest stay in a port between legs: {value:.0f} hours"),
    ("route_ais_gap_hours_total", "route", "{value:.0f} hours without AIS signal in total"),
    ("route_ais_gap_hours_max", "route", "longest AIS gap: {value:.0f} hours"),
    ("route_km", "route", "the route is {value:,.0f} km long"),
    (
        "route_length_vs_usual",
        "route",
        "the route is {value:.2f} times the usual length for this origin and entry port",
    ),
    (
        "corridor_inspections",
        "corridor",
        "{value:.0f} inspections on this corridor with a known outcome before",
    ),
    ("corridor_seizures", "corridor", "{value:.0f} seizures on this corridor known before"),
    (
        "corridor_seizure_rate",
        "corridor",
        "the corridor's past seizure rate (smoothed) is {value:.1%}",
    ),
    (
        "port_max_seizure_rate",
        "corridor",
        "the riskiest port on the route had a past seizure rate (smoothed) of {value:.1%}",
    ),
    (
        "port_high_risk_count",
        "corridor",
        "the route passes {value:.0f} ports with a past seizure rate above twice the overall rate",
    ),
)


def _route(windows: Sequence[int]) -> list[FeatureInfo]:
    out = [FeatureInfo(n, g, "numeric", t) for n, g, t in _ROUTE]
    out += [
        FeatureInfo(
            f"corridor_declarations_{w}d",
            "corridor",
            "numeric",
            f"{{value:.0f}} declarations on this corridor in the {w} days before",
        )
        for w in windows
    ]
    return out


_PROFILE_WORDS: dict[str, tuple[str, str]] = {
    "hs_chapter": ("this HS chapter", "the overall rate"),
    "hs_heading": ("this HS heading", "its chapter's rate"),
    "hs_subheading": ("this HS subheading", "its heading's rate"),
    "hs_code": ("this exact HS code", "its subheading's rate"),
    "origin_country": ("goods from this origin country", "the overall rate"),
    "export_country": ("goods exported from this country", "the overall rate"),
    "customs_office": ("this customs office", "the overall rate"),
    "port_of_loading": ("this port of loading", "the overall rate"),
    "port_of_entry": ("this port of entry", "the overall rate"),
    "transport_mode": ("this transport mode", "the overall rate"),
}
"""Profiled attribute -> (what the declarations share, what its rate is shrunk toward)."""

_PROFILE_EXTRA = re.compile(r"^profile_(extra_.+?)_(seizure_rate|inspections)(_\d+d)?$")


def _profile_entries(attribute: str, *, recent: bool) -> list[FeatureInfo]:
    """Profile features of one attribute (``recent``: with its 90-day window too)."""
    if attribute in _PROFILE_WORDS:
        what, toward = _PROFILE_WORDS[attribute]
    else:
        what = f"declarations with this {attribute.removeprefix('extra_').replace('_', ' ')}"
        toward = "the overall rate"
    name = f"profile_{attribute}"
    out = [
        FeatureInfo(
            f"{name}_seizure_rate",
            "profile",
            "numeric",
            f"past seizure rate of {what} is {{value:.1%}} (few inspections: pulled toward "
            f"{toward})",
        ),
        FeatureInfo(
            f"{name}_inspections",
            "profile",
            "numeric",
            f"{{value:,.0f}} earlier inspections of {what} with a known outcome",
        ),
    ]
    if recent:
        w = RECENT_WINDOW_DAYS
        out += [
            FeatureInfo(
                f"{name}_seizure_rate_{w}d",
                "profile",
                "numeric",
                f"seizure rate of {what} over outcomes known in the last {w} days is "
                f"{{value:.1%}} (few inspections: pulled toward its long-run rate)",
            ),
            FeatureInfo(
                f"{name}_inspections_{w}d",
                "profile",
                "numeric",
                f"{{value:,.0f}} inspections of {what} with an outcome known in the last {w} days",
            ),
        ]
    return out


def _profiles(extra_categorical: Iterable[str]) -> list[FeatureInfo]:
    out: list[FeatureInfo] = []
    for attribute in profile_attributes():
        out += _profile_entries(attribute, recent=attribute in RECENT_ATTRIBUTES)
    for name in extra_categorical:
        out += _profile_entries(name, recent=False)
    return out


def _extra(name: str, kind: str) -> FeatureInfo:
    return FeatureInfo(name, "extra", kind, f"{name.removeprefix('extra_')} is {{value}}")


def catalogue(
    *,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    extra_categorical: Iterable[str] = (),
    extra_numeric: Iterable[str] = (),
) -> list[FeatureInfo]:
    """Every feature the pipeline can produce with these windows and extra feature names."""
    extra_categorical = list(extra_categorical)
    entries = [*_declaration(), *_history(windows), *_profiles(extra_categorical)]
    entries += [*_financial(windows), *_route(windows)]
    entries += [_extra(n, "categorical") for n in extra_categorical]
    entries += [_extra(n, "numeric") for n in extra_numeric]
    return entries


def _windows_in(names: Iterable[str]) -> tuple[int, ...]:
    found = {int(m.group(1)) for n in names if (m := re.search(r"_(\d+)d$", n))}
    return tuple(sorted(set(DEFAULT_WINDOWS) | found))


def feature_info(name: str) -> FeatureInfo:
    """The catalogue entry of one feature name (extras get a generic entry)."""
    if name.startswith("extra_"):
        return _extra(name, "numeric")
    if match := _PROFILE_EXTRA.match(name):
        for entry in _profile_entries(match.group(1), recent=False):
            if entry.name == name:
                return entry
    for entry in catalogue(windows=_windows_in([name])):
        if entry.name == name:
            return entry
    raise KeyError(f"feature {name!r} is not in the catalogue")


def describe(name: str, value: object) -> str:
    """The reviewer's sentence for ``name`` at ``value`` ("unknown" when missing)."""
    info = feature_info(name)
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        # a template's label before "{value}" when it is one ("longest AIS gap: ..."); for
        # a template that starts with its value, the words after it ("{value} hours without
        # AIS signal in total"); else the feature's name in words (a sentence cut before its
        # value reads wrongly)
        prefix, _, rest = info.template.partition("{value")
        prefix = prefix.strip()
        suffix = rest.partition("}")[2].strip()
        if prefix.endswith(":"):
            label = prefix[:-1]
        elif not prefix and suffix and not suffix.startswith(("of ", "%")):
            label = suffix
        else:
            label = name.replace("_", " ")
        return f"{label}: not known (missing, or no earlier facts)"
    try:
        return info.template.format(value=value)
    except (ValueError, TypeError):
        return f"{name} = {value}"


def catalogue_frame(names: Iterable[str] | None = None) -> pd.DataFrame:
    """The catalogue as a table (name, group, kind, template); only ``names`` when given."""
    if names is None:
        entries = catalogue()
    else:
        wanted = list(names)
        entries = [feature_info(n) for n in wanted]
    return pd.DataFrame([asdict(e) for e in entries], columns=["name", "group", "kind", "template"])


def catalogue_json(names: Iterable[str] | None = None) -> str:
    """The catalogue as JSON: a list of {name, group, kind, template}."""
    return json.dumps(catalogue_frame(names).to_dict(orient="records"), indent=2)
