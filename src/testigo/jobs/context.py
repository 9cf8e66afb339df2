"""What a step function gets: the job, a way to report progress, and the one commit it makes.

A step computes everything first (the media library returns whole results or raises) and writes
the blobs of its derived files (``prepare_derived``: content-addressed, so a blob that no row names
is harmless). Then one transaction records everything: the derived items and their
``evidence.derive`` entries, the annotations that name them and their ``annotation.add`` entry,
and the job's success. A step that fails, is cancelled or whose worker dies before that commit
leaves no row behind. ``check()`` between chunks of work raises if the job was cancelled, lost its
lease, or the worker is stopping, so an abandoned job never commits anything.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from testigo.jobs import queue
from testigo.jobs.results import NewAnnotation, WrittenBatch, write_annotations
from testigo.vault.derive import PreparedDerived, record_derived
from testigo.vault.ingest import IngestResult
from testigo.vault.service import Vault

ANALYSIS_ACTOR = "testigo:analysis"


Annotate = Callable[[list[IngestResult]], list[NewAnnotation]]
Describe = Callable[[list[IngestResult]], dict[str, Any]]


@dataclass
class StepOutput:
    """A step's results: annotations, a short JSON summary for the job row, ledger parameters.

    ``derived`` lists derived files whose blobs are written; their items are recorded in the
    commit's transaction, in order, and ``annotate`` is then given the stored items (with their
    new ids) to make the annotations that name them; ``describe`` adds fields that name them to
    the job's result (a redaction's new item id).
    """

    annotations: list[NewAnnotation] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    ledger_params: dict[str, Any] = field(default_factory=dict)
    derived: list[PreparedDerived] = field(default_factory=list)
    annotate: Annotate | None = None
    describe: Describe | None = None


@dataclass
class StepContext:
    vault: Vault
    job_id: int
    step: str
    item_id: int
    params: dict[str, Any]
    owner: str
    attempt: int = 1
    actor: str = ANALYSIS_ACTOR
    cancelled: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)
    committed: WrittenBatch | None = None
    stored: list[IngestResult] = field(default_factory=list)  # derived items, once committed
    committed_flag: bool = False
    fraction: float = 0.0
    message: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    on_progress: Callable[[float, str | None], None] | None = None

    def check(self) -> None:
        """Stop here if the job may not go on (cancelled, taken over, worker stopping)."""
        if self.cancelled.is_set():
            raise queue.JobCancelled(f"job {self.job_id} was cancelled")
        if self.lost.is_set():
            raise queue.JobLost(f"job {self.job_id} is no longer leased to this worker")
        if self.stopping.is_set():
            raise queue.JobInterrupted(f"job {self.job_id} interrupted: the worker is stopping")

    def progress(self, fraction: float, message: str | None = None) -> None:
        """Record progress (0-1); written to the job row by the heartbeat, never blocking."""
        with self._lock:
            self.fraction = max(0.0, min(1.0, fraction))
            if message is not None:
                self.message = message[:500]
        if self.on_progress is not None:
            self.on_progress(self.fraction, message)
        self.check()

    def snapshot(self) -> tuple[float, str | None]:
        with self._lock:
            return self.fraction, self.message

    def commit(self, output: StepOutput) -> StepOutput:
        """Store the derived items, the annotations and the job's success in one transaction."""
        self.check()
        with self.vault.transaction() as session:
            stored = [record_derived(session, prepared) for prepared in output.derived]
            annotations = list(output.annotations)
            if output.annotate is not None:
                annotations.extend(output.annotate(stored))
            batch = write_annotations(
                session,
                annotations,
                actor=self.actor,
                params={
                    "step": self.step,
                    "job": self.job_id,
                    "item_id": self.item_id,
                    **output.ledger_params,
                },
                job_id=self.job_id,
                about=[self.item_id] if self.item_id else [],
            )
            result = dict(output.result)
            if output.describe is not None:
                result.update(output.describe(stored))
            if batch is not None:
                result["ledger_seq"] = batch.ledger_seq
                result["annotations"] = len(batch.annotation_ids)
            queue.complete_in(session, self.job_id, self.owner, result)
        self.committed = batch
        self.stored = stored
        self.committed_flag = True
        return output
