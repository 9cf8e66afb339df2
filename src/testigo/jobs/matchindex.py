"""The fingerprint index, kept in memory per process and in step with the vault incrementally.

The index is a cache. The truth is in the vault: every fingerprint is a derived item, named by a
``fingerprint`` annotation on its video. Each process keeps one index per vault in memory; before
each use it reads only the ``fingerprint`` annotations committed since it last looked (ledger
sequence numbers above the newest one it has seen, one indexed range query) and loads those
fingerprints, so a job costs the same however many videos are indexed, and videos fingerprinted
by other processes or machines (Celery workers) are found by the next job here.

Ledger appends are serialised and each holds its lock until it commits, so once an annotation with
sequence number ``n`` is visible every one below ``n`` is too: the watermark never skips a row.
Annotations are append-only, so nothing read once ever has to be read again.

A copy is saved to ``$TESTIGO_HOME/index/videos.npz`` with its watermark (whenever about 5% of
the index is new), so a process starting up loads that and reads only what came after. Deleting
the file only costs time; ``testigo reindex`` rebuilds everything from the vault. Searching and
recording a new video's matches happen under one lock (a file lock, and on PostgreSQL an advisory
lock too), so two videos analysed at the same moment still find each other.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select, text

from testigo.db.models import EvidenceItem, LedgerEntry
from testigo.jobs.models import Annotation
from testigo.media import MatchIndex, MediaError, VideoFingerprint
from testigo.vault.service import Vault

log = logging.getLogger(__name__)

INDEX_FILE = "videos.npz"
PG_INDEX_LOCK = 0x74696478
# Save the index file once this share of its videos is newer than the saved copy.
SAVE_SHARE = 0.05


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


@dataclass
class CachedIndex:
    """One vault's index in this process, and how far into the vault's ledger it has read.

    ``seq`` is the ledger sequence number of the newest ``fingerprint`` annotation read (-1:
    none). ``shas`` names the fingerprint held for each video. The counters say how much work
    the refreshes did: ``rows_read`` annotation rows, ``fingerprints_loaded`` fingerprint files
    read from the blob store (``last_rows_read`` for the latest refresh alone).
    """

    database: str  # the vault's identity: the hash of its first ledger entry
    index: MatchIndex = field(default_factory=MatchIndex)
    seq: int = -1
    shas: dict[str, str] = field(default_factory=dict)
    unsaved: int = 0
    rows_read: int = 0
    last_rows_read: int = 0
    fingerprints_loaded: int = 0


_CACHES: dict[str, CachedIndex] = {}
_CACHES_LOCK = threading.Lock()


def _key(vault: Vault) -> str:
    url = vault.engine.url.render_as_string(hide_password=True)
    return f"{url}|{vault.settings.home.resolve()}"


def cached_index(vault: Vault) -> CachedIndex | None:
    """This process's index of ``vault``, if one was loaded (for inspection and tests)."""
    with _CACHES_LOCK:
        return _CACHES.get(_key(vault))


def forget_cached_index(vault: Vault) -> None:
    """Drop this process's in-memory index of ``vault`` (the next use reloads it)."""
    with _CACHES_LOCK:
        _CACHES.pop(_key(vault), None)


def load_fingerprint(vault: Vault, sha256: str) -> VideoFingerprint:
    with vault.blobs.open(sha256) as stream:
        return VideoFingerprint.from_bytes(stream.read())


def _ledger_state(vault: Vault) -> tuple[int, str]:
    """The ledger's size and the hash of its first entry (which tells one vault from another)."""
    with vault.reading() as session:
        top = session.scalar(select(func.max(LedgerEntry.seq)))
        first = session.scalar(select(LedgerEntry.leaf_hash).where(LedgerEntry.seq == 0))
    return (0 if top is None else int(top) + 1), (bytes(first).hex() if first else "")


def _from_file(vault: Vault, database: str, ledger_size: int) -> CachedIndex:
    """The saved copy, if it belongs to this database and is not ahead of its ledger."""
    cache = CachedIndex(database=database)
    path = index_path(vault)
    if not path.exists():
        return cache
    try:
        index = MatchIndex.load(path)
    except MediaError as exc:
        log.warning("rebuilding the match index: %s", exc)
        return cache
    meta = index.metadata
    seq, shas = meta.get("seq"), meta.get("shas")
    if (
        meta.get("database") != database
        or not isinstance(seq, int)
        or not isinstance(shas, dict)
        or seq >= ledger_size
        or set(shas) != set(index.video_ids)
    ):
        log.info("the saved match index is for another database or out of date: reading all")
        return cache
    cache.index, cache.seq = index, seq
    cache.shas = {str(k): str(v) for k, v in shas.items()}
    return cache


def _save(vault: Vault, cache: CachedIndex) -> None:
    cache.index.metadata = {"database": cache.database, "seq": cache.seq, "shas": cache.shas}
    cache.index.save(index_path(vault))
    cache.unsaved = 0


def _refresh(vault: Vault, cache: CachedIndex) -> None:
    """Read the fingerprint annotations committed after ``cache.seq`` and index them."""
    with vault.reading() as session:
        rows = session.execute(
            select(Annotation.item_id, Annotation.data, Annotation.ledger_seq)
            .where(Annotation.ledger_seq > cache.seq, Annotation.kind == "fingerprint")
            .order_by(Annotation.ledger_seq, Annotation.id)
        ).all()
    cache.last_rows_read = len(rows)
    cache.rows_read += len(rows)
    for item_id, data, seq in rows:
        video_id, sha256 = str(item_id), str(data["sha256"])
        if cache.shas.get(video_id) != sha256:
            cache.index.add(video_id, load_fingerprint(vault, sha256))
            cache.shas[video_id] = sha256
            cache.fingerprints_loaded += 1
            cache.unsaved += 1
        cache.seq = max(cache.seq, int(seq))


def synced_index(vault: Vault, *, rebuild: bool = False) -> MatchIndex:
    """The index, brought up to date with the vault (call under ``index_lock``)."""
    key = _key(vault)
    size, database = _ledger_state(vault)
    with _CACHES_LOCK:
        cache = _CACHES.get(key)
    if cache is not None and (cache.seq >= size or cache.database != database):
        log.warning("the database is not the one the match index was read from: reading all")
        cache = None
    if rebuild:
        cache = CachedIndex(database=database)
    elif cache is None:
        cache = _from_file(vault, database, size)
    _refresh(vault, cache)
    with _CACHES_LOCK:
        _CACHES[key] = cache
    missing = len(cache.index) > 0 and not index_path(vault).exists()
    if rebuild or missing or cache.unsaved > SAVE_SHARE * len(cache.index):
        _save(vault, cache)
    return cache.index


def index_added(vault: Vault, item_id: int, sha256: str, fingerprint: VideoFingerprint) -> None:
    """A fingerprint this process just committed: index it now (call under ``index_lock``).

    Its annotation is still read by the next refresh (to move the watermark past it), but the
    fingerprint is not loaded again.
    """
    with _CACHES_LOCK:
        cache = _CACHES.get(_key(vault))
    if cache is None:
        return
    video_id = str(item_id)
    cache.index.add(video_id, fingerprint)
    cache.shas[video_id] = sha256
    cache.unsaved += 1


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
