"""Request plumbing shared by the pages and the API: the vault, who is asking, CSRF, language."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from testigo.errors import TestigoError
from testigo.vault.service import Vault
from testigo.web import i18n
from testigo.web.accounts import Principal, principal_for_session, principal_for_token

SESSION_COOKIE = "testigo_session"
LANG_COOKIE = "lang"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class NotAuthenticated(TestigoError):
    """No valid session or token: log in, or send `Authorization: Bearer <token>`."""


class CsrfRefused(TestigoError):
    """A form or script that did not come from one of our own pages."""


async def vault_dependency(request: Request) -> Vault:
    """The vault, as a dependency that needs no worker thread (sync dependencies take one)."""
    return get_vault(request)


def get_vault(request: Request) -> Vault:
    vault: Vault = request.app.state.vault
    return vault


async def language(request: Request) -> str:
    chosen = i18n.choose(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    i18n.set_language(chosen)
    return chosen


def optional_principal(request: Request) -> Principal | None:
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    vault = get_vault(request)
    principal: Principal | None = None
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        principal = principal_for_token(vault, auth[7:].strip())
        if principal is None:
            raise NotAuthenticated("this API token is unknown or revoked")
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            principal = principal_for_session(vault, cookie)
    request.state.principal = principal
    return principal


def check_csrf(request: Request, principal: Principal, submitted: str | None) -> None:
    """Session requests that change something must carry the session's CSRF token."""
    if principal.via != "session" or request.method not in UNSAFE:
        return
    expected = principal.csrf_token or ""
    given = submitted or request.headers.get("x-csrf-token", "")
    if not expected or not hmac.compare_digest(expected, given):
        raise CsrfRefused("this form has expired or did not come from this site: reload the page")


async def api_principal(request: Request) -> Principal:
    """Who is calling the API; unsafe methods with a session cookie need the X-CSRF-Token header."""
    await language(request)
    principal = optional_principal(request)
    if principal is None:
        raise NotAuthenticated("log in, or send `Authorization: Bearer <token>`")
    check_csrf(request, principal, None)
    return principal


ApiUser = Annotated[Principal, Depends(api_principal)]
VaultDep = Annotated[Vault, Depends(vault_dependency)]
