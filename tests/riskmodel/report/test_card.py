"""The model card's Markdown: every section present, values from data escaped."""

from __future__ import annotations

from types import SimpleNamespace

from riskmodel.report.card import card_from_meta, card_markdown

HOSTILE = "<img src=x onerror=alert(1)>|pipe"


def _card() -> dict:  # type: ignore[type-arg]
    return {
        "intended_use": ["rank declarations"],
        "data": {
            "window": {"training_cutoff": "2024-01-01T00:00:00"},
            "sources": [{"source": "declarations", "rows": 10, "sha256": "ab"}],
            "rows": {"train": 8},
        },
        "features": [{"group": "declaration", "count": 1, "names": ["hs_chapter"]}],
        "groups_absent": ["financial"],
        "figures": {
            "columns": ["precision_at_5pct"],
            "rows": [{"scorer": "model", "precision_at_5pct": 0.25}],
        },
        "calibration": {
            "brier": 0.05,
            "reliability": [{"mean_predicted": 0.1, "observed_rate": 0.12, "count": 40}],
        },
        "limits": ["few seizures"],
        "burden": {
            "budget": 0.05,
            "declarations": 100,
            "origin_country": [
                {
                    "value": HOSTILE,
                    "declarations": 100,
                    "share_of_batch": 1.0,
                    "share_of_opened": 1.0,
                    "opened_rate": 0.05,
                }
            ],
        },
    }


def test_markdown_has_every_section_and_escapes_data() -> None:
    text = card_markdown(_card(), name="seizure-risk", version=3, run_id="abc")
    assert text.startswith("# Model card: seizure-risk version 3\n")
    for heading in (
        "## Intended use",
        "## Training data",
        "## Features by group",
        "## Figures on the test period, against the baselines",
        "## Calibration",
        "## Known limits",
        "## Inspection burden on the test period",
        "### origin country",
    ):
        assert heading in text
    assert HOSTILE not in text and "<img" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;\\|pipe" in text
    assert "| model | 0.250 |" in text and "Brier score: 0.05000" in text


def test_a_model_without_a_card_gets_a_partial_one() -> None:
    model = SimpleNamespace(
        meta={"split": {"test_start": "2024-03-01"}, "training_cutoff": "2024-01-01"},
        feature_names=["hs_chapter", "importer_flags_30d", "extra_office"],
    )
    card = card_from_meta(model)  # type: ignore[arg-type]
    groups = {g["group"]: g["names"] for g in card["features"]}
    assert groups == {
        "declaration": ["hs_chapter"],
        "financial": ["importer_flags_30d"],
        "extra": ["extra_office"],
    }
    assert "before model cards existed" in card["limits"][-1]
    assert "Not recorded in this model." in card_markdown(card)
