"""The JSON API under /api/v1, described by OpenAPI at /api/v1/openapi.json.

Every handler calls the same service functions as the pages; scripts authenticate with
``Authorization: Bearer <token>``, the browser with its session cookie plus ``X-CSRF-Token``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from testigo.errors import NotFoundError, RefusedInputError
from testigo.vault import ledger
from testigo.vault.proofs import checkpoint_dict
from testigo.web import access, accounts, editing, evidence, search
from testigo.web.deps import ApiUser, VaultDep
from testigo.web.incident_view import incident_detail

router = APIRouter(prefix="/api/v1")


class IncidentCreate(BaseModel):
    title: str = Field(min_length=1, max_length=500)
    summary: str | None = None
    start_time: str | None = Field(default=None, description="ISO 8601 date or date-time")
    place_label: str | None = None
    restricted: bool = False


class IncidentPatch(BaseModel):
    reason: str = Field(description="Why the change is made; kept in the ledger")
    title: str | None = None
    summary: str | None = None
    status: str | None = None
    confidentiality: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    place_label: str | None = None
    restricted: bool | None = None


class MemberChange(BaseModel):
    user: str
    reason: str | None = None


class EventCreate(BaseModel):
    kind: str = "other"
    description: str
    occurred_on: str | None = None
    item_id: int | None = Field(default=None, description="A recording the event is seen in")
    media_start: float | None = Field(default=None, description="Seconds into that recording")
    reason: str


class PersonCreate(BaseModel):
    name: str | None = None
    role: str = "other"
    description: str | None = None
    age: int | None = None
    reason: str


class LegalActionCreate(BaseModel):
    kind: str
    description: str
    issued_on: str | None = None
    shown_to_subject: bool | None = None
    reason: str


class PersonPatch(BaseModel):
    """Fields left out stay as they are; ``null`` clears an optional field."""

    reason: str = Field(description="Why the change is made; kept in the ledger")
    name: str | None = None
    description: str | None = None
    age: int | None = Field(default=None, ge=0, le=130)
    sensitivity: str | None = Field(default=None, description="public, restricted, protected")
    role: str | None = Field(default=None, description="The person's part in this incident")


class EventPatch(BaseModel):
    """Fields left out stay as they are; ``null`` clears an optional field."""

    reason: str = Field(description="Why the change is made; kept in the ledger")
    kind: str | None = None
    description: str | None = None
    occurred_on: str | None = Field(default=None, description="YYYY-MM-DD, YYYY-MM or YYYY")
    clock_time: str | None = Field(default=None, description="HH:MM")
    time_precision: str | None = None
    media_offset: float | None = Field(default=None, description="Seconds into the recording")
    sequence: int | None = Field(default=None, description="Position in the timeline")


class LegalActionPatch(BaseModel):
    """Fields left out stay as they are; ``null`` clears an optional field."""

    reason: str = Field(description="Why the change is made; kept in the ledger")
    kind: str | None = None
    description: str | None = None
    form: str | None = Field(default=None, description="The form number, e.g. I-205")
    issued_on: str | None = Field(default=None, description="YYYY-MM-DD, YYYY-MM or YYYY")
    date_precision: str | None = None
    issuer: str | None = Field(default=None, description="Who issued it, as worded")
    shown_to_subject: bool | None = Field(default=None, description="null: not stated")


class ArticleImport(BaseModel):
    incident_id: int | None = None
    text: str | None = None
    url: str | None = None
    kind: str | None = None


class WitnessAccount(BaseModel):
    author: str = ""
    text: str


class UploadCreate(BaseModel):
    name: str
    size: int = Field(ge=0)
    incident_id: int | None = None
    note: str | None = None


class TokenCreate(BaseModel):
    name: str = "script"


class UserCreate(BaseModel):
    name: str
    role: str = "viewer"
    password: str | None = None


class UserPatch(BaseModel):
    role: str | None = None
    disabled: bool | None = None
    reason: str | None = None


async def search_query(
    q: str = "",
    agency: str = "",
    place: str = "",
    date_from: str = "",
    date_to: str = "",
    status: str = "",
    has_video: bool | None = None,
    use_of_force: bool | None = None,
    sort: str = "recent",
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 25,
) -> search.SearchQuery:
    return search.SearchQuery(
        q=q[:200],
        agency=agency[:200],
        place=place[:200],
        date_from=date_from[:10],
        date_to=date_to[:10],
        status=status[:40],
        has_video=has_video,
        use_of_force=use_of_force,
        sort=sort,
        page=page,
        per_page=per_page,
    )


SearchDep = Annotated[search.SearchQuery, Depends(search_query)]


@router.get("/me", tags=["accounts"], response_class=JSONResponse)
def me(user: ApiUser) -> JSONResponse:
    return JSONResponse(user.to_dict())


@router.get("/incidents", tags=["incidents"], response_class=JSONResponse)
def list_incidents(user: ApiUser, vault: VaultDep, query: SearchDep) -> JSONResponse:
    """Incidents the caller may see: full-text `q`, filters, `sort`, `page`, `per_page`."""
    with vault.reading() as session:
        return JSONResponse(search.search_incidents(session, user, query).to_dict())


@router.post("/incidents", status_code=201, tags=["incidents"])
def create_incident(body: IncidentCreate, user: ApiUser, vault: VaultDep) -> dict[str, Any]:
    """Contributor or higher."""
    incident_id = editing.create_incident(
        vault,
        user,
        title=body.title,
        summary=body.summary,
        start_time=body.start_time,
        place_label=body.place_label,
        restricted=body.restricted,
    )
    return incident_json(vault, user, incident_id)


def incident_json(vault: Any, user: accounts.Principal, incident_id: int) -> dict[str, Any]:
    with vault.reading() as session:
        access.check_incident(session, user, incident_id)
        data = incident_detail(vault, session, user, incident_id)
    if data["restricted"]:
        access.record_view(
            vault, user, action="view", subjects=[f"incident:{incident_id}"], params={}
        )
    return data


@router.get("/incidents/{incident_id}", tags=["incidents"], response_class=JSONResponse)
def get_incident(incident_id: int, user: ApiUser, vault: VaultDep) -> JSONResponse:
    """The whole record: timeline, people, agencies, places, legal actions, sources, claims,
    evidence. Restricted incidents answer 404 to non-members; members' views are ledgered."""
    return JSONResponse(incident_json(vault, user, incident_id))


@router.patch("/incidents/{incident_id}", tags=["incidents"])
def patch_incident(
    incident_id: int, body: IncidentPatch, user: ApiUser, vault: VaultDep
) -> dict[str, Any]:
    """Investigator or higher; every changed field is a ledger entry with the reason."""
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    changed = editing.update_incident(vault, user, incident_id, changes, body.reason)
    return {"changed": changed, "incident": incident_json(vault, user, incident_id)}


@router.get("/incidents/{incident_id}/members", tags=["access"])
def list_members(incident_id: int, user: ApiUser, vault: VaultDep) -> list[dict[str, Any]]:
    return access.members(vault, user, incident_id)


@router.post("/incidents/{incident_id}/members", status_code=201, tags=["access"])
def add_member(
    incident_id: int, body: MemberChange, user: ApiUser, vault: VaultDep
) -> list[dict[str, Any]]:
    access.change_member(vault, user, incident_id, body.user, add=True, reason=body.reason)
    return access.members(vault, user, incident_id)


@router.delete("/incidents/{incident_id}/members/{name}", tags=["access"])
def remove_member(
    incident_id: int, name: str, user: ApiUser, vault: VaultDep
) -> list[dict[str, Any]]:
    access.change_member(vault, user, incident_id, name, add=False)
    return access.members(vault, user, incident_id)


@router.post("/incidents/{incident_id}/events", status_code=201, tags=["records"])
def create_event(
    incident_id: int, body: EventCreate, user: ApiUser, vault: VaultDep
) -> dict[str, Any]:
    event_id = editing.add_event(
        vault,
        user,
        incident_id,
        kind=body.kind,
        description=body.description,
        occurred_on=body.occurred_on,
        item_id=body.item_id,
        media_start=body.media_start,
        reason=body.reason,
    )
    return {"id": event_id}


@router.post("/incidents/{incident_id}/people", status_code=201, tags=["records"])
def create_person(
    incident_id: int, body: PersonCreate, user: ApiUser, vault: VaultDep
) -> dict[str, Any]:
    person_id = editing.add_person(
        vault,
        user,
        incident_id,
        name=body.name,
        role=body.role,
        description=body.description,
        age=body.age,
        reason=body.reason,
    )
    return {"id": person_id}


@router.post("/incidents/{incident_id}/legal-actions", status_code=201, tags=["records"])
def create_legal_action(
    incident_id: int, body: LegalActionCreate, user: ApiUser, vault: VaultDep
) -> dict[str, Any]:
    action_id = editing.add_legal_action(
        vault,
        user,
        incident_id,
        kind=body.kind,
        description=body.description,
        issued_on=body.issued_on,
        shown_to_subject=body.shown_to_subject,
        reason=body.reason,
    )
    return {"id": action_id}


@router.patch("/incidents/{incident_id}/people/{person_id}", tags=["records"])
def patch_person(
    incident_id: int, person_id: int, body: PersonPatch, user: ApiUser, vault: VaultDep
) -> dict[str, Any]:
    """Investigator or higher; each changed field is a `person.edit` ledger entry."""
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    result = editing.edit_record(
        vault, user, "person", incident_id, person_id, changes, body.reason
    )
    return result.to_dict()


@router.patch("/incidents/{incident_id}/events/{event_id}", tags=["records"])
def patch_event(
    incident_id: int, event_id: int, body: EventPatch, user: ApiUser, vault: VaultDep
) -> dict[str, Any]:
    """Investigator or higher; each changed field is an `event.edit` ledger entry."""
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    result = editing.edit_record(vault, user, "event", incident_id, event_id, changes, body.reason)
    return result.to_dict()


@router.patch("/incidents/{incident_id}/legal-actions/{action_id}", tags=["records"])
def patch_legal_action(
    incident_id: int, action_id: int, body: LegalActionPatch, user: ApiUser, vault: VaultDep
) -> dict[str, Any]:
    """Investigator or higher; each changed field is a `legal_action.edit` ledger entry."""
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    result = editing.edit_record(
        vault, user, "legal_action", incident_id, action_id, changes, body.reason
    )
    return result.to_dict()


@router.post("/incidents/{incident_id}/witness-accounts", status_code=201, tags=["evidence"])
def create_witness_account(
    incident_id: int, body: WitnessAccount, user: ApiUser, vault: VaultDep
) -> dict[str, Any]:
    return editing.witness_account(vault, user, incident_id, author=body.author, text=body.text)


@router.post("/articles", status_code=201, tags=["evidence"])
def import_article(body: ArticleImport, user: ApiUser, vault: VaultDep) -> dict[str, Any]:
    """Pasted `text` or a `url` to fetch; joins `incident_id` or finds or creates one."""
    return editing.import_article(
        vault, user, incident_id=body.incident_id, text=body.text, url=body.url, kind=body.kind
    )


@router.post("/articles/file", status_code=201, tags=["evidence"])
def import_article_file(
    user: ApiUser,
    vault: VaultDep,
    file: Annotated[UploadFile, File()],
    incident_id: Annotated[int | None, Form()] = None,
) -> dict[str, Any]:
    if file.size is not None and file.size > editing.MAX_ARTICLE_BYTES:
        raise RefusedInputError(f"an article can be at most {editing.MAX_ARTICLE_BYTES:,} bytes")
    data = file.file.read(editing.MAX_ARTICLE_BYTES + 1)
    return editing.import_article(
        vault,
        user,
        incident_id=incident_id,
        data=data,
        filename=evidence.safe_filename(file.filename, "article"),
        content_type=file.content_type,
    )


@router.get("/items/{item_id}", tags=["evidence"], response_class=JSONResponse)
def get_item(item_id: int, user: ApiUser, vault: VaultDep) -> JSONResponse:
    return JSONResponse(evidence.get_item(vault, user, item_id, action="view"))


@router.get("/items/{item_id}/proof", tags=["evidence"], response_class=JSONResponse)
def get_item_proof(item_id: int, user: ApiUser, vault: VaultDep) -> JSONResponse:
    """Entry bytes, leaf hashes and audit paths in the newest signed checkpoint, with the
    verifier key: everything needed to check the item without trusting the server."""
    return JSONResponse(evidence.item_proof(vault, user, item_id))


def content_response(
    vault: Any, user: accounts.Principal, item_id: int, *, download: bool
) -> Response:
    item = evidence.get_item(vault, user, item_id, action="download" if download else "view")
    inline = item["inline"] and not download
    media_type = item["media_type"] if inline else "application/octet-stream"
    filename = evidence.safe_filename(item.get("name"), item["sha256"][:16])
    disposition = "inline" if inline else "attachment"
    headers = {
        "Content-Disposition": f'{disposition}; filename="{filename}"',
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }
    path = evidence.blob_path(vault, item["sha256"])
    if path is not None:
        return FileResponse(path, media_type=media_type, headers=headers)
    try:
        stream = vault.blobs.open(item["sha256"])
    except KeyError as exc:
        raise NotFoundError(f"the file of item {item_id} is missing from the store") from exc

    def chunks() -> Any:
        with stream:
            while block := stream.read(1024 * 1024):
                yield block

    return StreamingResponse(chunks(), media_type=media_type, headers=headers)


@router.get("/items/{item_id}/content", tags=["evidence"])
def get_item_content(
    item_id: int, user: ApiUser, vault: VaultDep, download: bool = True
) -> Response:
    """The stored bytes (ranges supported); restricted evidence downloads are ledgered."""
    return content_response(vault, user, item_id, download=download)


class RedactRequest(BaseModel):
    """What to hide in the copy (see docs/redaction.md); the original is never changed."""

    faces: str | list[int] = "all"
    boxes: list[str] = Field(default_factory=list, max_length=200)
    mute: list[str] = Field(default_factory=list, max_length=200)
    bleep: bool = False
    strip_metadata: bool = True
    kind: str = "blur"


@router.post("/items/{item_id}/redact", status_code=202, tags=["evidence"])
def redact_item_job(
    item_id: int, body: RedactRequest, user: ApiUser, vault: VaultDep
) -> dict[str, Any]:
    """Investigator or higher: queue a redacted, signed copy as a background job."""
    from testigo.jobs import queue

    access.require_role(user, "investigator")
    evidence.get_item(vault, user, item_id, action="view")
    params = {**body.model_dump(), "actor": user.actor}
    job = queue.enqueue(vault, "redact", item_id, params=params, force=True, actor=user.actor)
    return {"job_id": job.id, "status": job.status, "step": job.step, "item_id": item_id}


@router.get("/jobs/{job_id}", tags=["evidence"])
def get_job(job_id: int, user: ApiUser, vault: VaultDep) -> dict[str, Any]:
    """A background job's status and progress, for anyone who may see its item."""
    from testigo.jobs import queue

    job = queue.get_job(vault, job_id)
    if job.item_id is None:
        access.require_role(user, "investigator")
    else:
        evidence.get_item(vault, user, job.item_id, action="view")
    return job.to_dict()


@router.get("/checkpoint", tags=["ledger"])
def latest_checkpoint(user: ApiUser, vault: VaultDep) -> dict[str, Any]:
    with vault.reading() as session:
        row = ledger.latest_checkpoint(session)
    if row is None:
        row = vault.checkpoint()
    return {"checkpoint": checkpoint_dict(row), "verifier_key": vault.signing_key().vkey}


@router.get("/consistency", tags=["ledger"])
def consistency_proof(
    user: ApiUser,
    vault: VaultDep,
    old_size: Annotated[int, Query(ge=0)],
    new_size: Annotated[int, Query(ge=0)],
) -> dict[str, Any]:
    """RFC 9162 consistency proof between two tree sizes: the hashes that show the tree of
    `new_size` entries extends the tree of `old_size` entries without changing it. A reader
    checks it against roots it got from signed checkpoints, never against the server's word."""
    with vault.reading() as session:
        proof = ledger.prove_consistency(session, old_size, new_size)
    return {"old_size": old_size, "new_size": new_size, "proof": [h.hex() for h in proof]}


@router.post("/uploads", status_code=201, tags=["uploads"])
def create_upload(
    body: UploadCreate, user: ApiUser, vault: VaultDep, response: Response
) -> dict[str, Any]:
    """Start a resumable upload; then PATCH bytes at `Upload-Offset` until complete."""
    data = evidence.create_upload(
        vault, user, name=body.name, size=body.size, incident_id=body.incident_id, note=body.note
    )
    response.headers["Location"] = data["location"]
    response.headers["Upload-Offset"] = "0"
    if body.size == 0:
        return evidence.complete_upload(
            vault,
            user,
            evidence._own_upload(vault, user, data["id"]),
            evidence._upload_path(vault, data["id"]),
        )
    return data


@router.head("/uploads/{upload_id}", tags=["uploads"])
def upload_offset(upload_id: str, user: ApiUser, vault: VaultDep) -> Response:
    data = evidence.upload_status(vault, user, upload_id)
    return Response(
        headers={
            "Upload-Offset": str(data["offset"]),
            "Upload-Length": str(data["size"]),
            "Cache-Control": "no-store",
        }
    )


@router.get("/uploads/{upload_id}", tags=["uploads"])
def get_upload(upload_id: str, user: ApiUser, vault: VaultDep) -> dict[str, Any]:
    return evidence.upload_status(vault, user, upload_id)


@router.patch("/uploads/{upload_id}", tags=["uploads"])
async def append_upload(
    upload_id: str, request: Request, user: ApiUser, vault: VaultDep, response: Response
) -> dict[str, Any]:
    """Body: raw bytes (`application/offset+octet-stream`); header `Upload-Offset`."""
    raw = request.headers.get("upload-offset", "")
    if not raw.isdigit():
        raise RefusedInputError("send the Upload-Offset header (ask HEAD for the current one)")
    row, offset, path, follower = await evidence.append_upload(
        vault, user, upload_id, int(raw), request.stream()
    )
    if offset < row.size:
        status = evidence.upload_dict(row, offset)
    else:
        status = await run_in_threadpool(evidence.finish_upload, vault, user, row, path, follower)
    response.headers["Upload-Offset"] = str(status["offset"])
    return status


@router.delete("/uploads/{upload_id}", status_code=204, tags=["uploads"])
def cancel_upload(upload_id: str, user: ApiUser, vault: VaultDep) -> Response:
    evidence.cancel_upload(vault, user, upload_id)
    return Response(status_code=204)


@router.get("/stats", tags=["incidents"])
def stats(user: ApiUser, vault: VaultDep) -> dict[str, Any]:
    with vault.reading() as session:
        return search.statistics(session, user)


@router.get("/map", tags=["incidents"])
def map_points(user: ApiUser, vault: VaultDep) -> dict[str, Any]:
    with vault.reading() as session:
        return {"points": search.map_points(session, user)}


@router.get("/tokens", tags=["accounts"])
def list_tokens(user: ApiUser, vault: VaultDep) -> list[dict[str, Any]]:
    return [accounts.token_dict(t) for t in accounts.list_tokens(vault, user.user_id)]


@router.post("/tokens", status_code=201, tags=["accounts"])
def create_token(body: TokenCreate, user: ApiUser, vault: VaultDep) -> dict[str, Any]:
    """The token is in the answer once; only its SHA-256 is stored."""
    row, token = accounts.create_token(vault, user.user_id, body.name, actor=user.actor)
    return {**accounts.token_dict(row), "token": token}


@router.delete("/tokens/{token_id}", status_code=204, tags=["accounts"])
def revoke_token(token_id: int, user: ApiUser, vault: VaultDep) -> Response:
    accounts.revoke_token(vault, token_id, principal=user)
    return Response(status_code=204)


@router.get("/users", tags=["accounts"])
def list_users(user: ApiUser, vault: VaultDep) -> list[dict[str, Any]]:
    """Admin only."""
    access.require_role(user, "admin")
    return [accounts.user_dict(u) for u in accounts.list_users(vault)]


@router.post("/users", status_code=201, tags=["accounts"])
def create_user(body: UserCreate, user: ApiUser, vault: VaultDep) -> dict[str, Any]:
    """Admin only; a generated password is in the answer once."""
    access.require_role(user, "admin")
    row, password = accounts.create_user(
        vault, body.name, body.role, actor=user.actor, password=body.password
    )
    data = accounts.user_dict(row)
    if body.password is None:
        data["password"] = password
    return data


@router.patch("/users/{user_id}", tags=["accounts"])
def patch_user(user_id: int, body: UserPatch, user: ApiUser, vault: VaultDep) -> dict[str, Any]:
    """Admin only; role changes and disabling end the user's sessions and are ledgered."""
    access.require_role(user, "admin")
    row = accounts.update_user(
        vault, user_id, actor=user.actor, role=body.role, disabled=body.disabled, reason=body.reason
    )
    return accounts.user_dict(row)
