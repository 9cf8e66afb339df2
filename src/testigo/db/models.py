"""The vault's tables.

The ledger tables (entries, their subjects, tree nodes and checkpoints) and the evidence tables
(items, acquisitions, parents) are append-only: database triggers refuse UPDATE and DELETE, created
by the migrations on SQLite and PostgreSQL alike. Verification still re-checks every row, because
somebody with raw file access could drop a trigger.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        datetime: DateTime(timezone=True),
    }


APPEND_ONLY_TABLES = (
    "ledger_entries",
    "ledger_subjects",
    "ledger_nodes",
    "checkpoints",
    "evidence_items",
    "item_parents",
    "acquisitions",
    "checkpoint_timestamps",
)


class LedgerEntry(Base):
    """One entry of the append-only log; ``body`` is its canonical JSON, the Merkle leaf."""

    __tablename__ = "ledger_entries"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry_type: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[str] = mapped_column(String(40))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerSubject(Base):
    """Which entries concern which subject (``sha256:<hex>``, ``incident:<id>``...)."""

    __tablename__ = "ledger_subjects"

    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class LedgerNode(Base):
    """Hash of the complete subtree covering leaves [idx * 2**level, (idx + 1) * 2**level)."""

    __tablename__ = "ledger_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class Checkpoint(Base):
    """A signed note committing to the tree at ``tree_size``."""

    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, index=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(String(40))


class EvidenceItem(Base):
    """A file in the vault: stored once by content, never changed."""

    __tablename__ = "evidence_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32), default="original")
    flags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[str] = mapped_column(String(40))
    ledger_seq: Mapped[int] = mapped_column(BigInteger)


class ItemParent(Base):
    """A derived item names the items it was made from."""

    __tablename__ = "item_parents"

    item_id: Mapped[int] = mapped_column(ForeignKey("evidence_items.id"), primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("evidence_items.id"), primary_key=True)
    relation: Mapped[str] = mapped_column(String(64), default="derived_from")


class Acquisition(Base):
    """One receipt of an item: who handed it over, when, from where and how (chain of custody)."""

    __tablename__ = "acquisitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("evidence_items.id"), index=True)
    original_name: Mapped[str | None] = mapped_column(String(1024))
    acquired_by: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[str] = mapped_column(String(40))
    acquired_from: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    file_modified_at: Mapped[str | None] = mapped_column(String(40))
    ledger_seq: Mapped[int] = mapped_column(BigInteger)


class Incident(Base):
    """An encounter; evidence, sources and facts hang off it."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(200))
    # The record (revision 0002): vocabularies in testigo.records.vocab, places in incident_places.
    summary: Mapped[str | None] = mapped_column(Text)
    start_time: Mapped[str | None] = mapped_column(String(40))
    end_time: Mapped[str | None] = mapped_column(String(40))
    time_precision: Mapped[str | None] = mapped_column(String(16))
    place_label: Mapped[str | None] = mapped_column(String(300))
    place_precision: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="reported", server_default="reported")
    confidentiality: Mapped[str] = mapped_column(
        String(16), default="restricted", server_default="restricted"
    )
    updated_at: Mapped[str | None] = mapped_column(String(40))


class IncidentItem(Base):
    """Evidence attached to an incident (attach and detach are ledgered)."""

    __tablename__ = "incident_items"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("evidence_items.id"), primary_key=True)
    added_at: Mapped[str] = mapped_column(String(40))


Index("ix_item_parents_parent", ItemParent.parent_id)
Index("ix_incident_items_item", IncidentItem.item_id)


class CheckpointTimestamp(Base):
    """An RFC 3161 timestamp token over a checkpoint's signed note, from a configured TSA."""

    __tablename__ = "checkpoint_timestamps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("checkpoints.id"), index=True)
    tsa_url: Mapped[str] = mapped_column(String(1000))
    response: Mapped[bytes] = mapped_column(LargeBinary)
    gen_time: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[str] = mapped_column(String(40))
