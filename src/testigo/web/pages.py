"""Server-rendered pages; each one has a JSON twin (the same path with ``.json``).

Templates are Jinja2 with autoescaping on; forms carry the session's CSRF token; the small
scripts in ``static/`` only upload, verify and switch the language.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from testigo.errors import RefusedInputError, TestigoError
from testigo.records.vocab import (
    Confidentiality,
    EventKind,
    IncidentStatus,
    LegalActionKind,
    PersonRole,
    Sensitivity,
    TimePrecision,
)
from testigo.web import access, accounts, charts, editing, evidence, i18n, search
from testigo.web.api import content_response, incident_json, search_query
from testigo.web.deps import (
    LANG_COOKIE,
    SESSION_COOKIE,
    NotAuthenticated,
    VaultDep,
    check_csrf,
    get_vault,
    language,
    optional_principal,
)
from testigo.web.models import ROLES

router = APIRouter(include_in_schema=False)
TEMPLATES = Path(__file__).parent / "templates"
LOGIN_CSRF_COOKIE = "testigo_login_csrf"

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
env.install_gettext_callables(i18n.gettext_, i18n.ngettext_, newstyle=True)  # type: ignore[attr-defined]


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)


env.filters["filesize"] = _size


def is_web_link(value: object) -> bool:
    """Only http(s) addresses with a host are ever rendered as links (never ``javascript:``,
    ``data:`` or anything else a pasted article may claim as its source)."""
    from urllib.parse import urlsplit

    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


env.tests["web_link"] = is_web_link


def secure_cookies(request: Request) -> bool:
    return request.url.scheme == "https" or os.environ.get("TESTIGO_SECURE_COOKIES") == "1"


def page_context(request: Request, context: dict[str, Any]) -> dict[str, Any]:
    """What every page template gets: the user, the CSRF token, the language, the path."""
    principal = getattr(request.state, "principal", None) or None
    return {
        "request": request,
        "user": principal,
        "csrf": principal.csrf_token if principal else "",
        "lang": i18n.current_language(),
        "path": request.url.path,
        "query": request.url.query,
        **context,
    }


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    status: int = 200,
) -> HTMLResponse:
    html = env.get_template(template).render(page_context(request, context))
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    i18n.set_language(
        i18n.choose(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    )
    try:
        optional_principal(request)
    except TestigoError:
        request.state.principal = None
    return render(request, "error.html", {"status": status, "message": message}, status)


async def page_user(request: Request) -> accounts.Principal:
    await language(request)
    principal = optional_principal(request)
    if principal is None:
        raise NotAuthenticated("log in first")
    return principal


PageUser = Annotated[accounts.Principal, Depends(page_user)]
Csrf = Annotated[str, Form()]


def _check(request: Request, user: accounts.Principal, token: str) -> None:
    check_csrf(request, user, token)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/incidents"


@router.get("/")
def home() -> RedirectResponse:
    return _redirect("/incidents")


@router.get("/login")
async def login_form(request: Request, next: str = "/incidents") -> HTMLResponse:
    await language(request)
    request.state.principal = None
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"next": _safe_next(next), "login_csrf": token})
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/login",
    )
    return response


@router.post("/login")
def login(
    request: Request,
    vault: VaultDep,
    name: Annotated[str, Form()],
    password: Annotated[str, Form()],
    login_csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/incidents",
) -> Response:
    i18n.set_language(
        i18n.choose(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    )
    request.state.principal = None
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, login_csrf):
        return render(
            request,
            "login.html",
            {
                "next": _safe_next(next),
                "error": i18n.gettext_("The form expired: try again."),
                "login_csrf": expected,
            },
            403,
        )
    address = request.client.host if request.client else "unknown"
    try:
        user = accounts.authenticate(vault, name, password, address)
    except accounts.TooManyAttempts:
        message = i18n.gettext_("Too many failed logins: wait 15 minutes and try again.")
        return render(
            request, "login.html", {"next": next, "error": message, "login_csrf": expected}, 429
        )
    except accounts.LoginRefused:
        message = i18n.gettext_("Wrong user name or password.")
        return render(
            request, "login.html", {"next": next, "error": message, "login_csrf": expected}, 401
        )
    cookie, _ = accounts.start_session(vault, user)
    response = _redirect(_safe_next(next))
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=accounts.SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, user: PageUser, csrf_token: Csrf) -> Response:
    _check(request, user, csrf_token)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        accounts.end_session(get_vault(request), cookie)
    response = _redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{code}")
def switch_language(request: Request, code: str, next: str = "/incidents") -> Response:
    response = _redirect(_safe_next(next))
    if code in i18n.LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, code, max_age=365 * 86400, samesite="lax", secure=secure_cookies(request)
        )
    return response


# -- incidents ---------------------------------------------------------------------------------


@router.get("/incidents.json")
def incidents_json(
    user: PageUser, vault: VaultDep, query: Annotated[search.SearchQuery, Depends(search_query)]
) -> JSONResponse:
    with vault.reading() as session:
        return JSONResponse(search.search_incidents(session, user, query).to_dict())


@router.get("/incidents")
def incidents_page(
    request: Request,
    user: PageUser,
    vault: VaultDep,
    query: Annotated[search.SearchQuery, Depends(search_query)],
) -> HTMLResponse:
    with vault.reading() as session:
        result = search.search_incidents(session, user, query)
    params = query.to_params()

    def page_link(page: int) -> str:
        return "/incidents?" + urlencode({**params, "page": page})

    return render(
        request,
        "incidents.html",
        {
            "result": result,
            "q": query,
            "page_link": page_link,
            "statuses": [s.value for s in IncidentStatus],
            "sorts": search.SORTS,
            "json_link": "/incidents.json?" + urlencode(params),
        },
    )


@router.get("/incidents/new")
def new_incident_form(request: Request, user: PageUser) -> HTMLResponse:
    access.require_role(user, "contributor")
    return render(request, "incident_new.html", {})


@router.post("/incidents/new")
def new_incident(
    request: Request,
    user: PageUser,
    vault: VaultDep,
    csrf_token: Csrf,
    title: Annotated[str, Form()],
    summary: Annotated[str, Form()] = "",
    start_time: Annotated[str, Form()] = "",
    place_label: Annotated[str, Form()] = "",
    restricted: Annotated[str, Form()] = "",
) -> Response:
    _check(request, user, csrf_token)
    incident_id = editing.create_incident(
        vault,
        user,
        title=title,
        summary=summary,
        start_time=start_time,
        place_label=place_label,
        restricted=bool(restricted),
    )
    return _redirect(f"/incidents/{incident_id}")


@router.get("/incidents/{incident_id:int}.json")
def incident_json_page(incident_id: int, user: PageUser, vault: VaultDep) -> JSONResponse:
    return JSONResponse(incident_json(vault, user, incident_id))


@router.get("/incidents/{incident_id:int}")
def incident_page(
    request: Request, incident_id: int, user: PageUser, vault: VaultDep
) -> HTMLResponse:
    data = incident_json(vault, user, incident_id)
    members = access.members(vault, user, incident_id) if user.at_least("investigator") else []
    return render(
        request,
        "incident.html",
        {
            "incident": data,
            "members": members,
            "source_names": {
                str(s["id"]): s["outlet"] or s["title"] or f"#{s['id']}" for s in data["sources"]
            },
            "event_kinds": [k.value for k in EventKind],
            "legal_kinds": [k.value for k in LegalActionKind],
            "person_roles": [r.value for r in PersonRole],
            "sensitivities": [v.value for v in Sensitivity],
            "time_precisions": [v.value for v in TimePrecision],
        },
    )


@router.get("/incidents/{incident_id:int}/edit")
def edit_incident_form(
    request: Request, incident_id: int, user: PageUser, vault: VaultDep
) -> HTMLResponse:
    access.require_role(user, "investigator")
    data = incident_json(vault, user, incident_id)
    return render(
        request,
        "incident_edit.html",
        {
            "incident": data,
            "statuses": [s.value for s in IncidentStatus],
            "confidentialities": [c.value for c in Confidentiality],
        },
    )


@router.post("/incidents/{incident_id:int}/edit")
def edit_incident(
    request: Request,
    incident_id: int,
    user: PageUser,
    vault: VaultDep,
    csrf_token: Csrf,
    reason: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    summary: Annotated[str, Form()] = "",
    status: Annotated[str, Form()] = "",
    confidentiality: Annotated[str, Form()] = "",
    start_time: Annotated[str, Form()] = "",
    place_label: Annotated[str, Form()] = "",
    restricted: Annotated[str, Form()] = "",
) -> Response:
    _check(request, user, csrf_token)
    editing.update_incident(
        vault,
        user,
        incident_id,
        {
            "title": title,
            "summary": summary,
            "status": status,
            "confidentiality": confidentiality,
            "start_time": start_time,
            "place_label": place_label,
            "restricted": bool(restricted),
        },
        reason,
    )
    return _redirect(f"/incidents/{incident_id}")


@router.post("/incidents/{incident_id:int}/events")
def add_event(
    request: Request,
    incident_id: int,
    user: PageUser,
    vault: VaultDep,
    csrf_token: Csrf,
    description: Annotated[str, Form()],
    reason: Annotated[str, Form()],
    kind: Annotated[str, Form()] = "other",
    occurred_on: Annotated[str, Form()] = "",
    item_id: Annotated[str, Form()] = "",
    media_start: Annotated[str, Form()] = "",
) -> Response:
    _check(request, user, csrf_token)
    try:
        item = int(item_id) if item_id.strip() else None
        seconds = float(media_start) if media_start.strip() else None
    except ValueError as exc:
        raise RefusedInputError(
            "the item must be a number and the time a number of seconds"
        ) from exc
    editing.add_event(
        vault,
        user,
        incident_id,
        kind=kind,
        description=description,
        occurred_on=occurred_on,
        item_id=item,
        media_start=seconds,
        reason=reason,
    )
    return _redirect(f"/incidents/{incident_id}#timeline")


@router.post("/incidents/{incident_id:int}/people")
def add_person(
    request: Request,
    incident_id: int,
    user: PageUser,
    vault: VaultDep,
    csrf_token: Csrf,
    reason: Annotated[str, Form()],
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "other",
    description: Annotated[str, Form()] = "",
) -> Response:
    _check(request, user, csrf_token)
    editing.add_person(
        vault,
        user,
        incident_id,
        name=name,
        role=role,
        description=description,
        age=None,
        reason=reason,
    )
    return _redirect(f"/incidents/{incident_id}#people")


@router.post("/incidents/{incident_id:int}/legal-actions")
def add_legal_action(
    request: Request,
    incident_id: int,
    user: PageUser,
    vault: VaultDep,
    csrf_token: Csrf,
    kind: Annotated[str, Form()],
    description: Annotated[str, Form()],
    reason: Annotated[str, Form()],
    issued_on: Annotated[str, Form()] = "",
    shown: Annotated[str, Form()] = "",
) -> Response:
    _check(request, user, csrf_token)
    editing.add_legal_action(
        vault,
        user,
        incident_id,
        kind=kind,
        description=description,
        issued_on=issued_on,
        shown_to_subject={"yes": True, "no": False}.get(shown),
        reason=reason,
    )
    return _redirect(f"/incidents/{incident_id}#legal")


@router.post("/incidents/{incident_id:int}/members")
def change_member(
    request: Request,
    incident_id: int,
    user: PageUser,
    vault: VaultDep,
    csrf_token: Csrf,
    name: Annotated[str, Form()],
    action: Annotated[str, Form()] = "add",
) -> Response:
    _check(request, user, csrf_token)
    access.change_member(vault, user, incident_id, name, add=action != "remove")
    return _redirect(f"/incidents/{incident_id}#access")


@router.get("/incidents/{incident_id:int}/add")
def add_evidence_page(
    request: Request, incident_id: int, user: PageUser, vault: VaultDep
) -> HTMLResponse:
    access.require_role(user, "contributor")
    with vault.reading() as session:
        incident = access.check_incident(session, user, incident_id)
        title = incident.title
    return render(
        request,
        "add_evidence.html",
        {
            "incident_id": incident_id,
            "title": title,
            "max_upload": evidence.max_upload_bytes(),
        },
    )


@router.post("/incidents/{incident_id:int}/article")
def import_article(
    request: Request,
    incident_id: int,
    user: PageUser,
    vault: VaultDep,
    csrf_token: Csrf,
    text: Annotated[str, Form()] = "",
    url: Annotated[str, Form()] = "",
    file: UploadFile | None = None,
) -> Response:
    _check(request, user, csrf_token)
    data: bytes | None = None
    filename = content_type = None
    if file is not None and file.filename:
        data = file.file.read(editing.MAX_ARTICLE_BYTES + 1)
        filename = evidence.safe_filename(file.filename, "article")
        content_type = file.content_type
    editing.import_article(
        vault,
        user,
        incident_id=incident_id,
        data=data or None,
        text=text,
        url=url,
        filename=filename,
        content_type=content_type,
    )
    return _redirect(f"/incidents/{incident_id}#timeline")


@router.post("/incidents/{incident_id:int}/witness")
def witness_account(
    request: Request,
    incident_id: int,
    user: PageUser,
    vault: VaultDep,
    csrf_token: Csrf,
    text: Annotated[str, Form()],
    author: Annotated[str, Form()] = "",
) -> Response:
    _check(request, user, csrf_token)
    editing.witness_account(vault, user, incident_id, author=author, text=text)
    return _redirect(f"/incidents/{incident_id}#sources")


# -- evidence ----------------------------------------------------------------------------------


@router.get("/items/{item_id:int}.json")
def item_json(item_id: int, user: PageUser, vault: VaultDep) -> JSONResponse:
    return JSONResponse(evidence.get_item(vault, user, item_id, action="view"))


def _item_jobs(vault: Any, item_id: int) -> list[dict[str, Any]]:
    from testigo.jobs import queue

    return [j.to_dict() for j in queue.list_jobs(vault, item_id=item_id)]


@router.get("/items/{item_id:int}")
def item_page(request: Request, item_id: int, user: PageUser, vault: VaultDep) -> HTMLResponse:
    item = evidence.get_item(vault, user, item_id, action="view")
    return render(
        request, "item.html", {"item": item, "start": None, "jobs": _item_jobs(vault, item_id)}
    )


@router.post("/items/{item_id:int}/redact")
def item_redact(
    request: Request,
    item_id: int,
    user: PageUser,
    vault: VaultDep,
    csrf_token: Csrf,
    faces: Annotated[str, Form()] = "all",
    mute: Annotated[str, Form()] = "",
    style: Annotated[str, Form()] = "blur",
) -> Response:
    """Queue a redacted, signed copy (investigators); the page shows the job's progress."""
    from testigo.jobs import queue

    _check(request, user, csrf_token)
    access.require_role(user, "investigator")
    evidence.get_item(vault, user, item_id, action="view")
    ranges = [part.strip() for part in mute.split(",") if part.strip()]
    queue.enqueue(
        vault,
        "redact",
        item_id,
        params={
            "faces": faces if faces in ("all", "none") else "all",
            "mute": ranges,
            "kind": style if style in ("blur", "pixelate", "mask") else "blur",
            "actor": user.actor,
        },
        force=True,
        actor=user.actor,
    )
    return _redirect(f"/items/{item_id}#jobs")


@router.get("/items/{item_id:int}/view")
def item_view(
    request: Request, item_id: int, user: PageUser, vault: VaultDep, t: float | None = None
) -> HTMLResponse:
    item = evidence.get_item(vault, user, item_id, action="view")
    return render(request, "item.html", {"item": item, "start": t})


@router.get("/items/{item_id:int}/content")
def item_content(item_id: int, user: PageUser, vault: VaultDep) -> Response:
    return content_response(vault, user, item_id, download=False)


@router.get("/items/{item_id:int}/download")
def item_download(item_id: int, user: PageUser, vault: VaultDep) -> Response:
    return content_response(vault, user, item_id, download=True)


# -- map and statistics ------------------------------------------------------------------------


@router.get("/map.json")
def map_json(user: PageUser, vault: VaultDep) -> JSONResponse:
    with vault.reading() as session:
        return JSONResponse({"points": search.map_points(session, user)})


@router.get("/map")
def map_page(request: Request, user: PageUser, vault: VaultDep) -> HTMLResponse:
    with vault.reading() as session:
        points = search.map_points(session, user)
    return render(request, "map.html", {"map": charts.map_layout(points), "points": points})


@router.get("/stats.json")
def stats_json(user: PageUser, vault: VaultDep) -> JSONResponse:
    with vault.reading() as session:
        return JSONResponse(search.statistics(session, user))


@router.get("/stats")
def stats_page(request: Request, user: PageUser, vault: VaultDep) -> HTMLResponse:
    with vault.reading() as session:
        stats = search.statistics(session, user)
    charts_data = {
        key: charts.bars(stats[key])
        for key in ("by_agency", "by_month", "by_place", "by_use_of_force")
    }
    return render(request, "stats.html", {"stats": stats, "charts": charts_data})


# -- account and administration ----------------------------------------------------------------


@router.get("/account")
def account_page(request: Request, user: PageUser, vault: VaultDep) -> HTMLResponse:
    tokens = [accounts.token_dict(t) for t in accounts.list_tokens(vault, user.user_id)]
    return render(request, "account.html", {"tokens": tokens, "new_token": None})


@router.post("/account/tokens")
def account_new_token(
    request: Request,
    user: PageUser,
    vault: VaultDep,
    csrf_token: Csrf,
    name: Annotated[str, Form()] = "script",
) -> HTMLResponse:
    _check(request, user, csrf_token)
    _, token = accounts.create_token(vault, user.user_id, name, actor=user.actor)
    tokens = [accounts.token_dict(t) for t in accounts.list_tokens(vault, user.user_id)]
    return render(request, "account.html", {"tokens": tokens, "new_token": token})


@router.post("/account/tokens/{token_id:int}/revoke")
def account_revoke_token(
    request: Request, token_id: int, user: PageUser, vault: VaultDep, csrf_token: Csrf
) -> Response:
    _check(request, user, csrf_token)
    accounts.revoke_token(vault, token_id, principal=user)
    return _redirect("/account")


@router.get("/admin/users")
def users_page(request: Request, user: PageUser, vault: VaultDep) -> HTMLResponse:
    access.require_role(user, "admin")
    users = [accounts.user_dict(u) for u in accounts.list_users(vault)]
    return render(request, "users.html", {"users": users, "roles": ROLES, "created": None})


@router.post("/admin/users")
def users_create(
    request: Request,
    user: PageUser,
    vault: VaultDep,
    csrf_token: Csrf,
    name: Annotated[str, Form()],
    role: Annotated[str, Form()] = "viewer",
) -> HTMLResponse:
    _check(request, user, csrf_token)
    access.require_role(user, "admin")
    row, password = accounts.create_user(vault, name, role, actor=user.actor)
    users = [accounts.user_dict(u) for u in accounts.list_users(vault)]
    created = {"name": row.name, "password": password}
    return render(request, "users.html", {"users": users, "roles": ROLES, "created": created})


@router.post("/admin/users/{user_id:int}")
def users_update(
    request: Request,
    user_id: int,
    user: PageUser,
    vault: VaultDep,
    csrf_token: Csrf,
    role: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
    disabled: Annotated[str, Form()] = "",
) -> Response:
    _check(request, user, csrf_token)
    access.require_role(user, "admin")
    accounts.update_user(
        vault, user_id, actor=user.actor, role=role, disabled=bool(disabled), reason=reason
    )
    return _redirect("/admin/users")
