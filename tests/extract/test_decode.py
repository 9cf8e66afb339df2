from __future__ import annotations

import pytest

from testigo.errors import RefusedInputError
from testigo.extract import decode_text, extract_article
from testigo.extract.decode import is_html

TEXT = "Agents detained Señora Peña in Chicago, Illinois, on Monday, witnesses said."


def test_utf8_and_bom() -> None:
    assert decode_text(TEXT.encode("utf-8")) == TEXT
    assert decode_text(b"\xef\xbb\xbf" + TEXT.encode("utf-8")) == TEXT


@pytest.mark.parametrize("codec", ["latin-1", "cp1252"])
def test_single_byte_encodings(codec: str) -> None:
    assert decode_text(TEXT.encode(codec)) == TEXT


def test_cp1252_smart_quotes() -> None:
    raw = "\u201cWe left,\u201d she said \u2014 twice.".encode("cp1252")
    assert decode_text(raw) == "\u201cWe left,\u201d she said \u2014 twice."


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32(codec: str) -> None:
    assert decode_text(TEXT.encode(codec)) == TEXT


def test_line_endings_are_normalised() -> None:
    assert decode_text(b"one\r\ntwo\rthree") == "one\ntwo\nthree"


def test_binary_is_refused() -> None:
    with pytest.raises(RefusedInputError):
        decode_text(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00")
    with pytest.raises(RefusedInputError):
        extract_article(bytes(range(256)) * 10)


def test_control_characters_are_refused() -> None:
    with pytest.raises(RefusedInputError):
        decode_text(b"\x01\x02\x03\x04\x05\x06\x07\x08" * 50)


def test_empty_input_gives_a_clean_empty_result() -> None:
    for data in (b"", "", "   \n\n  "):
        result = extract_article(data)
        assert result.text.strip() == ""
        assert result.people == [] and result.quotes == [] and result.agencies == []
        assert result.warnings
        assert result.to_dict()["published"] is None


def test_size_limit_default_and_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    big = b"word " * (2 * 1024 * 1024)  # 10 MB
    with pytest.raises(RefusedInputError, match="limit"):
        extract_article(big)
    with pytest.raises(RefusedInputError):
        extract_article(TEXT * 10, max_bytes=100)
    monkeypatch.setenv("TESTIGO_EXTRACT_MAX_BYTES", "50")
    with pytest.raises(RefusedInputError):
        extract_article(TEXT)


def test_html_full_of_scripts_gives_clean_result() -> None:
    page = "<html><head><script>" + "var a = '<p>x</p>';" * 2000 + "</script></head>"
    page += "<body><script>alert(1)</script><style>p{}</style></body></html>"
    result = extract_article(page.encode(), content_type="text/html")
    assert result.quotes == [] and result.people == []
    assert any("no article text" in w for w in result.warnings)


def test_html_article_goes_through_trafilatura() -> None:
    page = """<html><head><title>Deputies detain farmworker | The Valley Ledger</title>
    <meta property="og:site_name" content="The Valley Ledger">
    <meta property="article:published_time" content="2024-08-09T08:00:00Z"></head>
    <body><nav>Home | Sports</nav><script>track()</script><article>
    <h1>Deputies detain farmworker</h1>
    <p>Kern County sheriff's deputies detained a farmworker on Wednesday outside a packing
    house in Bakersfield, California, and handed him to U.S. Immigration and Customs
    Enforcement, the sheriff's office said.</p>
    <p>"He was only going to work," said his sister, Noemi Castellanos, 33.</p>
    </article><footer>Copyright</footer></body></html>"""
    result = extract_article(page.encode(), filename="story.html")
    assert result.published is not None and result.published.value == "2024-08-09"
    assert result.incident_date is not None and result.incident_date.value == "2024-08-07"
    assert result.outlet == "The Valley Ledger"
    assert "track()" not in result.text and "Sports" not in result.text
    assert result.location.city == "Bakersfield"
    names = {p.name for p in result.people}
    assert "Noemi Castellanos" in names
    assert result.quotes and result.quotes[0].speaker == "Noemi Castellanos"
    for q in result.quotes:
        assert result.text[q.start : q.end] == q.text


def test_html_detection() -> None:
    assert is_html(b"<!DOCTYPE html><html>", None, None)
    assert is_html(b"plain", "text/html; charset=utf-8", None)
    assert not is_html(b"<p>x</p>", "text/plain", None)
    assert not is_html(b"Just words.", None, "a.txt")


@pytest.mark.parametrize(
    "hostile",
    [
        "A " * 20_000,
        '"' * 40_000,
        "“" + "word " * 10_000,
        "Tulsa police " * 2_000,
        "a, " * 10_000 + "said",
        ("Mr. " * 10_000) + "said",
        "ICE spokesman " * 3_000,
        "(" * 20_000 + "said",
        "0," * 20_000 + " views",
    ],
)
def test_hostile_text_finishes(hostile: str) -> None:
    """Patterns are linear: these would hang a backtracking-prone expression."""
    result = extract_article(hostile)
    assert result.text == hostile
