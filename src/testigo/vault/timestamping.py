"""RFC 3161 timestamps on checkpoints, when the user configured a timestamp authority.

Nothing goes to the network unless `TESTIGO_TSA_URL` is set. A timestamp proves the checkpoint,
and so every entry it covers, existed no later than the TSA's time. A TSA that is down never
blocks the vault: the checkpoint stands, and `testigo log timestamp` adds the missing tokens later.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from testigo.db.models import Checkpoint as CheckpointRow
from testigo.db.models import CheckpointTimestamp
from testigo.errors import TestigoError
from testigo.vault import ledger
from testigo.vault.service import Vault

log = logging.getLogger(__name__)


def timestamp_checkpoint(vault: Vault, checkpoint: CheckpointRow) -> CheckpointTimestamp | None:
    """Ask the configured TSA to countersign one checkpoint; None when no TSA is configured."""
    from testigo.share.timestamps import configured_tsa, request_timestamp

    tsa = configured_tsa()
    if tsa is None:
        return None
    url, ca_file = tsa
    token = request_timestamp(checkpoint.note.encode("utf-8"), url, ca_file=ca_file)
    row = CheckpointTimestamp(
        checkpoint_id=checkpoint.id,
        tsa_url=url,
        response=token.response_der,
        gen_time=token.gen_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        created_at=ledger.utc_now(),
    )
    with vault.transaction() as session:
        session.add(row)
        session.flush()
    return row


def timestamp_quietly(vault: Vault, checkpoint: CheckpointRow) -> None:
    """Used right after signing: a TSA failure is logged, never raised."""
    try:
        timestamp_checkpoint(vault, checkpoint)
    except TestigoError as exc:
        log.warning("checkpoint %s was not timestamped: %s", checkpoint.id, exc)


def timestamp_missing(vault: Vault) -> list[CheckpointTimestamp]:
    """Timestamp every checkpoint that has no token yet (newest first)."""
    with vault.reading() as session:
        stamped = select(CheckpointTimestamp.checkpoint_id)
        rows = list(
            session.scalars(
                select(CheckpointRow)
                .where(CheckpointRow.id.not_in(stamped))
                .order_by(CheckpointRow.id.desc())
            )
        )
    done = []
    for row in rows:
        token = timestamp_checkpoint(vault, row)
        if token is None:
            break
        done.append(token)
    return done


def timestamps_for(vault: Vault, checkpoint_ids: list[int]) -> list[CheckpointTimestamp]:
    if not checkpoint_ids:
        return []
    with vault.reading() as session:
        return list(
            session.scalars(
                select(CheckpointTimestamp)
                .where(CheckpointTimestamp.checkpoint_id.in_(checkpoint_ids))
                .order_by(CheckpointTimestamp.id)
            )
        )
