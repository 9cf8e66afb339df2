"""Collect the ledger entries of one unit of work and append them together.

Record services create rows, flush to learn their ids, and note an entry for each; the entries are
appended in one batch (``ledger.append_entries``) in the same transaction as the rows, so a record
and its history exist together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeAlias

from sqlalchemy import Column, Dialect, Table, insert
from sqlalchemy.orm import Session

from testigo.db.models import Base
from testigo.vault import ledger

Note: TypeAlias = tuple[str, Iterable[str], Mapping[str, Any]]


@dataclass
class Journal:
    """Pending ledger entries for one transaction, all by one actor.

    ``later`` takes a function that builds the entry once the rows have ids: rows are added
    without a flush each, and one flush before the append gives them all their ids, so a batch of
    rows costs one INSERT per table rather than one round trip per row.

    With ``bulk``, rows given to :meth:`add` are not handed to the session at all: :meth:`write`
    inserts them with one ``INSERT ... RETURNING id`` per table and sets their ids, which skips
    the ORM's unit of work for rows that are written once and not changed in the transaction
    (an article import writes dozens of them). Such rows stay transient: change them before
    :meth:`write`, not after.
    """

    actor: str
    entries: list[ledger.NewEntry | Callable[[], Note]] = field(default_factory=list)
    bulk: bool = False
    rows: list[Base] = field(default_factory=list)

    def _entry(
        self, entry_type: str, subjects: Iterable[str], params: Mapping[str, Any]
    ) -> ledger.NewEntry:
        return ledger.NewEntry(
            entry_type=entry_type,
            actor=self.actor,
            subjects=list(subjects),
            params={k: v for k, v in params.items() if v is not None},
        )

    def note(self, entry_type: str, subjects: Iterable[str], params: Mapping[str, Any]) -> None:
        self.entries.append(self._entry(entry_type, subjects, params))

    def later(self, build: Callable[[], Note]) -> None:
        self.entries.append(build)

    def add(self, session: Session, row: Base) -> None:
        """A new row: kept for :meth:`write` with ``bulk``, else added to the session."""
        if self.bulk:
            self.rows.append(row)
        else:
            session.add(row)

    def write(self, session: Session) -> None:
        """Insert the rows kept so far, one statement per table in first-added order."""
        rows, self.rows = self.rows, []
        by_table: dict[Table, list[Base]] = {}
        for row in rows:
            by_table.setdefault(row.__table__, []).append(row)  # type: ignore[arg-type]
        for table, group in by_table.items():
            insert_rows(session, table, group)

    def flush(self, session: Session) -> None:
        """Give every row added so far an id."""
        self.write(session)
        session.flush()

    def append(self, session: Session) -> list[ledger.AppendedEntry]:
        """Append everything noted so far to the ledger, in this session's transaction."""
        pending, self.entries = self.entries, []
        self.write(session)
        if any(callable(e) for e in pending):
            session.flush()
        entries = [e if isinstance(e, ledger.NewEntry) else self._entry(*e()) for e in pending]
        return ledger.append_entries(session, entries)


def _default(column: Column[Any]) -> Any:
    default = column.default
    if default is None:
        return None
    if default.is_scalar:
        return default.arg  # type: ignore[attr-defined]
    if default.is_callable:
        return default.arg(None)  # type: ignore[attr-defined]
    return None


def insert_rows(session: Session, table: Table, rows: Sequence[Base]) -> None:
    """Insert transient rows of one table with one statement and set their ``id``s."""
    columns = [c for c in table.columns if not c.primary_key]
    params = [
        {c.key: row.__dict__[c.key] if c.key in row.__dict__ else _default(c) for c in columns}
        for row in rows
    ]
    dialect = session.get_bind().dialect
    if dialect.name == "sqlite":
        ids = _insert_sqlite(session, table, columns, params)
    else:
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        ids = list(session.execute(statement, params).scalars().all())
    for row, row_id in zip(rows, ids, strict=True):
        row.id = row_id  # type: ignore[attr-defined]


_SQLITE_MAX_VARIABLES = 32766


@lru_cache(maxsize=64)
def _sqlite_insert(
    table: Table, dialect: Dialect
) -> tuple[str, str, list[Callable[[Any], Any] | None]]:
    """The INSERT prefix, one row's placeholders and the columns' value converters."""
    columns = [c for c in table.columns if not c.primary_key]
    quote = dialect.identifier_preparer
    names = ", ".join(quote.format_column(c) for c in columns)
    prefix = f"INSERT INTO {quote.format_table(table)} ({names}) VALUES "
    one_row = "(" + ", ".join("?" * len(columns)) + ")"
    converters: list[Callable[[Any], Any] | None] = [
        c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns
    ]
    return prefix, one_row, converters


def _insert_sqlite(
    session: Session, table: Table, columns: list[Column[Any]], params: list[dict[str, Any]]
) -> list[int]:
    """One multi-row INSERT ... RETURNING per page of rows, straight to the driver.

    SQLAlchemy cannot promise the order of RETURNING rows on SQLite, so with ids wanted in
    order it sends one INSERT per row. One INSERT gives its rows ascending rowids in the order
    of its VALUES (nothing else writes the database meanwhile), so the ids, sorted, are the
    rows' ids in order.
    """
    connection = session.connection()
    prefix, one_row, converters = _sqlite_insert(table, connection.dialect)
    keys = [c.key for c in columns]
    per_page = max(1, _SQLITE_MAX_VARIABLES // len(keys))
    ids: list[int] = []
    for start in range(0, len(params), per_page):
        page = params[start : start + per_page]
        values = tuple(
            convert(row[key]) if convert is not None else row[key]
            for row in page
            for key, convert in zip(keys, converters, strict=True)
        )
        sql = prefix + ", ".join([one_row] * len(page)) + " RETURNING id"
        ids.extend(sorted(connection.exec_driver_sql(sql, values).scalars().all()))
    return ids


def begin_records_write(session: Session) -> None:
    """Serialise record writers, as the ledger serialises appends.

    Joining an incident reads before it writes; taking the ledger lock first means two imports
    never both decide to create the same incident or the same organization.
    """
    ledger.lock_ledger(session)
