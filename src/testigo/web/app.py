"""The FastAPI application: pages, JSON API, static files, security headers, error pages.

Every response carries a strict Content-Security-Policy (no inline script or style, nothing from
another origin), so text that came from an article or an upload can never run in the page even if
escaping were ever missed. User-caused errors become a plain message (HTML or JSON), never a
traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from testigo.config import Settings, load_settings
from testigo.errors import (
    InsufficientSpaceError,
    NotFoundError,
    RefusedInputError,
    StorageError,
    TestigoError,
)
from testigo.vault.service import Vault, open_vault
from testigo.web import accounts, deps, evidence, public_routes
from testigo.web.access import Forbidden
from testigo.web.reads import enable_concurrent_reads

STATIC_DIR = Path(__file__).parent / "static"
logger = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    """Adds the headers to every response unless the handler set its own (raw evidence does)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS:
                    if name not in present:
                        headers.append((name, value))
                if https:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


STATUS = {
    NotFoundError: 404,
    Forbidden: 403,
    deps.NotAuthenticated: 401,
    deps.CsrfRefused: 403,
    accounts.LoginRefused: 401,
    accounts.TooManyAttempts: 429,
    evidence.UploadConflict: 409,
    evidence.UploadTooLarge: 413,
    RefusedInputError: 400,
    # The server could not store what it was sent (the blob store, or its mirror, is down or
    # full): nothing was recorded, and the client may send it again later.
    InsufficientSpaceError: 507,
    StorageError: 503,
}


def status_for(exc: TestigoError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def wants_json(request: Request) -> bool:
    path = request.url.path
    return (
        path.startswith("/api/")
        or path.endswith(".json")
        or "application/json" in request.headers.get("accept", "")
    )


INDEX_SYNC_SECONDS = 5.0


async def _keep_index_fresh(vault: Vault) -> None:
    from testigo.web.search import sync_index

    def ledger_size() -> int:
        # Every change to incidents and evidence is a ledger entry: no new entry, nothing to do.
        with vault.reading() as session:
            return int(
                session.execute(text("SELECT COALESCE(MAX(seq), -1) FROM ledger_entries")).scalar()
                or 0
            )

    seen = -2
    while True:
        await asyncio.sleep(INDEX_SYNC_SECONDS)
        try:
            size = await run_in_threadpool(ledger_size)
            if size != seen:
                await run_in_threadpool(sync_index, vault)
                seen = size
        except Exception:  # a busy database must not stop the loop
            logger.exception("could not refresh the incident index")


def create_app(settings: Settings | None = None) -> FastAPI:
    from testigo.web import api, capture_routes, pages, record_pages
    from testigo.web.search import sync_index

    settings = settings or load_settings()
    vault = open_vault(settings)
    readers = enable_concurrent_reads(vault)
    sync_index(vault)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from testigo.capture.pacer import pacer_for, stop_pacing

        # Incidents changed outside the app (the CLI, workers) reach the index within seconds.
        task = asyncio.create_task(_keep_index_fresh(vault))
        # Checkpoints while captures are live, and closing captures left silent (by a device that
        # disappeared, or by a previous run of the server): see capture/pacer.py.
        await run_in_threadpool(pacer_for(vault).watch)
        yield
        await run_in_threadpool(stop_pacing, vault)  # its thread writes: stop it first
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if readers is not None:
            readers.dispose()
        vault.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="Testigo",
        version="1",
        description="Evidence of enforcement encounters: incidents, evidence, proofs.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.vault = vault
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(TestigoError)
    async def testigo_error(request: Request, exc: TestigoError) -> Response:
        status = status_for(exc)
        if wants_json(request):
            return JSONResponse({"error": str(exc), "status": status}, status_code=status)
        if status == 401:
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return pages.error_page(request, status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        ]
        message = "the request is not valid: " + "; ".join(problems)
        if wants_json(request):
            return JSONResponse({"error": message, "status": 422}, status_code=422)
        return pages.error_page(request, 422, message)

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Any) -> Response:
        if wants_json(request):
            return JSONResponse({"error": "not found", "status": 404}, status_code=404)
        return pages.error_page(request, 404, "This page does not exist.")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(record_pages.router)
    app.include_router(public_routes.router)
    app.include_router(capture_routes.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
