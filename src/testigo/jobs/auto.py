"""Queue analysis for newly ingested media. Called after an ingest commits; never makes it fail."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from testigo.jobs.config import load_job_settings
from testigo.jobs.queue import enqueue_steps, steps_for_media_type
from testigo.vault.service import Vault

if TYPE_CHECKING:
    from testigo.vault.ingest import IngestResult

log = logging.getLogger(__name__)


def queue_analysis_after_ingest(vault: Vault, result: IngestResult) -> list[int]:
    """Queue the steps suited to a new item's media type; returns the new job ids.

    Duplicates (content already in the vault) were analysed when first stored.
    """
    if result.duplicate:
        return []
    steps = steps_for_media_type(result.media_type)
    return queue_steps_quietly(vault, result.item_id, steps, "testigo:ingest")


def queue_steps_quietly(vault: Vault, item_id: int, steps: Sequence[str], actor: str) -> list[int]:
    """Queue ``steps`` for an item when automatic analysis is on; returns the new job ids.

    Any problem is logged and swallowed: the item is safely stored whatever happens to its
    analysis, and `testigo analyze` can queue it later.
    """
    try:
        settings = load_job_settings()
        if not settings.auto_analyze:
            return []
        if not steps:
            return []
        jobs = enqueue_steps(vault, item_id, steps, actor=actor, settings=settings)
        return [job.id for job, created in jobs if created]
    except Exception as exc:
        log.warning("item %s was stored, but its analysis could not be queued: %s", item_id, exc)
        return []
