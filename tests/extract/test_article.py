"""Behaviour on small invented passages: people, quotes, subjects, force, legal, media."""

from __future__ import annotations

from testigo.extract import ArticleExtraction, extract_article

STORY = """Agents break window in Tacoma arrest
April 12, 2024

TACOMA, Wash. — Federal agents broke the window of a pickup truck on Wednesday and dragged
Osvaldo Quintanilla, 38, onto the pavement while his two children watched from the back seat.

A neighbor, Priya Castellano, filmed the arrest in a 12-minute Instagram Live video that drew
more than 80,000 views. "They didn't even say who they were," Castellano told the Tacoma Star.

ICE spokeswoman Laurel Pinkney said officers had an administrative warrant and that Quintanilla
had been ordered removed in 2016. He was released on bond later that week, his attorney said.

"We are reviewing the incident," said Pinkney. "Officer safety comes first."

According to Pinkney, the officers "acted within policy." She added that no one was hurt.

Quintanilla is being held at the Northwest ICE Processing Center.
"""


def _result() -> ArticleExtraction:
    return extract_article(STORY)


def test_header_and_dates() -> None:
    r = _result()
    assert r.title == "Agents break window in Tacoma arrest"
    assert r.published is not None and r.published.value == "2024-04-12"
    assert r.incident_date is not None and r.incident_date.value == "2024-04-10"
    assert r.location.city == "Tacoma" and r.location.state == "Washington"
    assert r.location.country_code == "US" and r.location.latitude is not None


def test_people_titles_ages_roles() -> None:
    people = {p.name: p for p in _result().people}
    assert set(people) == {"Osvaldo Quintanilla", "Priya Castellano", "Laurel Pinkney"}
    assert people["Osvaldo Quintanilla"].age == 38
    assert people["Osvaldo Quintanilla"].role == "arrested"
    assert people["Laurel Pinkney"].title == "spokeswoman"
    assert people["Laurel Pinkney"].affiliation == "U.S. Immigration and Customs Enforcement"
    assert people["Laurel Pinkney"].role == "spokesperson"
    assert len(people["Laurel Pinkney"].mentions) >= 3


def test_quotes_and_speakers() -> None:
    quotes = [q for q in _result().quotes if q.kind != "reported"]
    by_text = {q.text.split()[0]: q for q in quotes}
    assert by_text["They"].speaker == "Priya Castellano"
    assert by_text["We"].speaker == "Laurel Pinkney"
    assert [p.text for p in by_text["We"].parts][-1] == "Officer safety comes first."
    assert by_text["acted"].speaker == "Laurel Pinkney" and by_text["acted"].kind == "partial"
    reported = [q for q in _result().quotes if q.kind == "reported"]
    assert any(q.speaker == "Laurel Pinkney" for q in reported)


def test_facts() -> None:
    r = _result()
    assert r.use_of_force is True
    assert r.detention_facility is not None
    assert r.detention_facility.text == "Northwest ICE Processing Center"
    kinds = {f.kind for f in r.legal}
    assert {"warrant_administrative", "removal_order", "bond"} <= kinds
    media = r.media[0]
    assert (media.kind, media.platform) == ("livestream", "Instagram Live")
    assert media.duration == "12-minute" or media.views == "more than 80,000 views"
    assert any(n.counts == "children" and n.value == 2 for n in r.numbers)
    assert any(s.count == 2 and "children" in s.description for s in r.subjects)


def test_every_span_points_at_its_text() -> None:
    r = _result()
    d = r.to_dict()
    text = d["text"]
    for q in d["quotes"]:
        assert text[q["start"] : q["end"]] == q["text"]
        for part in q["parts"]:
            assert text[part["start"] : part["end"]] == part["text"]
    for p in d["people"]:
        for m in p["mentions"]:
            assert text[m["start"] : m["end"]] == m["text"]
    for a in d["agency_mentions"]:
        assert text[a["start"] : a["end"]] == a["text"]
    for item in d["dates"]:
        assert text[item["start"] : item["end"]] == item["text"]
    for n in d["numbers"]:
        assert text[n["start"] : n["end"]] == n["text"]
    for f in d["events"] + d["legal"] + d["injuries"]:
        assert text[f["start"] : f["end"]] == f["text"]


def test_use_of_force_false_and_null() -> None:
    calm = "Title\n\nDeputies arrested the man without incident at his home in Reno, Nevada."
    assert extract_article(calm).use_of_force is False
    silent = "Title\n\nAgents arrested a man at his home in Reno, Nevada, on Monday."
    assert extract_article(silent).use_of_force is None


def test_to_dict_keys() -> None:
    d = _result().to_dict()
    required = {
        "title",
        "outlet",
        "published",
        "incident_date",
        "location",
        "agencies",
        "people",
        "quotes",
        "events",
        "use_of_force",
        "injuries",
        "detention_facility",
        "legal",
        "media",
        "numbers",
        "text",
        "language",
        "subjects",
        "places",
        "dates",
        "warnings",
    }
    assert required <= set(d)
    assert set(d["location"]) >= {"city", "state", "country"}
    assert set(d["people"][0]) >= {"name", "title", "affiliation", "age", "role", "start", "end"}
    assert set(d["quotes"][0]) >= {"speaker", "affiliation", "text", "start", "end"}
    assert all(isinstance(a, str) for a in d["agencies"])


def test_name_in_quotation_marks_is_not_a_quote() -> None:
    text = (
        "Title\n\nThe woman, who posts online as \u201cSunny Daze,\u201d said agents took her "
        "\u201conly car\u201d in Fresno, California."
    )
    quotes = [q for q in extract_article(text).quotes if q.kind != "reported"]
    assert [q.text for q in quotes] == ["only car"]
    assert quotes[0].speaker == "Sunny Daze"


def test_label_without_speech_is_not_a_quote() -> None:
    text = 'Title\n\nThe agents wore vests marked "POLICE" in Yakima, Washington.'
    assert extract_article(text).quotes == []


def test_spanish_dialogue_dashes() -> None:
    text = (
        "Vecinos protestan tras redada\n4 de abril de 2025\n\n"
        "Agentes de ICE detuvieron el jueves a dos hombres en Pasadena, California.\n\n"
        "—No tenemos miedo —dijo Ana Ruiz Camacho, vecina del barrio—. Vamos a seguir.\n\n"
        "—Esto fue un abuso —afirmó el portavoz de la coalición, Julián Ferrer.\n"
    )
    r = extract_article(text)
    assert r.language == "es"
    assert [(q.text, q.speaker) for q in r.quotes] == [
        ("No tenemos miedo", "Ana Ruiz Camacho"),
        ("Esto fue un abuso", "Julián Ferrer"),
    ]
    assert [p.text for p in r.quotes[0].parts] == ["No tenemos miedo", "Vamos a seguir."]
    assert r.incident_date is not None and r.incident_date.value == "2025-04-03"
