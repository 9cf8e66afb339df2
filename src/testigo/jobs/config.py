"""Queue settings, read from the environment (``TESTIGO_JOB_*``, ``TESTIGO_CELERY_BROKER``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from testigo.errors import UsageError


def _number(name: str, default: float, minimum: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise UsageError(f"{name} must be a number, not {raw!r}") from exc
    if value < minimum:
        raise UsageError(f"{name} must be at least {minimum}")
    return value


@dataclass(frozen=True)
class JobSettings:
    """How long a lease lasts, how retries back off, and where Celery's broker is (if any)."""

    lease_seconds: float = 60.0
    backoff_seconds: float = 30.0
    backoff_max_seconds: float = 3600.0
    max_attempts: int = 3
    poll_seconds: float = 1.0
    celery_broker: str | None = None
    auto_analyze: bool = True

    @property
    def heartbeat_seconds(self) -> float:
        """Renew a lease three times per lease period, so one missed beat never loses it."""
        return max(0.2, self.lease_seconds / 3)


def load_job_settings() -> JobSettings:
    broker = os.environ.get("TESTIGO_CELERY_BROKER", "").strip() or None
    auto = os.environ.get("TESTIGO_AUTO_ANALYZE", "1").strip().lower() not in {"0", "no", "false"}
    return JobSettings(
        lease_seconds=_number("TESTIGO_JOB_LEASE_SECONDS", 60.0, 1.0),
        backoff_seconds=_number("TESTIGO_JOB_BACKOFF_SECONDS", 30.0, 0.0),
        backoff_max_seconds=_number("TESTIGO_JOB_BACKOFF_MAX_SECONDS", 3600.0, 0.0),
        max_attempts=int(_number("TESTIGO_JOB_MAX_ATTEMPTS", 3, 1)),
        poll_seconds=_number("TESTIGO_JOB_POLL_SECONDS", 1.0, 0.05),
        celery_broker=broker,
        auto_analyze=auto,
    )
