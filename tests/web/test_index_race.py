"""Several server processes keep the search index fresh at once: indexing the same incident at
the same moment must never fail (it did on PostgreSQL: a read-then-insert race)."""

from __future__ import annotations

import threading

from sqlalchemy import delete

from testigo.demo import EXAMPLE_ARTICLE
from testigo.records.importer import import_article
from testigo.vault.service import Vault
from testigo.web.models import IncidentIndex
from testigo.web.search import reindex


def test_concurrent_reindex_of_a_new_incident(vault: Vault) -> None:
    incident = import_article(
        vault, EXAMPLE_ARTICLE.encode(), filename="news.txt", actor="t"
    ).incident_id
    errors: list[BaseException] = []
    for _ in range(15):
        with vault.transaction() as session:
            session.execute(delete(IncidentIndex).where(IncidentIndex.incident_id == incident))
        barrier = threading.Barrier(3)

        def index(barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                reindex(vault, incident)
            except BaseException as exc:  # collected: the assertion below names it
                errors.append(exc)

        threads = [threading.Thread(target=index) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert errors == []
    with vault.reading() as session:
        row = session.get(IncidentIndex, incident)
        assert row is not None and row.title
