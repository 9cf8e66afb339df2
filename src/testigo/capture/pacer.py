"""Signed checkpoints while captures are live, and the sweep that notices a device went quiet.

Chunks are ledgered one by one; a signed checkpoint over the ledger is what lets a verifier (and
a court) trust that they were recorded when they were. While chunks keep arriving a background
thread signs a checkpoint every ``TESTIGO_CAPTURE_CHECKPOINT_SECONDS`` (5 s by default, so one
is never more than 10 s old). The thread runs only while there is capture traffic, and ends by
itself when the captures go quiet.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from testigo.capture.models import CaptureSession
from testigo.capture.service import _write_lock
from testigo.vault.service import Vault

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 5.0
DEFAULT_STALE_SECONDS = 60.0


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if value > 0 else default


def checkpoint_interval() -> float:
    return min(_env_seconds("TESTIGO_CAPTURE_CHECKPOINT_SECONDS", DEFAULT_INTERVAL), 10.0)


def stale_seconds() -> float:
    return _env_seconds("TESTIGO_CAPTURE_STALE_SECONDS", DEFAULT_STALE_SECONDS)


class CheckpointPacer:
    """Decides when the ledger needs a new signed checkpoint; ``tick`` makes it."""

    def __init__(
        self,
        vault: Vault,
        *,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        background: bool = True,
    ) -> None:
        self.vault = vault
        self.interval = checkpoint_interval() if interval is None else interval
        self.clock = clock
        self.background = background
        self._lock = threading.Lock()
        self._dirty_since: float | None = None
        self._last_checkpoint = clock()
        self._last_append = float("-inf")
        self._last_sweep = float("-inf")
        self._thread: threading.Thread | None = None
        self.checkpoints = 0

    def note_append(self) -> None:
        """A chunk was ledgered: make sure a checkpoint follows within the interval."""
        now = self.clock()
        with self._lock:
            self._last_append = now
            if self._dirty_since is None:
                self._dirty_since = now
            if self.background and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(
                    target=self._run, name="testigo-capture-checkpoints", daemon=True
                )
                self._thread.start()

    def due(self) -> bool:
        with self._lock:
            return (
                self._dirty_since is not None
                and self.clock() - self._last_checkpoint >= self.interval
            )

    def tick(self) -> bool:
        """Sign a checkpoint if one is due; True when one was signed."""
        if not self.due():
            return False
        with self._lock:
            self._dirty_since = None
        lock = _write_lock(self.vault)
        try:
            if lock is None:
                self.vault.checkpoint()
            else:
                with lock:
                    self.vault.checkpoint()
        except Exception:
            with self._lock:
                self._dirty_since = self._dirty_since or self.clock()
            raise
        with self._lock:
            self._last_checkpoint = self.clock()
            self.checkpoints += 1
        return True

    def idle(self) -> bool:
        with self._lock:
            quiet = self.clock() - self._last_append
            return self._dirty_since is None and quiet > stale_seconds() + self.interval

    def _run(self) -> None:
        step = max(0.05, min(1.0, self.interval / 5))
        while True:
            time.sleep(step)
            if self.vault.closed:  # the vault was closed (server stopping): nothing to pace
                with self._lock:
                    self._thread = None
                return
            try:
                self.tick()
                now = self.clock()
                if now - self._last_sweep >= min(10.0, stale_seconds() / 2):
                    self._last_sweep = now
                    mark_stopped(self.vault)
            except Exception as exc:  # keep pacing; the next tick retries
                if not self.vault.closed:
                    log.warning("capture checkpoint failed: %s", exc)
            if self.idle():
                try:
                    mark_stopped(self.vault)
                except Exception as exc:
                    log.warning("capture sweep failed: %s", exc)
                with self._lock:
                    if self._dirty_since is None:
                        self._thread = None
                        return


def mark_stopped(vault: Vault, now: datetime | None = None) -> int:
    """Live sessions with no chunk for a while are shown as stopped (a new chunk revives them)."""
    moment = now or datetime.now(UTC)
    cutoff = (moment - timedelta(seconds=stale_seconds())).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with vault.transaction() as session:
        result = session.execute(
            update(CaptureSession)
            .where(CaptureSession.status == "live", CaptureSession.last_chunk_at < cutoff)
            .values(status="stopped")
        )
        return int(getattr(result, "rowcount", 0) or 0)


_PACERS: dict[int, CheckpointPacer] = {}
_PACERS_LOCK = threading.Lock()


def pacer_for(vault: Vault) -> CheckpointPacer:
    with _PACERS_LOCK:
        pacer = _PACERS.get(id(vault))
        if pacer is None or pacer.vault is not vault:
            pacer = _PACERS[id(vault)] = CheckpointPacer(vault)
        return pacer
