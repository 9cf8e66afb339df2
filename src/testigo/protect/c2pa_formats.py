"""Media types whose C2PA manifests (Content Credentials) the installed c2pa library can read.

Kept apart from the signing and reading code so the job queue can consult it without loading the
C2PA or cryptography libraries. Each type is one that ``c2pa.Reader.get_supported_mime_types()``
lists (c2pa-python 0.38) and that the vault's content sniffing can produce (a DNG is sniffed as
TIFF, which the reader handles; SVG is sniffed as text, so it is not read).
"""

from __future__ import annotations

C2PA_MEDIA_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "image/tiff",
        "image/heic",
        "image/heif",
        "image/avif",
        "video/mp4",
        "video/quicktime",
        "video/x-msvideo",
        "audio/mp4",
        "audio/wav",
        "audio/mpeg",
        "audio/flac",
        "application/pdf",
    }
)


def reads_c2pa(media_type: str) -> bool:
    """True when media of this type may carry a C2PA manifest that can be read and checked."""
    return media_type in C2PA_MEDIA_TYPES
