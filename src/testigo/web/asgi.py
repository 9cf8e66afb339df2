"""The ASGI entry point uvicorn imports (`testigo.web.asgi:app`); settings from TESTIGO_*."""

from __future__ import annotations

from testigo.web.app import create_app

app = create_app()
