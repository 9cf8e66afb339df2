"""The append-only ledger: canonical JSON entries in an RFC 9162 Merkle tree.

Every change to evidence and records is appended here inside the same database transaction as the
change itself, so a record and its ledger entry exist together or not at all. Appends are
serialised (SQLite's write lock, a PostgreSQL advisory lock) so sequence numbers stay contiguous.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from testigo.db.models import Checkpoint as CheckpointRow
from testigo.db.models import LedgerEntry, LedgerSubject
from testigo.errors import NotFoundError, UsageError
from testigo.vault import merkle
from testigo.vault.canonical import canonical_json

ENTRY_VERSION = 1
# Any constant works; it names the lock that serialises appends on PostgreSQL.
PG_LEDGER_LOCK = 0x7465737469676F


def utc_now() -> str:
    """RFC 3339 time in UTC with microseconds: sortable, unambiguous, the same everywhere."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class NewEntry:
    """What a caller wants recorded."""

    entry_type: str
    actor: str
    subjects: Sequence[str] = ()
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AppendedEntry:
    seq: int
    body: bytes
    leaf_hash: bytes

    @property
    def data(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


def build_body(seq: int, entry: NewEntry, time: str) -> bytes:
    if not entry.entry_type or len(entry.entry_type) > 64:
        raise UsageError("a ledger entry needs a type of at most 64 characters")
    return canonical_json(
        {
            "v": ENTRY_VERSION,
            "seq": seq,
            "type": entry.entry_type,
            "time": time,
            "actor": entry.actor,
            "subjects": sorted(set(entry.subjects)),
            "params": dict(entry.params),
        }
    )


class _FrontierCache:
    """The right edge of the tree as last seen by this process; re-read when the size moved."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.frontier: merkle.Frontier | None = None
        self.db_key: str | None = None


_CACHE: dict[str, _FrontierCache] = {}
_CACHE_LOCK = threading.Lock()
_PENDING = "testigo.ledger.pending_frontier"
_URL_KEYS: dict[int, str] = {}


@event.listens_for(Session, "after_commit")
def _publish_frontier(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending is not None:
        cache, frontier = pending
        with cache.lock:
            cache.frontier = frontier


@event.listens_for(Session, "after_rollback")
def _drop_frontier(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _cache_for(session: Session) -> _FrontierCache:
    engine = session.get_bind().engine
    key = _URL_KEYS.get(id(engine))
    if key is None:
        key = _URL_KEYS[id(engine)] = engine.url.render_as_string(hide_password=True)
    with _CACHE_LOCK:
        cache = _CACHE.get(key)
        if cache is None:
            cache = _CACHE[key] = _FrontierCache()
        return cache


def node_reader(session: Session) -> merkle.NodeReader:
    """Read stored subtree hashes in one query per call."""

    def get_nodes(keys: Sequence[tuple[int, int]]) -> Sequence[bytes]:
        if not keys:
            return []
        found: dict[tuple[int, int], bytes] = {}
        unique = list(dict.fromkeys(keys))
        mark = "?" if session.get_bind().dialect.paramstyle == "qmark" else "%s"
        connection = session.connection()
        for start in range(0, len(unique), 200):
            batch = unique[start : start + 200]
            # Plain SQL, one (level, idx) primary-key lookup per term: compiling a fresh
            # SQLAlchemy expression for every proof would cost more than the proof itself.
            where = " OR ".join(f"(level = {mark} AND idx = {mark})" for _ in batch)
            params = tuple(value for key in batch for value in key)
            rows = connection.exec_driver_sql(
                f"SELECT level, idx, hash FROM ledger_nodes WHERE {where}", params
            )
            for level, idx, digest in rows:
                found[(level, idx)] = bytes(digest)
        missing = [k for k in unique if k not in found]
        if missing:
            raise NotFoundError(f"ledger tree nodes are missing: {missing[:5]}")
        return [found[k] for k in keys]

    return get_nodes


def lock_ledger(session: Session) -> None:
    """Serialise appends. SQLite already holds its write lock (BEGIN IMMEDIATE)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LEDGER_LOCK})


def _cursor(session: Session) -> Any:
    """A DB-API cursor on the session's own connection, inside its transaction.

    The append path talks to the driver directly: at thousands of appends per second the
    statement overhead of the SQL toolkit would dominate the cost of hashing.
    """
    return session.connection().connection.cursor()


def tree_size(session: Session) -> int:
    cursor = _cursor(session)
    try:
        cursor.execute("SELECT max(seq) FROM ledger_entries")
        value = cursor.fetchone()[0]
    finally:
        cursor.close()
    return 0 if value is None else int(value) + 1


@functools.cache
def _insert_sql_for(paramstyle: str, table: str, columns: tuple[str, ...]) -> str:
    marks = ", ".join("?" if paramstyle == "qmark" else "%s" for _ in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def _insert_sql(session: Session, table: str, columns: tuple[str, ...]) -> str:
    """A driver-level INSERT: executemany with tuples, no per-row SQLAlchemy processing."""
    return _insert_sql_for(session.get_bind().dialect.paramstyle, table, columns)


def append_entries(session: Session, entries: Iterable[NewEntry]) -> list[AppendedEntry]:
    """Append entries in this session's transaction; they are durable when it commits.

    The frontier cache is only trusted when the database agrees on the size; on rollback the next
    append notices the size did not move as the cache expected and re-reads it.
    """
    items = list(entries)
    if not items:
        return []
    lock_ledger(session)
    size = tree_size(session)
    cache = _cache_for(session)
    with cache.lock:
        pending = session.info.get(_PENDING)
        frontier = pending[1] if pending is not None else cache.frontier
        if frontier is None or frontier.size != size:
            frontier = merkle.Frontier.from_size(size, node_reader(session))
        else:
            frontier = frontier.copy()
        time = utc_now()
        appended: list[AppendedEntry] = []
        entry_rows: list[tuple[int, str, str, str, bytes, bytes]] = []
        subject_rows: list[tuple[str, int]] = []
        node_rows: list[tuple[int, int, bytes]] = []
        for offset, entry in enumerate(items):
            seq = size + offset
            body = build_body(seq, entry, time)
            leaf = merkle.leaf_hash(body)
            node_rows.extend(frontier.append(leaf))
            entry_rows.append((seq, entry.entry_type, entry.actor, time, body, leaf))
            subject_rows.extend((s, seq) for s in sorted(set(entry.subjects)))
            appended.append(AppendedEntry(seq=seq, body=body, leaf_hash=leaf))
        # Driver-level executemany: SQLAlchemy's per-row work would cost more than the hashing.
        cursor = _cursor(session)
        try:
            cursor.executemany(
                _insert_sql(
                    session,
                    "ledger_entries",
                    ("seq", "entry_type", "actor", "created_at", "body", "leaf_hash"),
                ),
                entry_rows,
            )
            cursor.executemany(
                _insert_sql(session, "ledger_nodes", ("level", "idx", "hash")), node_rows
            )
            if subject_rows:
                cursor.executemany(
                    _insert_sql(session, "ledger_subjects", ("subject", "seq")), subject_rows
                )
        finally:
            cursor.close()
        # The new right edge is trusted by other transactions only once this one commits.
        session.info[_PENDING] = (cache, frontier)
    return appended


def append_entry(session: Session, entry: NewEntry) -> AppendedEntry:
    return append_entries(session, [entry])[0]


def get_entry(session: Session, seq: int) -> LedgerEntry:
    row = session.get(LedgerEntry, seq)
    if row is None:
        raise NotFoundError(f"there is no ledger entry {seq}")
    return row


def entries_for_subject(session: Session, subject: str) -> list[LedgerEntry]:
    seqs = select(LedgerSubject.seq).where(LedgerSubject.subject == subject)
    return list(
        session.scalars(
            select(LedgerEntry).where(LedgerEntry.seq.in_(seqs)).order_by(LedgerEntry.seq)
        )
    )


def latest_checkpoint(session: Session) -> CheckpointRow | None:
    return session.scalars(
        select(CheckpointRow)
        .order_by(CheckpointRow.tree_size.desc(), CheckpointRow.id.desc())
        .limit(1)
    ).first()


def checkpoint_for_size(session: Session, size: int) -> CheckpointRow | None:
    return session.scalars(
        select(CheckpointRow)
        .where(CheckpointRow.tree_size == size)
        .order_by(CheckpointRow.id)
        .limit(1)
    ).first()


def root_at(session: Session, size: int) -> bytes:
    current = tree_size(session)
    if size < 0 or size > current:
        raise UsageError(f"the ledger has {current} entries; there is no tree of size {size}")
    return merkle.tree_root(size, node_reader(session))


def prove_inclusion(session: Session, seq: int, size: int | None = None) -> list[bytes]:
    current = tree_size(session)
    size = current if size is None else size
    if not 0 <= seq < size <= current:
        raise UsageError(f"entry {seq} is not in a tree of size {size} (the ledger has {current})")
    return merkle.inclusion_proof(seq, size, node_reader(session))


def prove_consistency(session: Session, old_size: int, new_size: int) -> list[bytes]:
    current = tree_size(session)
    if not 0 <= old_size <= new_size <= current:
        raise UsageError(
            f"cannot prove consistency from {old_size} to {new_size}: sizes must satisfy "
            f"0 <= old <= new <= {current}"
        )
    return merkle.consistency_proof(old_size, new_size, node_reader(session))
