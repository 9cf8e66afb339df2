"""Import by URL against a web server on loopback: what is fetched, and what is refused.

Loopback is a non-public address, so by default every fetch here must be refused (the server must
not be a way into its own network); with the address check lifted, the same page imports.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

import pytest

from testigo.errors import RefusedInputError, UsageError
from testigo.netguard import is_public_address
from testigo.records.fetch import fetch_url

from .conftest import ARTICLES

PAGE = (
    "<html><head><title>Arrest outside a school in Dayton</title></head><body><article>"
    + "".join(
        f"<p>{line}</p>"
        for line in (ARTICLES / "dayton-news.txt").read_text(encoding="utf-8").splitlines()
        if line.strip()
    )
    + "</article></body></html>"
).encode()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/story":
            self._send(200, PAGE, "text/html; charset=utf-8")
        elif self.path == "/to-file":
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.end_headers()
        elif self.path == "/to-story":
            self.send_response(302)
            self.send_header("Location", "/story")
            self.end_headers()
        elif self.path == "/huge":
            self._send(200, b"x" * 5000, "text/html")
        elif self.path == "/huge-unannounced":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"y" * 5000)
            self.close_connection = True
        else:
            self._send(404, b"not here", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def site(serve_http: Callable[[type[BaseHTTPRequestHandler]], str]) -> str:
    return serve_http(_Handler)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.9", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata services
        ("0.0.0.0", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("::1", False),
        ("fe80::1%2", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_loopback_page_is_refused_by_default(site: str) -> None:
    with pytest.raises(RefusedInputError, match="private or local network address"):
        fetch_url(f"{site}/story")
    # A name that resolves to loopback is judged by where the connection lands.
    with pytest.raises(RefusedInputError, match="private or local network address"):
        fetch_url(site.replace("127.0.0.1", "localhost") + "/story")


def test_allowed_fetch_follows_web_redirects_and_keeps_both_addresses(site: str) -> None:
    fetched = fetch_url(f"{site}/to-story", allow_private=True)
    assert fetched.status == 200 and fetched.data == PAGE
    assert fetched.url.endswith("/to-story") and fetched.final_url.endswith("/story")
    assert fetched.content_type is not None and fetched.content_type.startswith("text/html")


def test_bad_pages_are_refused_clearly(site: str) -> None:
    with pytest.raises(RefusedInputError, match="non-web address"):
        fetch_url(f"{site}/to-file", allow_private=True)
    with pytest.raises(RefusedInputError, match="answered 404"):
        fetch_url(f"{site}/missing", allow_private=True)
    with pytest.raises(RefusedInputError, match="limit is 1,000"):
        fetch_url(f"{site}/huge", allow_private=True, max_bytes=1000)
    with pytest.raises(RefusedInputError, match="over the 1,000-byte limit"):
        fetch_url(f"{site}/huge-unannounced", allow_private=True, max_bytes=1000)
    with pytest.raises(UsageError, match="only http"):
        fetch_url("file:///etc/passwd")
    with pytest.raises(UsageError, match="only http"):
        fetch_url("ftp://example.org/story")


def test_unreachable_server_is_a_clear_refusal() -> None:
    with pytest.raises(RefusedInputError, match="cannot fetch"):
        fetch_url("http://127.0.0.1:9/story", allow_private=True, timeout=5)


def test_cli_imports_by_url_when_allowed(  # type: ignore[no-untyped-def]
    site: str, run_main, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_main("init")[0] == 0
    code, _, err = run_main("article", "import", f"{site}/story", "--json")
    assert code != 0 and "private or local network address" in err
    assert json.loads(run_main("verify", "--json")[1])["ok"]

    monkeypatch.setenv("TESTIGO_FETCH_ALLOW_PRIVATE", "1")
    code, out, err = run_main("article", "import", f"{site}/story", "--json")
    assert code == 0, err
    result = json.loads(out)
    code, out, _ = run_main("incident", "show", str(result["incident_id"]), "--json")
    record = json.loads(out)
    assert [s["url"] for s in record["sources"]] == [f"{site}/story"]
    assert record["timeline"]
    code, out, _ = run_main("verify", "--json")
    assert code == 0 and json.loads(out)["ok"]


def test_behind_a_proxy_the_target_is_judged_by_its_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nothing listens on the "proxy": a refusal here comes before any connection to it.
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("TESTIGO_FETCH_ALLOW_PRIVATE", raising=False)
    with pytest.raises(RefusedInputError, match="private or local network address"):
        fetch_url("http://10.1.2.3/story", timeout=5)
    with pytest.raises(RefusedInputError, match="cannot fetch"):
        fetch_url("http://10.1.2.3/story", timeout=5, allow_private=True)  # the proxy is down
