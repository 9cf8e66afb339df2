"""Signed checkpoints while captures are live, and the sweep that notices a device went quiet.

The sweep shows a silent capture as stopped and, once it has been silent for
``TESTIGO_CAPTURE_IDLE_CLOSE_SECONDS`` (10 minutes), closes it as interrupted: what was received
becomes the partial recording (``recording.close_idle``).

Chunks are ledgered one by one; a signed checkpoint over the ledger is what lets a verifier (and
a court) trust that they were recorded when they were. While chunks keep arriving a background
thread signs a checkpoint every ``TESTIGO_CAPTURE_CHECKPOINT_SECONDS`` (5 s by default, so one
is never more than 10 s old). The thread runs while there is capture traffic or an open capture,
and ends by itself when every capture is closed and the ledger is signed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from testigo.capture.models import CaptureSession
from testigo.capture.service import OPEN, _write_lock
from testigo.config import capture_idle_close_seconds
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
        # Captures whose close failed (a chain that does not verify): tried again only after
        # another idle period, not re-read and re-logged on every sweep.
        self._retry_after: dict[str, float] = {}
        self._thread: threading.Thread | None = None
        self._opened = False  # a capture opened since the last count of open captures
        self._stop = threading.Event()
        self.checkpoints = 0

    def note_append(self) -> None:
        """A chunk was ledgered: make sure a checkpoint follows within the interval."""
        now = self.clock()
        with self._lock:
            self._last_append = now
            if self._dirty_since is None:
                self._dirty_since = now
        self._start()

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

    def note_open(self) -> None:
        """A capture was opened: keep the thread running until it is closed."""
        with self._lock:
            self._opened = True
        self._start()

    def watch(self) -> None:
        """Run the background thread while any capture is open, even with no chunk arriving
        (a server that starts with captures left open by a previous run closes them when
        they have been silent long enough)."""
        if open_sessions(self.vault):
            self._start()

    def stop(self, timeout: float = 30.0) -> None:
        """End the background thread for good (the server is stopping), waiting for a sweep or
        checkpoint in progress to finish."""
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _start(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            if self.background and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(
                    target=self._run, name="testigo-capture-checkpoints", daemon=True
                )
                self._thread.start()

    def sweep(self) -> int:
        """Show silent captures as stopped and close those silent too long; how many are
        still open."""
        mark_stopped(self.vault)
        from testigo.capture.recording import close_idle

        now = self.clock()
        self._retry_after = {pid: until for pid, until in self._retry_after.items() if until > now}
        swept = close_idle(self.vault, skip=set(self._retry_after))
        for done in swept.closed:
            log.info("capture %s closed after a long silence", done.public_id)
        for public_id, problem in swept.failed.items():
            log.warning("capture %s could not be closed: %s", public_id, problem)
            self._retry_after[public_id] = now + swept.idle_seconds
        with self._lock:
            self._opened = False  # counted below (a capture opened from now on sets it again)
        return open_sessions(self.vault)

    def _run(self) -> None:
        step = max(0.05, min(1.0, self.interval / 5))
        still_open = 1
        while True:
            self._stop.wait(step)
            if self._stop.is_set() or self.vault.closed:  # the server is stopping
                with self._lock:
                    self._thread = None
                return
            try:
                self.tick()
                now = self.clock()
                if now - self._last_sweep >= min(10.0, stale_seconds() / 2):
                    self._last_sweep = now
                    still_open = self.sweep()
            except Exception as exc:  # keep pacing; the next tick retries
                if not self.vault.closed:
                    log.warning("capture checkpoint or sweep failed: %s", exc)
            if self.idle():
                with self._lock:
                    # Quiet: end the thread, unless a capture is still open (the sweep closes
                    # it once silent for TESTIGO_CAPTURE_IDLE_CLOSE_SECONDS).
                    waiting = (still_open or self._opened) and idle_closing()
                    if self._dirty_since is None and not waiting:
                        self._thread = None
                        return


def idle_closing() -> bool:
    return capture_idle_close_seconds() > 0


def open_sessions(vault: Vault) -> int:
    """Captures not yet finished, abandoned or interrupted."""
    with vault.reading() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(CaptureSession)
                .where(CaptureSession.status.in_(OPEN))
            )
            or 0
        )


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


def stop_pacing(vault: Vault) -> None:
    """Stop this vault's background thread, before the vault is closed."""
    with _PACERS_LOCK:
        pacer = _PACERS.get(id(vault))
    if pacer is not None and pacer.vault is vault:
        pacer.stop()


def pacer_for(vault: Vault) -> CheckpointPacer:
    with _PACERS_LOCK:
        pacer = _PACERS.get(id(vault))
        if pacer is None or pacer.vault is not vault:
            pacer = _PACERS[id(vault)] = CheckpointPacer(vault)
        return pacer
