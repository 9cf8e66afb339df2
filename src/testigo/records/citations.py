"""Citations: every extracted value points at the words or the seconds it came from.

Text citations are character offsets (Unicode code points, end exclusive) into the source's stored
text item; media citations are seconds into a stored media item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from testigo.errors import UsageError
from testigo.records.models import Cited


@dataclass(frozen=True)
class Citation:
    source_id: int | None = None
    item_id: int | None = None
    start: int | None = None
    end: int | None = None
    media_start: float | None = None
    media_end: float | None = None

    def __post_init__(self) -> None:
        if (self.start is None) != (self.end is None):
            raise UsageError("a text citation needs both a start and an end")
        if self.start is not None and self.end is not None and not 0 <= self.start <= self.end:
            raise UsageError("a text citation needs 0 <= start <= end")
        if (
            self.media_start is not None
            and self.media_end is not None
            and not 0 <= self.media_start <= self.media_end
        ):
            raise UsageError("a media citation needs 0 <= start <= end (seconds)")

    def span(self, start: int | None, end: int | None) -> Citation:
        """The same source and item, another span of its text."""
        return Citation(self.source_id, self.item_id, start, end)

    def apply(self, row: Cited) -> None:
        row.cite_source_id = self.source_id
        row.cite_item_id = self.item_id
        row.cite_start = self.start
        row.cite_end = self.end
        row.cite_media_start = self.media_start
        row.cite_media_end = self.media_end

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"source": self.source_id, "item": self.item_id}
        if self.start is not None:
            data["start"] = self.start
            data["end"] = self.end
        if self.media_start is not None:
            data["media_start"] = self.media_start
            data["media_end"] = self.media_end
        return data


def citation_of(row: Cited) -> Citation:
    return Citation(
        row.cite_source_id,
        row.cite_item_id,
        row.cite_start,
        row.cite_end,
        row.cite_media_start,
        row.cite_media_end,
    )


def cited_dict(row: Cited, text: str | None = None) -> dict[str, Any]:
    """The citation as JSON, with the quoted words when the source text is at hand."""
    data = citation_of(row).to_dict()
    if text is not None and row.cite_start is not None and row.cite_end is not None:
        data["words"] = text[row.cite_start : row.cite_end]
    return data
