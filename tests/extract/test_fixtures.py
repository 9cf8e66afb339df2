"""Invented articles (fictional people, other cities, one in Spanish): generalisation checks."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from testigo.extract import extract_article

from .conftest import FIXTURES

ARTICLES = sorted(FIXTURES.glob("*.txt"))


def _gold(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.with_name(path.stem + ".gold.json").read_text("utf-8"))
    return data


@pytest.mark.parametrize("path", ARTICLES, ids=[p.stem for p in ARTICLES])
def test_fixture_matches_expected(path: Path, scorer: ModuleType) -> None:
    gold = _gold(path)
    pred = extract_article(path.read_bytes(), filename=path.name).to_dict()
    assert pred["published"] == gold["published"]
    assert pred["incident_date"] == gold["incident_date"]
    assert pred["use_of_force"] == gold["use_of_force"]
    for level in ("city", "state"):
        assert pred["location"][level] == gold["location"][level]
    assert {scorer.agency_key(a) for a in pred["agencies"]} == {
        scorer.agency_key(a) for a in gold["agencies"]
    }
    assert sorted(p["name"] for p in pred["people"]) == sorted(p["name"] for p in gold["people"])
    assert scorer.score_quotes(gold["quotes"], pred["quotes"]).fn == 0
    facility = pred["detention_facility"]
    assert (facility is None) == (gold["detention_facility"] is None)


def test_spanish_fixture_language_and_dates() -> None:
    path = next(p for p in ARTICLES if "santa-ana" in p.name)
    result = extract_article(path.read_bytes())
    assert result.language == "es"
    assert any(d.text == "martes" and d.value == "2024-03-12" for d in result.dates)
    assert any(f.kind == "removal_order" for f in result.legal)


def test_fixtures_overall_f1(scorer: ModuleType) -> None:
    totals = scorer.run(FIXTURES, "dev", False)
    overall = scorer.Count()
    for count in totals.values():
        overall.add(count)
    assert overall.f1 >= 0.85
