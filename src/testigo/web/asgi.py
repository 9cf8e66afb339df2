"""The ASGI entry point uvicorn imports (`testigo.web.asgi:app`); settings from TESTIGO_*."""

from __future__ import annotations

from testigo.preload import preload_libraries
from testigo.web.app import create_app

preload_libraries()  # before the app starts any thread: see testigo/preload.py
app = create_app()
