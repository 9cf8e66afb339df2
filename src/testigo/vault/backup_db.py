"""Consistent copies of the vault's database, and putting them back.

SQLite is copied with its own online backup API, through the connection the vault already has:
one step, inside one read transaction, so the copy is the database as one commit left it while
other processes go on writing (WAL readers never block writers). No Testigo code opens, copies or
stats the live files (see docs/threat-model.md, "Durability").

PostgreSQL is dumped with ``pg_dump`` (custom format) inside an exported snapshot: the figures the
manifest records (ledger size, newest checkpoint, the blobs to copy) are read in the very snapshot
that is dumped, so they describe the copy exactly.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from testigo.db.models import EvidenceItem
from testigo.errors import IntegrityError, StorageError, UsageError
from testigo.vault import ledger


@dataclass(frozen=True)
class CopyFigures:
    """What the copied database holds, read from the copy (or its snapshot)."""

    tree_size: int
    checkpoint_size: int | None
    checkpoint_root: str | None
    checkpoint_note: str | None
    blobs: list[tuple[str, int]]
    revisions: list[str]
    schema: str | None = None


def read_figures(session: Session, schema: str | None = None) -> CopyFigures:
    latest = ledger.latest_checkpoint(session)
    blobs = sorted(
        (str(digest), int(size))
        for digest, size in session.execute(select(EvidenceItem.sha256, EvidenceItem.size))
    )
    revisions = sorted(
        str(r) for r in session.execute(text("SELECT version_num FROM alembic_version")).scalars()
    )
    return CopyFigures(
        tree_size=ledger.tree_size(session),
        checkpoint_size=latest.tree_size if latest else None,
        checkpoint_root=bytes(latest.root_hash).hex() if latest else None,
        checkpoint_note=latest.note if latest else None,
        blobs=blobs,
        revisions=revisions,
        schema=schema,
    )


# -- SQLite ---------------------------------------------------------------------------------


def sqlite_path(database_url: str) -> Path:
    url = make_url(database_url)
    if not url.database or url.database == ":memory:":
        raise UsageError("an in-memory SQLite database cannot be backed up or restored")
    return Path(url.database)


def copy_sqlite(engine: Engine, dest: Path) -> None:
    """Copy the live database into ``dest`` (a new file) with SQLite's backup API, in one step."""
    raw = engine.raw_connection()
    try:
        source = raw.driver_connection
        assert isinstance(source, sqlite3.Connection)
        target = sqlite3.connect(dest)
        try:
            source.backup(target)  # pages=-1: the whole database in one consistent step
            # A standalone file: rollback journal, so it can be opened read-only anywhere.
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
    except sqlite3.Error as exc:
        raise StorageError(f"the SQLite backup failed: {exc}") from exc
    finally:
        raw.close()


def readonly_sqlite_engine(path: Path) -> Engine:
    """An engine on a copy that can never write to it (immutable: no journal, no locks)."""
    uri = f"file:{quote(str(path))}?mode=ro&immutable=1"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, check_same_thread=False)

    return create_engine("sqlite://", creator=connect, poolclass=NullPool)


def restore_sqlite(copy: Path, database_url: str) -> Path:
    """Write the copy as the vault's database; refuse if anything is already there.

    The database is built beside its final name and linked into place, which fails if the name
    exists: an existing vault is never replaced, and a failure leaves no database at all.
    """
    final = sqlite_path(database_url)
    for suffix in ("-wal", "-shm", "-journal"):
        sidecar = Path(f"{final}{suffix}")
        if os.path.lexists(sidecar):
            raise UsageError(
                f"{sidecar} exists: that database is in use or was not cleanly removed; "
                "restore into an empty home"
            )
    final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = final.parent / f".restore-{os.getpid()}-{final.name}"
    try:
        source = sqlite3.connect(f"file:{quote(str(copy))}?mode=ro&immutable=1", uri=True)
        try:
            target = sqlite3.connect(tmp)
            try:
                source.backup(target)
                target.execute("PRAGMA journal_mode=DELETE")
            finally:
                target.close()
        finally:
            source.close()
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        try:
            os.link(tmp, final)
        except FileExistsError:
            raise UsageError(f"{final} already exists: restore only into an empty home") from None
    except sqlite3.Error as exc:
        raise StorageError(f"writing the restored database failed: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return final


# -- PostgreSQL ------------------------------------------------------------------------------


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StorageError(
            f"{name} is not installed: install the PostgreSQL client tools of your server's "
            "major version (e.g. the postgresql-client package)"
        )
    return path


def libpq_target(database_url: str) -> tuple[str, dict[str, str]]:
    """The URI that ``pg_dump``/``pg_restore`` take, and the environment holding the password
    (never on a command line, where other users could read it)."""
    url = make_url(database_url)
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(args: list[str], env: dict[str, str], what: str) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()
        raise StorageError(f"{what} failed: {' '.join(message[-3:]) or done.returncode}")
    return done.stdout


def dump_postgres(engine: Engine, database_url: str, dest: Path) -> CopyFigures:
    """``pg_dump -Fc`` of the vault's schema, in the snapshot the returned figures are read in."""
    pg_dump = _tool("pg_dump")
    uri, env = libpq_target(database_url)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            schema = conn.execute(text("SELECT current_schema()")).scalar()
            if schema is None:
                raise UsageError("the database URL's search_path names no existing schema")
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            with Session(bind=conn) as session:
                figures = read_figures(session, str(schema))
            _run(
                [
                    pg_dump,
                    "--format=custom",
                    f"--schema={schema}",
                    f"--snapshot={snapshot}",
                    f"--file={dest}",
                    f"--dbname={uri}",
                ],
                env,
                "pg_dump",
            )
    return figures


def check_dump_readable(dump: Path) -> list[str]:
    """The archive's table of contents; an unreadable archive is an integrity failure."""
    done = subprocess.run(
        [_tool("pg_restore"), "--list", str(dump)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise IntegrityError(f"the database dump cannot be read: {done.stderr.strip()[:300]}")
    return done.stdout.splitlines()


_COPY_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_ESCAPE_RE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|(.))", re.S)
_COPY_RE = re.compile(r"^COPY \S+ \((.*)\) FROM stdin;$")


def _unescape(field: str) -> str | None:
    """One field of PostgreSQL's COPY text format."""
    if field == "\\N":
        return None

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return chr(int(match.group(1), 8))
        if match.group(2):
            return chr(int(match.group(2), 16))
        return _COPY_ESCAPES.get(match.group(3), match.group(3))

    return _ESCAPE_RE.sub(replace, field)


def dumped_rows(dump: Path, schema: str, table: str) -> Iterator[dict[str, str | None]]:
    """The rows of one table as the dump holds them (read with ``pg_restore``, streamed)."""
    args = [_tool("pg_restore"), "--data-only", f"--schema={schema}", f"--table={table}"]
    args += ["--file=-", str(dump)]
    with subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8"
    ) as proc:
        assert proc.stdout is not None
        columns: list[str] | None = None
        for line in proc.stdout:
            line = line.rstrip("\n")
            if columns is None:
                match = _COPY_RE.match(line)
                if match:
                    columns = [c.strip().strip('"') for c in match.group(1).split(",")]
                continue
            if line == "\\.":
                columns = None
                continue
            values = [_unescape(f) for f in line.split("\t")]
            yield dict(zip(columns, values, strict=True))
        error = proc.stderr.read() if proc.stderr else ""
        if proc.wait() != 0:
            raise IntegrityError(f"reading {table} from the dump failed: {error.strip()[:300]}")


def bytea(value: str | None) -> bytes:
    if value is None or not value.startswith("\\x"):
        raise IntegrityError("the dump holds a binary value in an unexpected form")
    return bytes.fromhex(value[2:])


@contextmanager
def _pg_engine(database_url: str) -> Iterator[Engine]:
    from testigo.db.engine import make_engine

    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def postgres_schema_state(database_url: str) -> tuple[str | None, int]:
    """The schema the URL's search_path selects, and how many objects it already holds."""
    with _pg_engine(database_url) as engine, engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar()
        if schema is None:
            return None, 0
        count = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = :s) + "
                "(SELECT count(*) FROM pg_proc p JOIN pg_namespace n "
                "ON n.oid = p.pronamespace WHERE n.nspname = :s)"
            ),
            {"s": schema},
        ).scalar_one()
        return str(schema), int(count)


def restore_postgres(dump: Path, database_url: str, backup_schema: str, work: Path) -> None:
    """``pg_restore`` into the configured (empty) schema, in one transaction: all or nothing.

    The dump names its schema in every statement. Into a schema of the same name the dump's own
    CREATE SCHEMA is left out (the schema exists); into another name, the dump is restored under
    its own name (which must not exist in that database) and renamed in place of the empty one.
    """
    pg_restore = _tool("pg_restore")
    target, objects = postgres_schema_state(database_url)
    if target is None:
        raise UsageError(
            "the database URL's search_path names no existing schema: create it (empty) first"
        )
    if objects:
        raise UsageError(
            f"the PostgreSQL schema {target!r} already holds {objects} object(s): "
            "restore only into an empty schema or database"
        )
    uri, env = libpq_target(database_url)
    toc = check_dump_readable(dump)
    base = [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    if target == backup_schema:
        kept = [
            line
            for line in toc
            if not re.search(rf" (SCHEMA|COMMENT) - (SCHEMA )?{re.escape(target)}( |$)", line)
        ]
        listing = work / "restore.list"
        listing.write_text("\n".join(kept) + "\n", encoding="utf-8")
        _run([*base, f"--use-list={listing}", f"--dbname={uri}", str(dump)], env, "pg_restore")
        return
    with _pg_engine(database_url) as engine, engine.connect() as conn:
        taken = conn.execute(
            text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"), {"s": backup_schema}
        ).scalar_one()
    if taken:
        raise UsageError(
            f"the backup holds schema {backup_schema!r}, which already exists in this database; "
            f"restore into a database without it, or set the search_path to {backup_schema!r}"
        )
    _run([*base, f"--dbname={uri}", str(dump)], env, "pg_restore")
    with _pg_engine(database_url) as engine:
        try:
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{target}" RESTRICT'))
                conn.execute(text(f'ALTER SCHEMA "{backup_schema}" RENAME TO "{target}"'))
        except Exception:
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{backup_schema}" CASCADE'))
            raise
