"""Invariants on arbitrary input: never a crash, every span inside the text."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testigo.errors import RefusedInputError
from testigo.extract import decode_text, extract_article

WORDS = st.sampled_from(
    [
        "ICE",
        "said",
        '"',
        "“",
        "”",
        "Police",
        "Kansas",
        "City",
        "María",
        "López,",
        "32,",
        "on",
        "Thursday",
        "agents",
        "broke",
        "the",
        "window.",
        "\n",
        "according",
        "to",
        "he",
        "de",
        "dijo",
        "Sheriff's",
        "County",
        "March",
        "3,",
        "2020",
        "—",
        "(AP)",
        "five",
        "days",
        "later",
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(WORDS, max_size=80).map(" ".join))
def test_spans_are_inside_text(text: str) -> None:
    d = extract_article(text).to_dict()
    n = len(d["text"])
    items = d["quotes"] + d["people"] + d["agency_mentions"] + d["numbers"] + d["events"]
    for item in items:
        assert 0 <= item["start"] <= item["end"] <= n
    for q in d["quotes"]:
        assert d["text"][q["start"] : q["end"]] == q["text"]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_bytes_never_crash(data: bytes) -> None:
    try:
        text = decode_text(data)
    except RefusedInputError:
        return
    assert "\x00" not in text
    extract_article(data)
