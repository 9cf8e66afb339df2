"""Fetching an article the user named by URL: http(s) only, a timeout, a size cap.

Only called when the user gives a URL; nothing else in the records goes to the network.

The server must not become a way into the network it runs in (server-side request forgery): a
page on a loopback, private, link-local or otherwise non-public address is refused, whether it is
named directly, reached through a redirect, or a public name resolves to it (checked on the
connected socket, so a name that changes its answer between check and connect does not get
through). ``TESTIGO_FETCH_ALLOW_PRIVATE=1`` lifts this for a deployment that imports from its
own intranet.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlparse

from testigo.errors import RefusedInputError, UsageError
from testigo.extract.decode import HTML_OVERHEAD, max_text_bytes
from testigo.vault import ledger

DEFAULT_TIMEOUT = 20.0
USER_AGENT = "testigo-article-import/1 (+https://example.invalid/testigo)"


@dataclass(frozen=True)
class Fetched:
    data: bytes
    url: str
    final_url: str
    content_type: str | None
    status: int
    fetched_at: str


def private_fetch_allowed() -> bool:
    return os.environ.get("TESTIGO_FETCH_ALLOW_PRIVATE", "").strip().lower() in ("1", "true", "yes")


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address (IPv4-mapped IPv6 judged as IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def _refuse_private(host: str, address: str) -> None:
    if not is_public_address(address):
        raise RefusedInputError(
            f"{host} is at {address}, a private or local network address; pages there are not "
            "fetched (set TESTIGO_FETCH_ALLOW_PRIVATE=1 to allow it)"
        )


def _guarded_create_connection(
    address: tuple[str, int], timeout: Any = None, source_address: Any = None
) -> socket.socket:
    # Judged before connecting (no connection is ever opened to such an address) and again on
    # the connected socket (a name whose answer changed in between).
    for info in socket.getaddrinfo(address[0], address[1], type=socket.SOCK_STREAM):
        _refuse_private(address[0], str(info[4][0]))
    sock = socket.create_connection(address, timeout, source_address)
    try:
        _refuse_private(address[0], str(sock.getpeername()[0]))
    except BaseException:
        sock.close()
        raise
    return sock


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_create_connection


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_create_connection


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_GuardedHTTPConnection, req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_GuardedHTTPSConnection, req, context=self._context)  # type: ignore[attr-defined]


def _check_through_proxy(url: str) -> None:
    """Behind a proxy the socket reaches the proxy: judge the target by its resolved addresses."""
    host = urlparse(url).hostname or ""
    if not urllib.request.getproxies() or urllib.request.proxy_bypass(host):
        return
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return  # the proxy resolves it, or fails with its own message
    for info in infos:
        _refuse_private(host, str(info[4][0]))


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urlparse(newurl).scheme not in ("http", "https"):
            raise RefusedInputError(f"the page redirects to a non-web address: {newurl}")
        if self.guarded:
            _check_through_proxy(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)

    def http_error_302(self, req, fp, code, msg, headers):  # type: ignore[no-untyped-def]
        location = headers.get("location") or headers.get("uri")
        if location:
            target = urljoin(req.full_url, location)
            if urlparse(target).scheme not in ("http", "https"):
                raise RefusedInputError(f"the page redirects to a non-web address: {target}")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302
    guarded = True


def is_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


def fetch_url(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int | None = None,
    allow_private: bool | None = None,
) -> Fetched:
    """Download one page, refusing anything over the cap before it is all read.

    ``allow_private`` (default: ``TESTIGO_FETCH_ALLOW_PRIVATE``) permits non-public addresses.
    """
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(f"only http:// and https:// addresses can be fetched (got {url!r})")
    cap = max_bytes if max_bytes is not None else max_text_bytes() * HTML_OVERHEAD
    guarded = not (private_fetch_allowed() if allow_private is None else allow_private)
    redirects = _HttpOnlyRedirects()
    redirects.guarded = guarded
    handlers: list[urllib.request.BaseHandler] = [redirects]
    if guarded:
        handlers += [_GuardedHTTPHandler(), _GuardedHTTPSHandler()]
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    fetched_at = ledger.utc_now()
    try:
        if guarded:
            _check_through_proxy(url)
        with opener.open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > cap:
                raise RefusedInputError(f"the page is {int(length):,} bytes; the limit is {cap:,}")
            data = response.read(cap + 1)
            if len(data) > cap:
                raise RefusedInputError(f"the page is over the {cap:,}-byte limit")
            return Fetched(
                data=data,
                url=url,
                final_url=response.geturl(),
                content_type=response.headers.get("Content-Type"),
                status=int(response.status),
                fetched_at=fetched_at,
            )
    except urllib.error.HTTPError as exc:
        raise RefusedInputError(f"the server answered {exc.code} for {url}") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, RefusedInputError):
            raise exc.reason from None
        raise RefusedInputError(f"cannot fetch {url}: {exc.reason}") from exc
    except TimeoutError as exc:
        raise RefusedInputError(f"fetching {url} took longer than {timeout:g} s") from exc
    except OSError as exc:
        raise RefusedInputError(f"cannot fetch {url}: {exc}") from exc
