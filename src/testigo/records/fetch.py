"""Fetching an article the user named by URL: http(s) only, a timeout, a size cap.

Only called when the user gives a URL; nothing else in the records goes to the network.

The server must not become a way into the network it runs in (server-side request forgery): a
page on a loopback, private, link-local or otherwise non-public address is refused, whether it is
named directly or reached through a redirect (``testigo.netguard``).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urljoin, urlparse

from testigo.errors import RefusedInputError, UsageError
from testigo.extract.decode import HTML_OVERHEAD, max_text_bytes
from testigo.netguard import guard_enabled, opener
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


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    # Checked before urllib follows a redirect (it would refuse other schemes itself, as a bare
    # "HTTP 302" error that says nothing of why).
    def http_error_302(self, req, fp, code, msg, headers):  # type: ignore[no-untyped-def]
        location = headers.get("location") or headers.get("uri")
        if location:
            target = urljoin(req.full_url, location)
            if urlparse(target).scheme not in ("http", "https"):
                raise RefusedInputError(f"the page redirects to a non-web address: {target}")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


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
    web = opener(_HttpOnlyRedirects(), guarded=guard_enabled(allow_private))
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    fetched_at = ledger.utc_now()
    try:
        with web.open(request, timeout=timeout) as response:
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
