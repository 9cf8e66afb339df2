"""Remembered ids of rows that never change once written: places and organizations.

A place or an organization is created once and is never edited or deleted, so the id found for a
key stays right for the life of the database. Imports look them up for every article; remembering
them per engine turns a query (and often a flush) per lookup into a dictionary read.

A row this transaction creates is remembered only in the session until the transaction commits,
so a rolled-back import never leaves behind an id for a row that does not exist.
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

_PENDING = "testigo.records.lookups.pending"
_COMMITTED: weakref.WeakKeyDictionary[Engine, dict[str, dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _committed(session: Session, table: str) -> dict[str, Any]:
    return _COMMITTED.setdefault(_engine(session), {}).setdefault(table, {})


def _pending(session: Session) -> dict[str, dict[str, Any]]:
    if _PENDING not in session.info:
        session.info[_PENDING] = {}
        event.listen(session, "after_commit", _publish)
        event.listen(session, "after_rollback", _forget)
    pending: dict[str, dict[str, Any]] = session.info[_PENDING]
    return pending


def _publish(session: Session) -> None:
    for table, values in session.info.get(_PENDING, {}).items():
        _committed(session, table).update(values)
        values.clear()


def _forget(session: Session) -> None:
    for values in session.info.get(_PENDING, {}).values():
        values.clear()


def lookup(session: Session, table: str, key: str) -> Any | None:
    """The value remembered for ``key``: this transaction's own rows first, then committed ones."""
    own = session.info.get(_PENDING, {}).get(table)
    if own and key in own:
        return own[key]
    return _committed(session, table).get(key)


def has_all(session: Session, table: str, keys: list[str]) -> bool:
    committed = _committed(session, table)
    own = session.info.get(_PENDING, {}).get(table, {})
    return all(k in committed or k in own for k in keys)


def remember(session: Session, table: str, key: str, value: Any, *, created: bool) -> None:
    """Remember a row read from the database, or (``created``) one this transaction wrote."""
    if created:
        _pending(session).setdefault(table, {})[key] = value
    else:
        _committed(session, table)[key] = value
