"""Live capture on the web: the witness's page, the chunk protocol, and investigators' views.

The device never has an account: the capture link's token opens one session, whose upload key
(returned once) authorises ``PATCH`` of chunks at explicit offsets (like tus 1.0). Investigators
use their usual session or API token. The protocol is described in docs/capture.md.
"""

from __future__ import annotations

import gettext
import io
import time
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import ClientDisconnect

from testigo.capture import alerts, recording, service, views
from testigo.capture.errors import BadChunkRequest, CaptureError, ChunkTooLarge
from testigo.errors import NotFoundError
from testigo.vault.service import Vault
from testigo.web import access, i18n
from testigo.web.accounts import Principal
from testigo.web.deps import ApiUser, VaultDep, check_csrf, get_vault, language
from testigo.web.pages import PageUser, page_context

router = APIRouter()
TEMPLATES = Path(__file__).parent / "templates"
CATALOG = "capture.po"
CSS_PATH = Path(__file__).resolve().parents[1] / "capture" / "capture.css"
# The capture page (and only it) may use the camera, the microphone and, with consent, location.
CAPTURE_PERMISSIONS = "camera=(self), microphone=(self), geolocation=(self)"


@cache
def _catalog(language: str) -> gettext.NullTranslations:
    path = i18n.LOCALE_DIR / language / "LC_MESSAGES" / CATALOG
    if not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def _gettext(message: str) -> str:
    """Capture strings from capture.po, everything else (the shared layout) from messages.po."""
    found = _catalog(i18n.current_language()).gettext(message)
    return found if found != message else i18n.gettext_(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    found = _catalog(i18n.current_language()).ngettext(singular, plural, n)
    return found if found not in (singular, plural) else i18n.ngettext_(singular, plural, n)


env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
env.filters["clock"] = views.clock


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    status: int = 200,
    *,
    device: bool = False,
) -> HTMLResponse:
    data = page_context(request, context)
    headers = {"Cache-Control": "no-store"}
    if device:
        headers["Permissions-Policy"] = CAPTURE_PERMISSIONS
    return HTMLResponse(env.get_template(template).render(data), status, headers=headers)


def refusal(exc: CaptureError) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if "expected_offset" in exc.details:
        headers["Upload-Offset"] = str(exc.details["expected_offset"])
        headers["Chunk-Index"] = str(exc.details["expected_index"])
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)


def public_base(request: Request) -> str:
    return service.public_url() or str(request.base_url).rstrip("/")


async def page_language(request: Request) -> str:
    chosen = request.query_params.get("lang")
    if chosen in i18n.LANGUAGES:
        i18n.set_language(str(chosen))
        return str(chosen)
    return await language(request)


Language = Annotated[str, Depends(page_language)]


# -- the witness's page ------------------------------------------------------------------------


@router.get("/capture/style.css", include_in_schema=False)
def capture_css() -> Response:
    return Response(
        CSS_PATH.read_text(encoding="utf-8"),
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get("/capture", include_in_schema=False)
def capture_page(request: Request, lang: Language) -> HTMLResponse:
    return render(request, "capture.html", {"token": "", "problem": None}, device=True)


@router.get("/capture/{token}", include_in_schema=False)
def capture_link(request: Request, token: str, lang: Language, vault: VaultDep) -> HTMLResponse:
    problem: str | None = None
    try:
        service.check_token(vault, token)
    except CaptureError as exc:
        # Still serve the page: a device that already started with this link resumes its
        # own session (kept in the browser), whatever the link's state.
        problem = exc.code
    return render(request, "capture.html", {"token": token, "problem": problem}, device=True)


# -- the device's protocol ---------------------------------------------------------------------


class LocationIn(BaseModel):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0)


class OpenIn(BaseModel):
    token: str = Field(min_length=1, max_length=200)
    mime_type: str = Field(min_length=1, max_length=100)
    device_clock: str | None = Field(default=None, max_length=40)
    device_timezone: str | None = Field(default=None, max_length=64)
    location: LocationIn | None = None
    alert: bool = False


class FinishIn(BaseModel):
    chunks: int | None = Field(default=None, ge=0)


def _key(request: Request) -> str:
    return request.headers.get("capture-key", "").strip()


def _start_alerts(request: Request, vault: Vault, opened: service.OpenedSession) -> bool:
    payload = alerts.message(
        opened.public_id,
        f"{public_base(request)}/captures/{opened.public_id}",
        opened.started_at,
        {},
    )
    return alerts.alert_in_background(vault, payload, opened.contacts) is not None


@router.post("/api/v1/capture/sessions", status_code=201)
def open_session(request: Request, body: OpenIn, vault: VaultDep) -> Response:
    """Spend a capture link on a new session; the upload key is returned only here."""
    location = (
        None
        if body.location is None
        else service.Location(
            body.location.latitude, body.location.longitude, body.location.accuracy_m
        )
    )
    try:
        opened = service.open_session(
            vault,
            body.token,
            mime_type=body.mime_type,
            device_clock=body.device_clock,
            device_timezone=body.device_timezone,
            location=location,
            alert=body.alert,
        )
    except CaptureError as exc:
        return refusal(exc)
    alerted = _start_alerts(request, vault, opened) if body.alert else False
    url = f"/api/v1/capture/sessions/{opened.public_id}"
    return JSONResponse(
        {
            "id": opened.public_id,
            "upload_key": opened.upload_key,
            "upload_url": url,
            "offset": 0,
            "next_index": 0,
            "max_chunk_bytes": service.max_chunk_bytes(),
            "started_at": opened.started_at,
            "alerting": alerted,
        },
        status_code=201,
        headers={"Location": url, "Upload-Offset": "0", "Cache-Control": "no-store"},
    )


def _state_headers(row: Any) -> dict[str, str]:
    return {
        "Upload-Offset": str(row.bytes_received),
        "Chunk-Index": str(row.chunk_count),
        "Chain-Hash": row.chain_head,
        "Saved-Ms": str(row.duration_ms),
        "Capture-Status": row.status,
        "Cache-Control": "no-store",
    }


@router.head("/api/v1/capture/sessions/{public_id}")
def session_offset(request: Request, public_id: str, vault: VaultDep) -> Response:
    """Where to resume: the offset and index the session expects next."""
    try:
        row = service.authorize(vault, public_id, _key(request))
    except CaptureError as exc:
        return Response(status_code=exc.status, headers={"Cache-Control": "no-store"})
    return Response(status_code=200, headers=_state_headers(row))


@router.get("/api/v1/capture/sessions/{public_id}")
def session_state(request: Request, public_id: str, vault: VaultDep) -> Response:
    try:
        row = service.authorize(vault, public_id, _key(request))
    except CaptureError as exc:
        return refusal(exc)
    return JSONResponse(
        {
            "id": row.public_id,
            "status": row.status,
            "offset": row.bytes_received,
            "next_index": row.chunk_count,
            "chain_head": row.chain_head,
            "saved_ms": row.duration_ms,
            "saved_up_to": views.clock(row.duration_ms),
        },
        headers=_state_headers(row),
    )


def _int_header(request: Request, name: str, default: int | None = None) -> int:
    raw = request.headers.get(name)
    if raw is None or raw.strip() == "":
        if default is not None:
            return default
        raise BadChunkRequest(f"the {name} header is required")
    try:
        return int(raw.strip())
    except ValueError as exc:
        raise BadChunkRequest(f"the {name} header must be a whole number") from exc


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ChunkTooLarge(f"a chunk may have at most {limit:,} bytes", max_bytes=limit)
    parts: list[bytes] = []
    size = 0
    try:
        async for piece in request.stream():
            size += len(piece)
            if size > limit:
                raise ChunkTooLarge(f"a chunk may have at most {limit:,} bytes", max_bytes=limit)
            parts.append(piece)
    except ClientDisconnect as exc:
        raise BadChunkRequest("the chunk was cut short: the connection closed") from exc
    data = b"".join(parts)
    if declared is not None and declared.isdigit() and int(declared) != len(data):
        raise BadChunkRequest(f"the chunk was cut short: {len(data)} of {declared} bytes arrived")
    return data


@router.patch("/api/v1/capture/sessions/{public_id}")
async def append_chunk(request: Request, public_id: str) -> Response:
    """One chunk at an explicit offset; answered only once the chunk is durable."""
    vault = get_vault(request)
    entered = time.perf_counter()
    try:
        index = _int_header(request, "chunk-index")
        offset = _int_header(request, "upload-offset")
        duration = _int_header(request, "chunk-duration-ms", 0)
        digest = request.headers.get("chunk-sha256") or request.headers.get("upload-checksum")
        data = await _read_body(request, service.max_chunk_bytes())
        received = time.perf_counter()
        ack = await run_in_threadpool(
            service.append_chunk,
            vault,
            public_id,
            _key(request),
            index=index,
            offset=offset,
            data=data,
            sha256_header=digest or "",
            duration_ms=duration,
        )
    except CaptureError as exc:
        return refusal(exc)
    headers = {
        # How long storing, ledgering and flushing took once the body was in (diagnostics).
        "Server-Timing": f"store;dur={(time.perf_counter() - received) * 1000:.1f}, "
        f"body;dur={(received - entered) * 1000:.1f}",
        "Upload-Offset": str(ack.next_offset),
        "Chunk-Index": str(ack.index + 1),
        "Chain-Hash": ack.chain_hash,
        "Saved-Ms": str(ack.saved_ms),
        "Cache-Control": "no-store",
    }
    if ack.duplicate:
        headers["Chunk-Duplicate"] = "1"
    return JSONResponse(ack.to_dict(), headers=headers)


@router.post("/api/v1/capture/sessions/{public_id}/finish")
async def finish_session(request: Request, public_id: str, body: FinishIn) -> Response:
    vault = get_vault(request)
    try:
        done = await run_in_threadpool(
            recording.finish, vault, public_id, _key(request), expected_chunks=body.chunks
        )
    except CaptureError as exc:
        return refusal(exc)
    return JSONResponse(done.to_dict(), headers={"Cache-Control": "no-store"})


@router.post("/api/v1/capture/sessions/{public_id}/alert")
def alert_contacts(request: Request, public_id: str, vault: VaultDep) -> Response:
    """'Alert my contacts' pressed after the recording started."""
    try:
        row = service.authorize(vault, public_id, _key(request))
    except CaptureError as exc:
        return refusal(exc)
    from testigo.capture.models import CaptureToken

    with vault.reading() as session:
        token = session.get(CaptureToken, row.token_id)
        contacts = dict(token.contacts or {}) if token else {}
    opened = service.OpenedSession(row.public_id, "", True, contacts, row.started_at)
    return JSONResponse({"alerting": _start_alerts(request, vault, opened)})


# -- investigators -----------------------------------------------------------------------------


class TokenIn(BaseModel):
    label: str | None = Field(default=None, max_length=300)
    network: str | None = Field(default=None, max_length=300)
    hours: float = Field(default=24.0, gt=0, le=720)
    webhooks: list[str] = Field(default_factory=list, max_length=20)
    emails: list[str] = Field(default_factory=list, max_length=50)
    incident_id: int | None = None
    uses: int = Field(default=1, ge=1, le=service.MAX_USES)


def _new_link(request: Request, vault: Vault, user: Principal, body: TokenIn) -> dict[str, Any]:
    access.require_role(user, "investigator")
    if body.incident_id is not None:
        with vault.reading() as session:
            access.check_incident(session, user, body.incident_id)
    made = service.create_token(
        vault,
        actor=user.actor,
        label=body.label,
        network=body.network,
        hours=body.hours,
        webhooks=body.webhooks,
        emails=body.emails,
        incident_id=body.incident_id,
        uses=body.uses,
    )
    link = service.capture_link(public_base(request), made.token)
    return {
        "id": made.id,
        "token": made.token,
        "link": link,
        "expires_at": made.expires_at,
        "uses": body.uses,
        "qr_svg": views.qr_svg(link),
    }


@router.post("/api/v1/capture/tokens", status_code=201)
def api_new_link(request: Request, body: TokenIn, user: ApiUser, vault: VaultDep) -> JSONResponse:
    return JSONResponse(_new_link(request, vault, user, body), status_code=201)


@router.get("/api/v1/capture/tokens")
def api_links(user: ApiUser, vault: VaultDep) -> JSONResponse:
    """Capture links, newest first, with their state (the tokens themselves are never kept)."""
    access.require_role(user, "investigator")
    return JSONResponse({"links": service.list_tokens(vault)})


@router.post("/api/v1/capture/tokens/{token_id}/revoke")
def api_revoke_link(token_id: int, user: ApiUser, vault: VaultDep) -> JSONResponse:
    """The link opens no more sessions; sessions it already opened go on."""
    access.require_role(user, "investigator")
    return JSONResponse(service.revoke_token(vault, token_id, actor=user.actor))


def _visible_session(vault: Vault, user: Principal, public_id: str) -> dict[str, Any]:
    access.require_role(user, "investigator")
    row, data = views.session_detail(vault, public_id)
    if row.incident_id is not None:
        with vault.reading() as session:
            if not access.can_view_incident(session, user, row.incident_id):
                raise NotFoundError(f"there is no capture session {public_id[:40]}")
    return data


def _listing(vault: Vault, user: Principal) -> list[dict[str, Any]]:
    access.require_role(user, "investigator")
    from testigo.capture.models import CaptureSession

    return views.list_sessions(
        vault, access.visible_incident_clause(user, CaptureSession.incident_id)
    )


@router.get("/api/v1/captures")
def api_captures(user: ApiUser, vault: VaultDep) -> JSONResponse:
    return JSONResponse({"captures": _listing(vault, user)})


@router.get("/api/v1/captures/{public_id}")
def api_capture(public_id: str, user: ApiUser, vault: VaultDep) -> JSONResponse:
    return JSONResponse(_visible_session(vault, user, public_id))


class AttachIn(BaseModel):
    incident_id: int


@router.post("/api/v1/captures/{public_id}/attach")
def api_attach(public_id: str, body: AttachIn, user: ApiUser, vault: VaultDep) -> JSONResponse:
    _visible_session(vault, user, public_id)
    with vault.reading() as session:
        access.check_incident(session, user, body.incident_id)
    recording.attach_to_incident(vault, public_id, body.incident_id, actor=user.actor)
    return JSONResponse(_visible_session(vault, user, public_id))


@router.post("/api/v1/captures/{public_id}/close")
def api_close(public_id: str, user: ApiUser, vault: VaultDep) -> JSONResponse:
    """Close a capture whose device is gone: its chunks become one partial recording."""
    _visible_session(vault, user, public_id)
    done = recording.close(vault, public_id, status="abandoned", actor=user.actor)
    return JSONResponse(done.to_dict())


@router.get("/captures", include_in_schema=False)
def captures_page(request: Request, user: PageUser, vault: VaultDep) -> HTMLResponse:
    return render(request, "captures.html", {"captures": _listing(vault, user)})


@router.get("/captures.json", include_in_schema=False)
def captures_json(user: PageUser, vault: VaultDep) -> JSONResponse:
    return JSONResponse({"captures": _listing(vault, user)})


@router.get("/captures/links/new", include_in_schema=False)
def new_link_form(request: Request, user: PageUser) -> HTMLResponse:
    access.require_role(user, "investigator")
    return render(request, "captures_link.html", {"made": None, "max_uses": service.MAX_USES})


@router.post("/captures/links", include_in_schema=False)
def new_link(
    request: Request,
    user: PageUser,
    vault: VaultDep,
    csrf_token: Annotated[str, Form()] = "",
    label: Annotated[str, Form()] = "",
    network: Annotated[str, Form()] = "",
    hours: Annotated[float, Form()] = 24.0,
    uses: Annotated[int, Form()] = 1,
    webhooks: Annotated[str, Form()] = "",
    emails: Annotated[str, Form()] = "",
) -> HTMLResponse:
    check_csrf(request, user, csrf_token)
    try:
        body = TokenIn(
            label=label or None,
            network=network or None,
            hours=hours,
            uses=uses,
            webhooks=[w for w in webhooks.split() if w],
            emails=[e for e in emails.replace(",", " ").split() if e],
        )
    except ValidationError as exc:  # answered like any invalid request (the app's handler)
        raise RequestValidationError(exc.errors()) from None
    made = _new_link(request, vault, user, body)
    made["qr_uri"] = views.qr_data_uri(made["link"])
    return render(request, "captures_link.html", {"made": made, "max_uses": service.MAX_USES})


@router.get("/captures/{public_id}.json", include_in_schema=False)
def capture_json(public_id: str, user: PageUser, vault: VaultDep) -> JSONResponse:
    return JSONResponse(_visible_session(vault, user, public_id))


@router.get("/captures/{public_id}", include_in_schema=False)
def capture_detail(
    request: Request, public_id: str, user: PageUser, vault: VaultDep
) -> HTMLResponse:
    return render(request, "captures_detail.html", {"c": _visible_session(vault, user, public_id)})


@router.get("/captures/{public_id}/recording", include_in_schema=False)
def capture_recording(public_id: str, user: PageUser, vault: VaultDep) -> Response:
    """Everything received so far, checked against the chain while it is sent."""
    data = _visible_session(vault, user, public_id)
    if data["item_id"] is not None:
        return RedirectResponse(f"/items/{data['item_id']}/content", status_code=303)
    reader = recording.open_recording(vault, public_id)
    media_type = data["mime_type"].split(";", 1)[0]
    return StreamingResponse(
        iter(reader),
        media_type=media_type,
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'inline; filename="capture-{public_id}.webm"',
        },
    )


@router.post("/captures/{public_id}/attach", include_in_schema=False)
def capture_attach(
    request: Request,
    public_id: str,
    user: PageUser,
    vault: VaultDep,
    incident_id: Annotated[int, Form()],
    csrf_token: Annotated[str, Form()] = "",
) -> RedirectResponse:
    check_csrf(request, user, csrf_token)
    api_attach(public_id, AttachIn(incident_id=incident_id), user, vault)
    return RedirectResponse(f"/captures/{public_id}", status_code=303)


@router.post("/captures/{public_id}/close", include_in_schema=False)
def capture_close(
    request: Request,
    public_id: str,
    user: PageUser,
    vault: VaultDep,
    csrf_token: Annotated[str, Form()] = "",
) -> RedirectResponse:
    check_csrf(request, user, csrf_token)
    api_close(public_id, user, vault)
    return RedirectResponse(f"/captures/{public_id}", status_code=303)
