"""Concurrent reads for the web app on SQLite.

The vault opens every SQLite transaction with BEGIN IMMEDIATE, which is right for writers (ledger
appends never interleave) but makes readers queue behind each other and behind writers. Pages and
API reads only need a consistent snapshot, which WAL mode gives to any number of readers at once:
this module gives the app's vault a second, read-only connection pool whose transactions begin
DEFERRED. Writes still go through the vault's own transactions. PostgreSQL needs none of this.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from testigo.vault.service import Vault


def read_engine(url: str) -> Engine:
    engine = create_engine(
        url, connect_args={"timeout": 60, "isolation_level": None, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        cursor = conn.connection.cursor()
        try:
            cursor.execute("BEGIN DEFERRED")
        finally:
            cursor.close()

    return engine


def enable_concurrent_reads(vault: Vault) -> Engine | None:
    """Route ``vault.reading()`` through a read-only pool; returns that engine (to dispose)."""
    if vault.engine.dialect.name != "sqlite":
        return None
    database = vault.engine.url.database
    if not database or database == ":memory:":
        return None
    engine = read_engine(vault.engine.url.render_as_string(hide_password=False))
    sessions = sessionmaker(bind=engine, expire_on_commit=False)

    @contextmanager
    def reading() -> Iterator[Session]:
        with sessions() as session, session.begin():
            yield session

    vault.reading = reading  # type: ignore[method-assign]
    return engine
