"""Every message in the templates has a Spanish translation, and language choice works."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from testigo.web import i18n

WEB = Path(i18n.__file__).parent


def _template_messages() -> set[str]:
    found: set[str] = set()
    # Each part of the app keeps its own catalog; this checks the pages of messages.po.
    for name, _line, message, _comments, _context in extract_from_dir(
        str(WEB / "templates"),
        method_map=[("**.html", "jinja2")],
        options_map={"**.html": {"extensions": "jinja2.ext.i18n"}},
    ):
        if not name.startswith("capture"):
            found.add(message[0] if isinstance(message, tuple) else message)
    for name, _line, message, _comments, _context in extract_from_dir(
        str(WEB), method_map=[("*.py", "python")], keywords={"gettext_": None}
    ):
        if not name.startswith("capture"):
            found.add(message[0] if isinstance(message, tuple) else message)
    return {m for m in found if m}


def test_every_message_has_a_spanish_translation() -> None:
    with (WEB / "locale/es/LC_MESSAGES/messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="es")
    missing = sorted(m for m in _template_messages() if not (catalog.get(m) and catalog[m].string))
    assert not missing, missing


def test_language_choice() -> None:
    assert i18n.choose(None, "es-MX,es;q=0.9,en;q=0.8") == "es"
    assert i18n.choose(None, "en-US,es;q=0.5") == "en"
    assert i18n.choose(None, "fr-FR, de") == "en"
    assert i18n.choose("es", "en") == "es"
    assert i18n.choose("xx", "es") == "es"
    i18n.set_language("es")
    try:
        assert i18n.gettext_("Timeline") == "Cronología"
    finally:
        i18n.set_language("en")
