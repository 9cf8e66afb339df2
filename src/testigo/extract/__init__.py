"""Text -> facts with citations: every fact the extractor returns points at a span of ``text``.

``extract_article`` is the entry point the CLI and the incident records use; ``Extractor`` is the
interface a later statistical or LLM backend implements.
"""

from __future__ import annotations

from testigo.extract.agencies import AGENCIES, Agency, normalize_agency
from testigo.extract.decode import DEFAULT_MAX_TEXT_BYTES, decode_text
from testigo.extract.model import (
    AgencyMention,
    ArticleExtraction,
    DateMention,
    Extractor,
    Fact,
    Location,
    MediaItem,
    Mention,
    NumberMention,
    Person,
    PlaceMention,
    Quote,
    SourceDocument,
    Subject,
)
from testigo.extract.pipeline import RuleBasedExtractor, extract_article
from testigo.extract.places import Place, resolve_place

__all__ = [
    "AGENCIES",
    "DEFAULT_MAX_TEXT_BYTES",
    "Agency",
    "AgencyMention",
    "ArticleExtraction",
    "DateMention",
    "Extractor",
    "Fact",
    "Location",
    "MediaItem",
    "Mention",
    "NumberMention",
    "Person",
    "Place",
    "PlaceMention",
    "Quote",
    "RuleBasedExtractor",
    "SourceDocument",
    "Subject",
    "decode_text",
    "extract_article",
    "normalize_agency",
    "resolve_place",
]
