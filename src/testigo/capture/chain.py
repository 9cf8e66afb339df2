"""The hash chain of a capture session.

``chain[i] = SHA-256(chain[i-1] || index as 8 bytes big-endian || SHA-256(chunk i))`` with
``chain[-1] = SHA-256("testigo.capture.v1\\0" || public id)``. The head commits to every chunk, in
order, so a verifier holding the chunks and the head (which is in the ledger) can tell whether a
chunk was dropped, reordered or changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

GENESIS_LABEL = b"testigo.capture.v1\x00"


def genesis(public_id: str) -> str:
    return hashlib.sha256(GENESIS_LABEL + public_id.encode("ascii")).hexdigest()


def link(previous: str, index: int, chunk_sha256: str) -> str:
    if index < 0:
        raise ValueError("chunk indexes start at 0")
    return hashlib.sha256(
        bytes.fromhex(previous) + index.to_bytes(8, "big") + bytes.fromhex(chunk_sha256)
    ).hexdigest()


def chain_of(public_id: str, chunk_hashes: Iterable[str]) -> list[str]:
    """Every link of the chain over ``chunk_hashes`` (index 0 first)."""
    head = genesis(public_id)
    out: list[str] = []
    for index, digest in enumerate(chunk_hashes):
        head = link(head, index, digest)
        out.append(head)
    return out
