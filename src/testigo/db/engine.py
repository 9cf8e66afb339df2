"""Engines, sessions and schema upgrades for SQLite (WAL) and PostgreSQL."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from testigo.errors import NotInitializedError, StorageError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


DURABLE = "testigo_durable"
"""Execution option that marks a transaction whose commit must reach stable storage."""


def sqlite_synchronous() -> str:
    """The synchronous level of ordinary commits: NORMAL unless TESTIGO_SQLITE_SYNCHRONOUS says.

    In WAL mode NORMAL survives any crash of the process (a `kill -9`) with every commit intact;
    only a power loss or a kernel crash can drop the newest commits. The commits that something
    outside relies on (a chunk acknowledged to a phone, an upload answered, a checkpoint signed)
    run as *durable* transactions (``durable(engine)``): SQLite itself syncs the log at their
    commit (synchronous=FULL, or EXTRA when that is the level chosen), and because the log is one
    file, every earlier commit is synced with them. ``TESTIGO_SQLITE_SYNCHRONOUS=FULL`` syncs every
    commit instead.

    Durability is SQLite's job: nothing here opens, syncs, copies or removes the database's files.
    Closing any descriptor of a database file would drop every POSIX lock this process holds on it
    (SQLite's own locks included), and another process could then reset the log under us.
    """
    value = os.environ.get("TESTIGO_SQLITE_SYNCHRONOUS", "NORMAL").strip().upper() or "NORMAL"
    if value not in {"FULL", "NORMAL", "EXTRA"}:
        raise StorageError("TESTIGO_SQLITE_SYNCHRONOUS must be FULL, NORMAL or EXTRA")
    return value


READ_ONLY = "testigo_read_only"
"""Execution option that marks a read-only transaction: one consistent snapshot, no write lock."""


def snapshot_reader(engine: Engine) -> Engine:
    """The same engine, for read-only transactions that see one consistent state of the vault.

    On SQLite a deferred transaction in WAL mode: a snapshot taken at the first read, which never
    takes the write lock, so a long `testigo verify` or export never holds up a live capture. On
    PostgreSQL ``REPEATABLE READ READ ONLY``: every statement sees the same snapshot (under the
    default READ COMMITTED a verification could see an acquisition committed after the ledger
    entries it read). Writing in such a transaction is refused by the database.
    """
    if engine.dialect.name == "postgresql":
        return engine.execution_options(
            **{READ_ONLY: True}, isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
    return engine.execution_options(**{READ_ONLY: True})


def durable(engine: Engine) -> Engine:
    """The same engine, for transactions whose commit must survive a power loss when it returns.

    PostgreSQL commits are durable already (``synchronous_commit`` is on by default).
    """
    return engine.execution_options(**{DURABLE: True})


def make_engine(url: str) -> Engine:
    """Create an engine with the settings the vault relies on for each backend."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        db_path = url.split(":///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60, "isolation_level": None})
        ordinary = sqlite_synchronous()
        strict = "EXTRA" if ordinary == "EXTRA" else "FULL"

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={ordinary}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()
            record.info["synchronous"] = ordinary

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # A writer takes the write lock at the start, so two never interleave ledger appends;
            # a reader (snapshot_reader) takes none and may not write (query_only).
            # Straight to the driver: this runs for every transaction. The synchronous level
            # can only change between transactions, so a durable one sets it here, and the next
            # ordinary one sets it back (the level is remembered per connection).
            options = conn.get_execution_options()
            info = conn.connection.info
            reader = bool(options.get(READ_ONLY))
            wanted = strict if options.get(DURABLE) else ordinary
            cursor = conn.connection.cursor()
            try:
                if info.get("query_only", False) != reader:
                    cursor.execute(f"PRAGMA query_only={int(reader)}")
                    info["query_only"] = reader
                if reader:
                    # A snapshot taken at the first read; no lock that could hold up a writer.
                    cursor.execute("BEGIN DEFERRED")
                    return
                if info.get("synchronous") != wanted:
                    cursor.execute(f"PRAGMA synchronous={wanted}")
                    info["synchronous"] = wanted
                cursor.execute("BEGIN IMMEDIATE")
            finally:
                cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def alembic_config(url: str) -> Config:
    # Alembic (and the migration scripts) load only when a schema is created or upgraded: opening
    # a vault reads the version table directly, which keeps every process small.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


@cache
def head_revisions() -> frozenset[str]:
    """The newest revision of every branch (parts of the schema may evolve independently).

    Read from the migration files' ``revision`` / ``down_revision`` assignments without importing
    them (a test checks this against Alembic's own script directory).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        found: dict[str, Any] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id in ("revision", "down_revision")
            ):
                found[node.targets[0].id] = ast.literal_eval(node.value)
        if "revision" not in found:
            continue
        revisions.add(str(found["revision"]))
        down = found.get("down_revision")
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, (tuple, list)):
            parents.update(str(d) for d in down)
    return frozenset(revisions - parents)


def current_revisions(engine: Engine) -> set[str]:
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return set()
            return {
                str(row[0]) for row in conn.execute(text("SELECT version_num FROM alembic_version"))
            }
    except OperationalError as exc:
        raise StorageError(f"cannot open the database: {exc.orig}") from exc


def require_schema(engine: Engine) -> None:
    """Refuse to work on a database that `testigo init` has not prepared."""
    current = current_revisions(engine)
    if not current:
        raise NotInitializedError("this vault has not been initialised: run `testigo init` first")
    wanted = head_revisions()
    if current != wanted:
        raise NotInitializedError(
            f"the database schema is at {sorted(current)}, this version needs {sorted(wanted)}: "
            "run `testigo init` to upgrade it"
        )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed together or not at all."""
    with factory() as session, session.begin():
        yield session


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
