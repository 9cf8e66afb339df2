"""The job queue and analysis results.

``jobs`` is the queue itself: rows change as work is claimed, leased, retried and finished, so it
is an ordinary mutable table; what a job *produced* is never kept only there. ``annotations`` holds
the results that are not files (probe facts, speech segments, transcript lines, on-screen text,
matches between videos). It is append-only, like the evidence tables: an edited transcript line is
a new row that ``supersedes`` the old one, so the machine version is always kept, and every row
carries the ``ledger_seq`` of the entry that committed to it.

Times are RFC 3339 UTC strings of fixed width (``ledger.utc_now()``), like the rest of the schema:
they sort as text on SQLite and PostgreSQL alike, which is all the lease and backoff logic needs.
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
)
from sqlalchemy.orm import Mapped, mapped_column

from testigo.db.models import Base

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED_STATUSES = ("succeeded", "failed", "cancelled")


class Job(Base):
    """One step of analysis for one item, and everything the queue needs to run it once."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    step: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_items.id"))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    run_after: Mapped[str] = mapped_column(String(40))
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[str | None] = mapped_column(String(40))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[str | None] = mapped_column(String(40))
    finished_at: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[str] = mapped_column(String(40))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "step": self.step,
            "item_id": self.item_id,
            "params": self.params,
            "status": self.status,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "run_after": self.run_after,
            "lease_owner": self.lease_owner,
            "lease_until": self.lease_until,
            "cancel_requested": self.cancel_requested,
            "progress": self.progress,
            "message": self.message,
            "error": self.error,
            "result": self.result,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


class Annotation(Base):
    """A result about a stretch of an item: ``start``-``end`` seconds (both null: the whole)."""

    __tablename__ = "annotations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("evidence_items.id"))
    kind: Mapped[str] = mapped_column(String(32))
    start_seconds: Mapped[float | None] = mapped_column(Float)
    end_seconds: Mapped[float | None] = mapped_column(Float)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    supersedes: Mapped[int | None] = mapped_column(ForeignKey("annotations.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[str] = mapped_column(String(40))
    ledger_seq: Mapped[int] = mapped_column(BigInteger)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "item_id": self.item_id,
            "kind": self.kind,
            "start": self.start_seconds,
            "end": self.end_seconds,
            "data": self.data,
            "supersedes": self.supersedes,
            "job_id": self.job_id,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "ledger_seq": self.ledger_seq,
        }


Index("ix_jobs_claim", Job.status, Job.run_after)
Index("ix_jobs_item_step", Job.item_id, Job.step)
Index("ix_annotations_item_kind", Annotation.item_id, Annotation.kind)
Index("ix_annotations_supersedes", Annotation.supersedes)
Index("ix_annotations_ledger_seq", Annotation.ledger_seq)
