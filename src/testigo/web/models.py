"""Tables of the web app: accounts, sessions, API tokens, access to incidents, the search index.

Secrets are never stored as given: passwords as argon2 hashes, session ids and API tokens as
SHA-256 digests, so a copy of the database does not let anyone log in. The incident index is
derived data, rebuilt from the incident record by :mod:`testigo.web.search`; it exists so the
list, search, map and statistics pages read one narrow table.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    literal_column,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from testigo.db.models import Base

ROLES = ("admin", "investigator", "contributor", "viewer")


class User(Base):
    """A person who logs in; ``role`` is one of :data:`ROLES`."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(200))


class ApiToken(Base):
    """A token for scripts; only its SHA-256 is kept, the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[str] = mapped_column(String(40))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class WebSession(Base):
    """A browser session; ``id`` is the SHA-256 of the cookie value."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(40))
    expires_at: Mapped[float] = mapped_column(Float)


class LoginAttempt(Base):
    """Failed logins, counted per name and per address to slow down password guessing."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float)


class IncidentRestriction(Base):
    """An incident only its members (and admins) may see."""

    __tablename__ = "incident_restrictions"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    restricted_at: Mapped[str] = mapped_column(String(40))
    restricted_by: Mapped[str] = mapped_column(String(200))


class IncidentMember(Base):
    """A user named as a member of an incident."""

    __tablename__ = "incident_members"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    added_at: Mapped[str] = mapped_column(String(40))


class IncidentIndex(Base):
    """One row per incident with what the list, search, map and statistics need."""

    __tablename__ = "incident_index"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(40), default="open")
    occurred_on: Mapped[str | None] = mapped_column(String(10))
    agencies: Mapped[str] = mapped_column(Text, default="")
    places: Mapped[str] = mapped_column(Text, default="")
    place_name: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    has_video: Mapped[bool] = mapped_column(Boolean, default=False)
    use_of_force: Mapped[bool | None] = mapped_column(Boolean)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    source_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[str] = mapped_column(String(40))
    search_vector: Mapped[Any] = mapped_column(
        TSVECTOR().with_variant(Text(), "sqlite"), nullable=True
    )


class Upload(Base):
    """A resumable upload in progress; the bytes live in a file under the vault home."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    name: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(String(40))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_items.id"))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)


Index("ix_login_attempts_name_at", LoginAttempt.name, LoginAttempt.at)
Index("ix_login_attempts_address_at", LoginAttempt.address, LoginAttempt.at)
Index("ix_incident_index_occurred_on", IncidentIndex.occurred_on, IncidentIndex.incident_id)
Index("ix_incident_index_title", IncidentIndex.title, IncidentIndex.incident_id)
Index("ix_incident_index_status", IncidentIndex.status)
Index(
    "ix_incident_index_oldest",
    IncidentIndex.occurred_on == literal_column("''"),
    IncidentIndex.occurred_on,
    IncidentIndex.incident_id,
)
Index("ix_incident_members_user", IncidentMember.user_id)
