"""`testigo serve` starts every time, with analysis jobs waiting for its job threads.

The job threads once started while uvicorn imported the web app; both imported Shapely (the maps,
the OCR engine) and one got a partly initialised module: the server failed about half the time.
"""

from __future__ import annotations

import pytest

from .conftest import Deployment

pytestmark = [pytest.mark.system, pytest.mark.slow]

ROUNDS = 6


def test_serve_starts_every_time_with_jobs_waiting(sqlite_deployment: Deployment) -> None:
    d = sqlite_deployment
    d.cli("init")
    d.cli("demo")
    server = d.server()
    for round_number in range(ROUNDS):
        # Jobs that load the OCR engine (and with it Shapely) run the moment the server is up.
        d.cli("analyze", "--all", "--only", "ocr", "--force")
        server.start()
        server.stop()
        bad = server.bad_log_lines()
        assert bad == [], f"start {round_number + 1}: {bad}\n{server.tail()}"
    assert server.starts == ROUNDS
