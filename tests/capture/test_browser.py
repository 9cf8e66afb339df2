"""A person records on the capture page (Chromium with a fake camera), loses the network for a
while, then the page is closed abruptly. The server must hold every acknowledged chunk, the
partial recording must play, and `testigo verify` must pass."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testigo.capture import recording, service
from testigo.vault.service import Vault

from .media import decoded_frames
from .server import ServerProcess

CHROMIUM = os.environ.get("TESTIGO_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


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


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_record_lose_network_close_page(
    vault: Vault, env: dict[str, str], chromium: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESTIGO_CAPTURE_STALE_SECONDS", "60")
    made = service.create_token(vault, actor="test", label="browser test")
    server = ServerProcess(env)
    server.start()
    acked_by_server: set[int] = set()
    try:
        context = chromium.new_context(
            permissions=["geolocation"],
            geolocation={"latitude": 34.0522, "longitude": -118.2437, "accuracy": 20},
            locale="es-ES",
        )
        page = context.new_page()

        def on_response(response: Any) -> None:
            if response.request.method == "PATCH" and response.status == 200:
                acked_by_server.add(int(response.headers["chunk-index"]) - 1)

        page.on("response", on_response)
        page.goto(f"{server.url}/capture/{made.token}")
        page.wait_for_selector("#capture[data-ready='1']", timeout=30_000)
        assert "Guardado hasta" in page.content()
        page.check("#consent-location")
        page.click("#capture-record")
        root = page.locator("#capture")
        wait_for(lambda: int(root.get_attribute("data-acked") or 0) >= 2, 40, "two acks")

        context.set_offline(True)
        wait_for(lambda: int(root.get_attribute("data-pending") or 0) >= 2, 30, "queued chunks")
        assert root.get_attribute("data-online") == "0"
        acked_offline = int(root.get_attribute("data-acked") or 0)
        context.set_offline(False)
        wait_for(
            lambda: int(root.get_attribute("data-acked") or 0) >= acked_offline + 2,
            60,
            "queued chunks sent after the network came back",
        )
        saved = page.text_content("#capture-saved")
        assert saved and saved != "00:00"
        time.sleep(2)
        context.close()  # the phone is gone: no stop, no finish

        # The server holds a contiguous recording covering every acknowledged chunk.
        sessions = [s for s in _sessions(vault)]
        assert len(sessions) == 1
        capture = sessions[0]
        assert capture.chunk_count >= max(acked_by_server) + 1
        assert capture.location_consent and abs((capture.latitude or 0) - 34.0522) < 1e-3
        assert capture.device_clock
        chunks = service.chunks_of(vault, capture.id)
        assert [c.idx for c in chunks] == list(range(capture.chunk_count))
        assert sum(c.size for c in chunks) == capture.bytes_received
        partial = recording.partial_recording(vault, capture.public_id)
        assert decoded_frames(partial) > 10
    finally:
        server.stop()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "testigo"), "verify"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _sessions(vault: Vault) -> list[Any]:
    from sqlalchemy import select

    from testigo.capture.models import CaptureSession

    with vault.reading() as session:
        return list(session.scalars(select(CaptureSession)))
