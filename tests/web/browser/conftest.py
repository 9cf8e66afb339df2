"""A live server on a free loopback port with a fresh vault, and Debian's Chromium driven by
Playwright. Skipped cleanly when Chromium or Playwright is missing; no browser is downloaded."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testigo.config import Settings
from testigo.vault.service import init_vault

CHROMIUM = os.environ.get("TESTIGO_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def browser_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    home = tmp_path / "var"
    settings = Settings(
        home=home,
        database_url=f"sqlite:///{home / 'testigo.sqlite3'}",
        blobs_url=str(home / "blobs"),
        actor="test:browser",
        checkpoint_origin="",
        extra={},
    )
    for key, value in {
        "TESTIGO_HOME": str(home),
        "TESTIGO_DATABASE_URL": settings.database_url,
        "TESTIGO_BLOBS_URL": settings.blobs_url,
        "TESTIGO_ACTOR": settings.actor,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TESTIGO_LOG_ORIGIN", raising=False)
    init_vault(settings)
    return settings


@pytest.fixture
def live_server(browser_settings: Settings) -> Iterator[str]:
    import uvicorn

    from testigo.web.app import create_app

    port = _free_port()
    app = create_app(browser_settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
