"""Collect the ledger entries of one unit of work and append them together.

Record services create rows, flush to learn their ids, and note an entry for each; the entries are
appended in one batch (``ledger.append_entries``) in the same transaction as the rows, so a record
and its history exist together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from sqlalchemy.orm import Session

from testigo.vault import ledger

Note: TypeAlias = tuple[str, Iterable[str], Mapping[str, Any]]


@dataclass
class Journal:
    """Pending ledger entries for one transaction, all by one actor.

    ``later`` takes a function that builds the entry once the rows have ids: rows are added
    without a flush each, and one flush before the append gives them all their ids, so a batch of
    rows costs one INSERT per table rather than one round trip per row.
    """

    actor: str
    entries: list[ledger.NewEntry | Callable[[], Note]] = field(default_factory=list)

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

    def append(self, session: Session) -> list[ledger.AppendedEntry]:
        """Append everything noted so far to the ledger, in this session's transaction."""
        pending, self.entries = self.entries, []
        if any(callable(e) for e in pending):
            session.flush()
        entries = [e if isinstance(e, ledger.NewEntry) else self._entry(*e()) for e in pending]
        return ledger.append_entries(session, entries)


def begin_records_write(session: Session) -> None:
    """Serialise record writers, as the ledger serialises appends.

    Joining an incident reads before it writes; taking the ledger lock first means two imports
    never both decide to create the same incident or the same organization.
    """
    ledger.lock_ledger(session)
