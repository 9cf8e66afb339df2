"""Shared helpers for the incident-record tests: the fictional articles and table scans."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from testigo.db.models import Base, Incident, LedgerSubject
from testigo.records import models as m
from testigo.vault.service import Vault

ARTICLES = Path(__file__).parent / "articles"
SEED = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "seed"

RECORD_TABLES: dict[str, type[Base]] = {
    "source": m.Source,
    "person": m.Person,
    "person_alias": m.PersonAlias,
    "person_role": m.PersonRole,
    "organization": m.Organization,
    "incident_organization": m.IncidentOrganization,
    "place": m.Place,
    "incident_place": m.IncidentPlace,
    "legal_action": m.LegalAction,
    "event": m.Event,
    "quote": m.Quote,
    "claim": m.Claim,
}


def article(name: str) -> bytes:
    return (ARTICLES / name).read_bytes()


@pytest.fixture
def seed_article() -> bytes:
    path = SEED / "01-kansas-city-car-window.txt"
    if not path.is_file():
        pytest.skip("the seed corpus is not available")
    return path.read_bytes()


def count_rows(vault: Vault) -> dict[str, int]:
    with vault.reading() as session:
        counts = {
            name: len(session.scalars(select(model.id)).all())  # type: ignore[attr-defined]
            for name, model in RECORD_TABLES.items()
        }
        counts["incident"] = len(session.scalars(select(Incident.id)).all())
        return counts


def unledgered_rows(vault: Vault) -> list[str]:
    """Every record row must be the subject of at least one ledger entry."""
    missing: list[str] = []
    with vault.reading() as session:
        subjects = set(session.scalars(select(LedgerSubject.subject)))
        for name, model in RECORD_TABLES.items():
            for row_id in session.scalars(select(model.id)):  # type: ignore[attr-defined]
                if f"{name}:{row_id}" not in subjects:
                    missing.append(f"{name}:{row_id}")
        for row_id in session.scalars(select(Incident.id)):
            if f"incident:{row_id}" not in subjects:
                missing.append(f"incident:{row_id}")
    return missing
