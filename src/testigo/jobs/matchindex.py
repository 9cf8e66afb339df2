"""The fingerprint index on disk under ``$TESTIGO_HOME/index/``, kept in step with the vault.

The index is a cache. The truth is in the vault: every fingerprint is a derived item, named by a
``fingerprint`` annotation on its video. Before each use the index is brought up to date from
those annotations (missing videos added, unknown ones dropped), so deleting the index file, or
running workers on several machines each with their own, only costs time. Searching and
recording a new video's matches happen under one lock (a file lock, and on PostgreSQL an advisory
lock too), so two videos analysed at the same moment still find each other.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select, text

from testigo.db.models import EvidenceItem
from testigo.jobs.models import Annotation
from testigo.media import MatchIndex, MediaError, VideoFingerprint
from testigo.vault.service import Vault

log = logging.getLogger(__name__)

INDEX_FILE = "videos.npz"
PG_INDEX_LOCK = 0x74696478


def index_dir(vault: Vault) -> Path:
    return vault.settings.home / "index"


def index_path(vault: Vault) -> Path:
    return index_dir(vault) / INDEX_FILE


@contextmanager
def index_lock(vault: Vault) -> Iterator[None]:
    """Exclusive use of the index by this thread, this host and (on PostgreSQL) every host."""
    folder = index_dir(vault)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            if vault.engine.dialect.name == "postgresql":
                with vault.engine.connect() as conn:
                    conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                    conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PG_INDEX_LOCK})
                    try:
                        yield
                    finally:
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_INDEX_LOCK})
            else:
                yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def stored_fingerprints(vault: Vault) -> dict[int, str]:
    """Video item id -> SHA-256 of its newest stored fingerprint."""
    with vault.reading() as session:
        rows = session.execute(
            select(Annotation.item_id, Annotation.data)
            .where(Annotation.kind == "fingerprint")
            .order_by(Annotation.id)
        )
        return {int(item): str(data["sha256"]) for item, data in rows}


def load_fingerprint(vault: Vault, sha256: str) -> VideoFingerprint:
    with vault.blobs.open(sha256) as stream:
        return VideoFingerprint.from_bytes(stream.read())


def synced_index(vault: Vault, *, rebuild: bool = False) -> MatchIndex:
    """The index, loaded and brought up to date with the vault (call under ``index_lock``)."""
    path = index_path(vault)
    index = MatchIndex()
    if path.exists() and not rebuild:
        try:
            index = MatchIndex.load(path)
        except MediaError as exc:
            log.warning("rebuilding the match index: %s", exc)
    wanted = stored_fingerprints(vault)
    changed = rebuild
    for video_id in [v for v in _ids(index) if not v.isdigit() or int(v) not in wanted]:
        index.remove(video_id)
        changed = True
    for item_id, sha256 in wanted.items():
        if str(item_id) not in index:
            index.add(str(item_id), load_fingerprint(vault, sha256))
            changed = True
    if changed:
        index.save(path)
    return index


def _ids(index: MatchIndex) -> list[str]:
    return list(index._entries)


def rebuild_index(vault: Vault) -> int:
    """Rebuild the index from the fingerprints stored in the vault; returns how many videos."""
    with index_lock(vault):
        return len(synced_index(vault, rebuild=True))


def item_hashes(vault: Vault, item_ids: list[int]) -> dict[int, str]:
    with vault.reading() as session:
        return {
            int(i): str(h)
            for i, h in session.execute(
                select(EvidenceItem.id, EvidenceItem.sha256).where(EvidenceItem.id.in_(item_ids))
            )
        }
