"""Outgoing HTTP that cannot be turned against the server's own network.

Used wherever a user (not the deployment's administrator) chooses an address the server will
contact: article import by URL, the webhooks of a capture link. Loopback, private, link-local,
carrier-grade NAT, multicast and reserved addresses are refused before connecting, and again on
the connected socket (a name whose answer changes in between does not get through). Behind a
proxy the target is judged by what its name resolves to. ``TESTIGO_FETCH_ALLOW_PRIVATE=1``
lifts the guard for a deployment that works inside its own intranet.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import urllib.request
from typing import Any
from urllib.parse import urlparse

from testigo.errors import RefusedInputError


def _private_allowed() -> bool:
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


class _ProxiedTargetCheck(urllib.request.BaseHandler):
    """Runs before every request the opener sends, the first and each redirect alike."""

    def http_request(self, req: urllib.request.Request) -> urllib.request.Request:
        _check_through_proxy(req.full_url)
        return req

    https_request = http_request


def opener(*handlers: urllib.request.BaseHandler, guarded: bool) -> urllib.request.OpenerDirector:
    """A urllib opener; ``guarded`` refuses non-public addresses (see the module's text)."""
    extra: list[urllib.request.BaseHandler] = list(handlers)
    if guarded:
        extra += [_GuardedHTTPHandler(), _GuardedHTTPSHandler(), _ProxiedTargetCheck()]
    return urllib.request.build_opener(*extra)


def guard_enabled(allow_private: bool | None = None) -> bool:
    """Whether to guard: the caller's choice, else ``TESTIGO_FETCH_ALLOW_PRIVATE``."""
    return not (_private_allowed() if allow_private is None else allow_private)
