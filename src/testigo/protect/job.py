"""Redaction as a background job: the `redact` step of the job queue.

The web app and `testigo redact --background` queue it; a worker (inside `testigo serve`, or
`testigo worker`, or Celery) runs it with progress on the job row. The redacted copy and its
ledger entry are written by `redact_item` itself, all or nothing.
"""

from __future__ import annotations

from typing import Any

from testigo.jobs.context import StepContext, StepOutput
from testigo.protect.service import redact_item

PARAMETERS = ("faces", "boxes", "mute", "bleep", "strip_metadata", "kind")


def redact_step(ctx: StepContext) -> StepOutput:
    params: dict[str, Any] = ctx.params or {}
    actor = str(params.get("actor") or ctx.actor)
    result = redact_item(
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
    summary = result.to_dict()
    return StepOutput(
        result={
            "item_id": summary.get("item_id"),
            "sha256": summary.get("sha256"),
            "media_type": summary.get("media_type"),
        },
        ledger_params={"redacted_sha256": summary.get("sha256")},
    )
