"""The project corpus (../shared/corpus): the dev-set score must stay at or above 0.85."""

from __future__ import annotations

from types import ModuleType

import pytest

from testigo.extract import extract_article

from .conftest import CORPUS

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")


@pytest.mark.parametrize("which", ["dev", "seed"])
def test_micro_f1(scorer: ModuleType, which: str) -> None:
    totals = scorer.run(CORPUS, which, False)
    overall = scorer.Count()
    for count in totals.values():
        overall.add(count)
    assert overall.f1 >= 0.85


def test_spans_index_the_returned_text() -> None:
    for path in sorted(CORPUS.glob("*/*.txt")):
        d = extract_article(path.read_bytes(), filename=path.name).to_dict()
        text = d["text"]
        for q in d["quotes"]:
            assert text[q["start"] : q["end"]] == q["text"]
        for p in d["people"]:
            assert text[p["start"] : p["end"]] == p["name"] or p["name"] in text
