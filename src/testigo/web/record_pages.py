"""The edit forms of the incident page: a person, a timeline event, a legal action.

Each form sends every field; :mod:`testigo.web.editing` ledgers only the ones that changed, so
saving an untouched form records nothing. An emptied field clears the value.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from testigo.web import editing
from testigo.web.deps import VaultDep
from testigo.web.pages import Csrf, PageUser, _check, _redirect

router = APIRouter(include_in_schema=False)
Field = Annotated[str, Form()]


@router.post("/incidents/{incident_id:int}/events/{event_id:int}/edit")
def edit_event(
    request: Request,
    incident_id: int,
    event_id: int,
    user: PageUser,
    vault: VaultDep,
    csrf_token: Csrf,
    kind: Field,
    reason: Field = "",
    description: Field = "",
    occurred_on: Field = "",
    clock_time: Field = "",
    media_offset: Field = "",
) -> Response:
    _check(request, user, csrf_token)
    changes = {
        "kind": kind,
        "description": description,
        "occurred_on": occurred_on,
        "clock_time": clock_time,
        "media_offset": media_offset,
    }
    editing.edit_record(vault, user, "event", incident_id, event_id, changes, reason)
    return _redirect(f"/incidents/{incident_id}#timeline")


@router.post("/incidents/{incident_id:int}/people/{person_id:int}/edit")
def edit_person(
    request: Request,
    incident_id: int,
    person_id: int,
    user: PageUser,
    vault: VaultDep,
    csrf_token: Csrf,
    role: Field,
    sensitivity: Field,
    reason: Field = "",
    name: Field = "",
    description: Field = "",
    age: Field = "",
    role_was: Field = "",
    sensitivity_was: Field = "",
) -> Response:
    _check(request, user, csrf_token)
    changes = {"name": name, "description": description, "age": age}
    # The form shows one role row of the person and their current sensitivity: only a value the
    # user changed is sent on, so saving a name leaves their other roles alone, and giving an age
    # under 18 is not read as a request to lower a minor's protection.
    if role != role_was:
        changes["role"] = role
    if sensitivity != sensitivity_was:
        changes["sensitivity"] = sensitivity
    editing.edit_record(vault, user, "person", incident_id, person_id, changes, reason)
    return _redirect(f"/incidents/{incident_id}#people")


@router.post("/incidents/{incident_id:int}/legal-actions/{action_id:int}/edit")
def edit_legal_action(
    request: Request,
    incident_id: int,
    action_id: int,
    user: PageUser,
    vault: VaultDep,
    csrf_token: Csrf,
    kind: Field,
    reason: Field = "",
    description: Field = "",
    form: Field = "",
    issued_on: Field = "",
    date_precision: Field = "",
    issuer: Field = "",
    shown: Field = "",
) -> Response:
    _check(request, user, csrf_token)
    changes = {
        "kind": kind,
        "description": description,
        "form": form,
        "issued_on": issued_on,
        "date_precision": date_precision,
        "issuer": issuer,
        "shown_to_subject": {"yes": True, "no": False}.get(shown),
    }
    editing.edit_record(vault, user, "legal_action", incident_id, action_id, changes, reason)
    return _redirect(f"/incidents/{incident_id}#legal")
