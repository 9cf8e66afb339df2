"""Changes made through the web app, each checked against the user's role and ledgered.

The record services (``testigo.records``) do the work and write the ledger entries; this module
checks who may do it, insists on a reason for every edit, and keeps the search index in step.
"""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy import func, select

from testigo.errors import RefusedInputError, UsageError
from testigo.records import edits as record_edits
from testigo.records import incidents as record_incidents
from testigo.records.edits import EditResult
from testigo.records.models import Event
from testigo.vault.service import Vault
from testigo.web import access
from testigo.web.accounts import Principal
from testigo.web.search import reindex

EDITABLE_FIELDS = (
    "title",
    "summary",
    "status",
    "confidentiality",
    "start_time",
    "end_time",
    "place_label",
)
MAX_ARTICLE_BYTES = 20 * 1024 * 1024
MAX_WITNESS_CHARS = 200_000


def _reason(reason: str | None) -> str:
    clean = " ".join((reason or "").split())
    if not clean:
        raise RefusedInputError("say why you are making this change (the reason is ledgered)")
    return clean[:1000]


def create_incident(
    vault: Vault,
    principal: Principal,
    *,
    title: str,
    summary: str | None = None,
    start_time: str | None = None,
    place_label: str | None = None,
    restricted: bool = False,
) -> int:
    access.require_role(principal, "contributor")
    created = record_incidents.create_incident(vault, title, actor=principal.actor)
    reason = "entered when the incident was created"
    for field, value in (
        ("summary", summary),
        ("start_time", start_time),
        ("place_label", place_label),
    ):
        if value and value.strip():
            record_incidents.update_incident(
                vault, created.id, field, value.strip(), reason=reason, actor=principal.actor
            )
    if restricted:
        if not principal.at_least("investigator"):
            # A contributor may keep their own new incident to themselves.
            access.set_restricted(
                vault,
                Principal(principal.user_id, principal.name, "investigator", principal.via),
                created.id,
                True,
                reason,
            )
        else:
            access.set_restricted(vault, principal, created.id, True, reason)
    reindex(vault, created.id)
    return created.id


def update_incident(
    vault: Vault,
    principal: Principal,
    incident_id: int,
    changes: dict[str, Any],
    reason: str | None,
) -> list[str]:
    """Apply changed fields one by one, each its own ledger entry with the same reason."""
    access.require_role(principal, "investigator")
    why = _reason(reason)
    with vault.reading() as session:
        incident = access.check_incident(session, principal, incident_id)
        current = {f: getattr(incident, f) for f in EDITABLE_FIELDS}
    changed: list[str] = []
    for field, value in changes.items():
        if field == "restricted":
            continue
        if field not in EDITABLE_FIELDS:
            raise UsageError(f"{field} cannot be edited; fields: {', '.join(EDITABLE_FIELDS)}")
        new = value.strip() if isinstance(value, str) else value
        if (new or None) == (current[field] or None):
            continue
        record_incidents.update_incident(
            vault, incident_id, field, new, reason=why, actor=principal.actor
        )
        changed.append(field)
    if "restricted" in changes and changes["restricted"] is not None:
        access.set_restricted(vault, principal, incident_id, bool(changes["restricted"]), why)
        changed.append("restricted")
    if changed:
        reindex(vault, incident_id)
    return changed


def add_event(
    vault: Vault,
    principal: Principal,
    incident_id: int,
    *,
    kind: str,
    description: str,
    occurred_on: str | None,
    item_id: int | None,
    media_start: float | None,
    reason: str | None,
) -> int:
    from testigo.records.citations import Citation
    from testigo.records.events import add_event as record_event
    from testigo.records.journal import Journal, begin_records_write
    from testigo.records.vocab import EventKind, check

    access.require_role(principal, "investigator")
    why = _reason(reason)
    text = " ".join(description.split())
    if not text:
        raise RefusedInputError("an event needs a description")
    event_kind = check(EventKind, kind or "other", "kind")
    with vault.transaction() as session:
        begin_records_write(session)
        access.check_incident(session, principal, incident_id)
        if item_id is not None:
            allowed, _ = access.item_access(session, principal, item_id)
            if not allowed:
                raise RefusedInputError(f"there is no item {item_id}")
        sequence = session.scalar(
            select(func.coalesce(func.max(Event.sequence), 0)).where(
                Event.incident_id == incident_id
            )
        )
        journal = Journal(principal.actor)
        row = record_event(
            session,
            journal,
            incident_id=incident_id,
            kind=event_kind,
            description=text,
            citation=Citation(
                item_id=item_id,
                media_start=media_start,
                media_end=media_start,
            )
            if item_id is not None
            else Citation(),
            sequence=int(sequence or 0) + 1,
            occurred_on=occurred_on or None,
        )
        if item_id is not None and media_start is not None:
            row.media_offset = media_start
        journal.note(
            "record.reason", [f"incident:{incident_id}", f"event:{row.id}"], {"reason": why}
        )
        journal.append(session)
        event_id = row.id
    reindex(vault, incident_id)
    return event_id


def add_person(
    vault: Vault,
    principal: Principal,
    incident_id: int,
    *,
    name: str | None,
    role: str,
    description: str | None,
    age: int | None,
    reason: str | None,
) -> int:
    from testigo.records.people import create_person

    access.require_role(principal, "investigator")
    why = _reason(reason)
    with vault.reading() as session:
        access.check_incident(session, principal, incident_id)
    result = create_person(
        vault,
        incident_id=incident_id,
        name=(name or "").strip() or None,
        role=role or "other",
        actor=principal.actor,
        description=(description or "").strip() or None,
        age=age,
        reason=why,
    )
    reindex(vault, incident_id)
    return int(result.get("id", 0))


def add_legal_action(
    vault: Vault,
    principal: Principal,
    incident_id: int,
    *,
    kind: str,
    description: str,
    issued_on: str | None,
    shown_to_subject: bool | None,
    reason: str | None,
) -> int:
    from testigo.records.citations import Citation
    from testigo.records.journal import Journal, begin_records_write
    from testigo.records.legal import LegalDraft
    from testigo.records.legal import add_legal_action as record_legal
    from testigo.records.vocab import LegalActionKind, check

    access.require_role(principal, "investigator")
    why = _reason(reason)
    text = " ".join(description.split())
    if not text:
        raise RefusedInputError("a legal action needs a description")
    draft = LegalDraft(
        kind=check(LegalActionKind, kind, "kind"),
        description=text,
        start=0,
        end=0,
        issued_on=issued_on or None,
        shown_to_subject=shown_to_subject,
    )
    with vault.transaction() as session:
        begin_records_write(session)
        access.check_incident(session, principal, incident_id)
        journal = Journal(principal.actor)
        row = record_legal(
            session, journal, incident_id=incident_id, draft=draft, citation=Citation()
        )
        journal.note(
            "record.reason", [f"incident:{incident_id}", f"legal_action:{row.id}"], {"reason": why}
        )
        journal.append(session)
        action_id = row.id
    reindex(vault, incident_id)
    return action_id


def _check_edit(vault: Vault, principal: Principal, incident_id: int, reason: str | None) -> str:
    """Investigators edit records, in incidents they may see; every edit has a reason."""
    access.require_role(principal, "investigator")
    why = _reason(reason)
    with vault.reading() as session:
        access.check_incident(session, principal, incident_id)
    return why


def edit_record(
    vault: Vault,
    principal: Principal,
    kind: str,
    incident_id: int,
    row_id: int,
    changes: dict[str, Any],
    reason: str | None,
) -> EditResult:
    """Change a person's, an event's or a legal action's fields (``kind``: see
    ``records.edits.EDITORS``). Only events are in the search index, so only they reindex."""
    why = _check_edit(vault, principal, incident_id, reason)
    result = record_edits.EDITORS[kind](
        vault, incident_id, row_id, changes, reason=why, actor=principal.actor
    )
    if kind == "event" and result.changed:
        reindex(vault, incident_id)
    return result


def import_article(
    vault: Vault,
    principal: Principal,
    *,
    incident_id: int | None,
    data: bytes | None = None,
    text: str | None = None,
    url: str | None = None,
    filename: str | None = None,
    content_type: str | None = None,
    kind: str | None = None,
) -> dict[str, Any]:
    """Import an article from bytes, pasted text or a URL into an incident (or a new one)."""
    from testigo.records.importer import import_article as record_import

    access.require_role(principal, "contributor")
    if incident_id is not None:
        with vault.reading() as session:
            access.check_incident(session, principal, incident_id)
    fetched_at: str | None = None
    if data is None and text and text.strip():
        data = text.encode("utf-8")
        content_type = content_type or "text/plain; charset=utf-8"
        filename = filename or "pasted-article.txt"
    elif data is None and url and url.strip():
        from testigo.records.fetch import fetch_url, is_url

        if not is_url(url.strip()):
            raise RefusedInputError("give an http:// or https:// address")
        fetched = fetch_url(url.strip(), max_bytes=MAX_ARTICLE_BYTES)
        data, content_type, fetched_at = fetched.data, fetched.content_type, fetched.fetched_at
        url = fetched.final_url or url.strip()
    if not data:
        raise RefusedInputError("give the article as a file, as pasted text or as a URL")
    if len(data) > MAX_ARTICLE_BYTES:
        raise RefusedInputError(f"an article can be at most {MAX_ARTICLE_BYTES:,} bytes")
    result = record_import(
        vault,
        data,
        content_type=content_type,
        filename=filename,
        url=(url or None) and (url or "").strip(),
        incident_id=incident_id,
        actor=principal.actor,
        fetched_at=fetched_at,
        kind=kind or None,
    )
    reindex(vault, result.incident_id)
    return dict(result.to_dict()) if hasattr(result, "to_dict") else dict(result.__dict__)


def witness_account(
    vault: Vault, principal: Principal, incident_id: int, *, author: str, text: str
) -> dict[str, Any]:
    """A witness's own words, stored as evidence and read like any other source."""
    clean = text.strip()
    if not clean:
        raise RefusedInputError("write the account first")
    if len(clean) > MAX_WITNESS_CHARS:
        raise RefusedInputError(f"an account can have at most {MAX_WITNESS_CHARS:,} characters")
    who = " ".join(author.split())[:200] or principal.name
    body = f"Witness account by {who}\n\n{clean}\n"
    buffer = io.BytesIO(body.encode("utf-8"))
    return import_article(
        vault,
        principal,
        incident_id=incident_id,
        data=buffer.getvalue(),
        filename="witness-account.txt",
        content_type="text/plain; charset=utf-8",
        kind="witness_account",
    )
