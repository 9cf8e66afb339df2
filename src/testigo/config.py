"""Settings, read once from the environment (``TESTIGO_*``).

Everything that a deployment may want to change lives here, so that the CLI, the web app and the
workers agree on where the vault is without passing paths around.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


@dataclass(frozen=True)
class Settings:
    """Where the vault lives and how it is reached."""

    home: Path
    database_url: str
    blobs_url: str
    actor: str
    checkpoint_origin: str
    extra: dict[str, str] = field(default_factory=dict)
    blobs_mirror_url: str | None = None
    """``TESTIGO_BLOBS_MIRROR_URL``: a second store that receives every blob (vault/mirror.py)."""
    blobs_mirror_required: bool = True
    """``TESTIGO_BLOBS_MIRROR_REQUIRED``: 1 (default) fails a write the mirror did not take."""

    @property
    def key_dir(self) -> Path:
        return self.home / "keys"

    @property
    def signing_key_path(self) -> Path:
        return self.key_dir / "ledger-ed25519.pem"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def default_actor() -> str:
    """Who is acting, when nobody said: the local account name, marked as coming from the CLI."""
    user = _env("USER") or _env("LOGNAME")
    if user is None:
        try:
            import pwd

            user = pwd.getpwuid(os.getuid()).pw_name
        except (ImportError, KeyError):
            user = "unknown"
    return f"cli:{user}"


DEFAULT_CAPTURE_IDLE_CLOSE_SECONDS = 600.0


def capture_idle_close_seconds() -> float:
    """``TESTIGO_CAPTURE_IDLE_CLOSE_SECONDS``: how long a capture may stay silent (no chunk)
    before the server closes it as interrupted (10 minutes by default; 0 turns it off)."""
    raw = _env("TESTIGO_CAPTURE_IDLE_CLOSE_SECONDS")
    try:
        value = float(raw) if raw is not None else DEFAULT_CAPTURE_IDLE_CLOSE_SECONDS
    except ValueError:
        return DEFAULT_CAPTURE_IDLE_CLOSE_SECONDS
    return max(0.0, value)


def load_settings() -> Settings:
    """Read the settings from the environment; relative paths are taken from the current folder."""
    home = Path(_env("TESTIGO_HOME", "./var") or "./var").expanduser().resolve()
    database_url = _env("TESTIGO_DATABASE_URL") or f"sqlite:///{home / 'testigo.sqlite3'}"
    blobs_url = _env("TESTIGO_BLOBS_URL") or str(home / "blobs")
    actor = _env("TESTIGO_ACTOR") or default_actor()
    origin = _env("TESTIGO_LOG_ORIGIN") or "testigo.local/ledger"
    return Settings(
        home=home,
        database_url=database_url,
        blobs_url=blobs_url,
        actor=actor,
        checkpoint_origin=origin,
        blobs_mirror_url=_env("TESTIGO_BLOBS_MIRROR_URL"),
        blobs_mirror_required=_flag("TESTIGO_BLOBS_MIRROR_REQUIRED", True),
    )


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _flag(name: str, default: bool) -> bool:
    raw = _env(name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    from testigo.errors import UsageError

    raise UsageError(f"{name} must be 1 or 0, not {raw!r}")
