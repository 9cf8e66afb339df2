"""Errors raised by the media library.

``MediaError`` covers files that look like media but cannot be analysed (corrupt, truncated,
missing the stream a step needs, a model that cannot be loaded). Files that are not media at all,
empty, or of absurd size are refused with :class:`testigo.errors.RefusedInputError`, the error the
ingest path already uses for input rejected whole.
"""

from __future__ import annotations

from testigo.errors import RefusedInputError, TestigoError

__all__ = ["MediaError", "RefusedInputError"]


class MediaError(TestigoError):
    """A media file, or a model needed to analyse it, could not be used; nothing was produced."""
