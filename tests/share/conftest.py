"""Fixtures for the share tests: a real RFC 3161 timestamp authority on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .tsa_server import TestTSAServer


@pytest.fixture(scope="session")
def tsa() -> Iterator[TestTSAServer]:
    """One test TSA for the whole session; its root CA is made fresh for every run."""
    server = TestTSAServer()
    try:
        yield server
    finally:
        server.close()
