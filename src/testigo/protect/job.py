"""Redaction as a background job: the `redact` step of the job queue.

The web app and `testigo redact --background` queue it; a worker (inside `testigo serve`, or
`testigo worker`, or Celery) runs it with progress on the job row. The redacted copy and its
ledger entry are recorded in the same transaction that marks the job done: a worker that dies
midway leaves only an unnamed blob, and the retry makes exactly one copy.
"""

from __future__ import annotations

from typing import Any

from testigo.jobs.context import StepContext, StepOutput
from testigo.protect.service import prepare_redaction, queue_credentials
from testigo.vault.ingest import IngestResult

PARAMETERS = ("faces", "boxes", "mute", "bleep", "strip_metadata", "kind")


def redact_step(ctx: StepContext) -> StepOutput:
    params: dict[str, Any] = ctx.params or {}
    actor = str(params.get("actor") or ctx.actor)
    prepared = prepare_redaction(
        ctx.vault,
        ctx.item_id,
        faces=params.get("faces", "all"),
        boxes=list(params.get("boxes", [])),
        mute=list(params.get("mute", [])),
        bleep=bool(params.get("bleep", False)),
        strip_metadata=bool(params.get("strip_metadata", True)),
        kind=str(params.get("kind", "blur")),
        actor=actor,
        progress=lambda fraction, message: ctx.progress(min(0.99, fraction), message),
    )
    derived = prepared.derived

    def describe(stored: list[IngestResult]) -> dict[str, Any]:
        return {"item_id": stored[0].item_id}

    output = StepOutput(
        result={"sha256": derived.sha256, "media_type": derived.media_type},
        ledger_params={"redacted_sha256": derived.sha256},
        derived=[derived],
        describe=describe,
    )
    ctx.commit(output)
    # Committed: the copy exists, so reading its own credentials can be queued.
    queue_credentials(ctx.vault, ctx.stored[0].item_id, actor)
    return output
