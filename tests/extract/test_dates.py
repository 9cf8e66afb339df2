from __future__ import annotations

import datetime as dt

from testigo.extract import extract_article
from testigo.extract.dates import choose_incident_date, find_dates, parse_date_line
from testigo.extract.text import parse


def _dates(body: str, published: dt.date | None) -> list[tuple[str, str | None, str]]:
    doc = parse("Headline\n\n" + body)
    return [(d.text, d.value, d.precision) for d in find_dates(doc, published)]


def test_date_line_formats() -> None:
    for line, value in [
        ("May 13, 2025", "2025-05-13"),
        ("Published Nov. 7, 2025 10:32 a.m.", "2025-11-07"),
        ("2024-03-15T09:00", "2024-03-15"),
        ("15 de marzo de 2024", "2024-03-15"),
    ]:
        mention = parse_date_line(line)
        assert mention is not None and mention.value == value


def test_weekdays_resolve_backwards_from_publication() -> None:
    friday = dt.date(2025, 11, 7)
    found = _dates("On Thursday agents came. She spoke Friday. It was last Friday too.", friday)
    assert found == [
        ("Thursday", "2025-11-06", "day"),
        ("Friday", "2025-11-07", "day"),
        ("last Friday", "2025-10-31", "day"),
    ]


def test_precision_and_relative_offsets() -> None:
    found = _dates("He was ordered out in 2011 and came back five days later.", dt.date(2020, 1, 1))
    assert found == [("in 2011", "2011", "year"), ("five days later", "2011", "year")]
    found = _dates("The order came March 3, 2019, and two days later he left.", None)
    assert found == [
        ("March 3, 2019", "2019-03-03", "day"),
        ("two days later", "2019-03-05", "day"),
    ]


def test_month_day_without_year() -> None:
    assert _dates("On Oct. 23 agents tried.", None) == [("Oct. 23", "--10-23", "day")]
    assert _dates("On Dec. 30 agents tried.", dt.date(2025, 1, 4)) == [
        ("Dec. 30", "2024-12-30", "day")
    ]
    assert _dates("It happened last month.", dt.date(2025, 5, 13)) == [
        ("last month", "2025-04", "month")
    ]


def test_spanish_dates() -> None:
    found = _dates("El martes los agentes llegaron. Hace dos días hablaron.", dt.date(2024, 3, 15))
    assert ("martes", "2024-03-12", "day") in found
    assert ("Hace dos días", "2024-03-13", "day") in found


def test_incident_is_earliest_recent_day() -> None:
    doc = parse("H\nMarch 10, 2018\n\nThe agency said Friday. Filmed March 3. In 2011 he left.")
    published = dt.date(2018, 3, 10)
    chosen = choose_incident_date(find_dates(doc, published), published)
    assert chosen is not None and chosen.value == "2018-03-03"


def test_no_anchor_no_incident_date() -> None:
    result = extract_article("Title\n\nOn Tuesday agents detained a man in Denver, Colorado.")
    assert result.incident_date is None
    assert any("publication date" in w for w in result.warnings)
