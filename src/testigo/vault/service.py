"""Opening a vault: database, blob store, ledger key; and the checkpoints that sign the ledger."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from testigo.config import Settings
from testigo.db import engine as db
from testigo.db.models import Checkpoint as CheckpointRow
from testigo.db.models import LedgerEntry
from testigo.errors import NotInitializedError, StorageError
from testigo.vault import ledger
from testigo.vault.blobs import BlobStore, open_vault_store
from testigo.vault.checkpoint import Checkpoint, sign_checkpoint
from testigo.vault.keys import SigningKey, generate_signing_key, load_signing_key

ORIGIN_FILE = "ledger.origin"


@dataclass
class Vault:
    """Everything a service needs to read and write evidence. Cheap to pass around."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    blobs: BlobStore
    _key: SigningKey | None = field(default=None, repr=False)
    closed: bool = False
    durable_sessions: sessionmaker[Session] | None = field(default=None, repr=False)
    snapshot_sessions: sessionmaker[Session] | None = field(default=None, repr=False)

    @contextmanager
    def transaction(self, *, durable: bool = False) -> Iterator[Session]:
        """A unit of work: the records and their ledger entries commit together or not at all.

        ``durable=True`` for a commit that something outside will rely on once it returns (a
        chunk acknowledged, an upload answered, a checkpoint signed): it is on stable storage,
        with every commit before it, when the block ends.
        """
        factory = self.sessions
        if durable:
            if self.durable_sessions is None:
                self.durable_sessions = db.session_factory(db.durable(self.engine))
            factory = self.durable_sessions
        with db.transaction(factory) as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only view of one consistent state of the vault; it never blocks writers."""
        if self.snapshot_sessions is None:
            self.snapshot_sessions = db.session_factory(db.snapshot_reader(self.engine))
        with self.snapshot_sessions() as session, session.begin():
            yield session

    @property
    def origin(self) -> str:
        return read_origin(self.settings)

    def signing_key(self) -> SigningKey:
        if self._key is None:
            self._key = load_signing_key(self.settings.signing_key_path, self.origin)
        return self._key

    def checkpoint(self, *, force: bool = False) -> CheckpointRow:
        """Sign the ledger as it is now; reuse the newest checkpoint if nothing was appended."""
        key = self.signing_key()
        # A durable commit: when it returns, the checkpoint and every entry it covers are on
        # stable storage, so no checkpoint handed out covers entries a power loss could take back.
        with self.transaction(durable=True) as session:
            ledger.lock_ledger(session)
            size = ledger.tree_size(session)
            latest = ledger.latest_checkpoint(session)
            if latest is not None and latest.tree_size == size and not force:
                return latest
            root = ledger.root_at(session, size)
            note = sign_checkpoint(Checkpoint(origin=self.origin, size=size, root=root), key)
            row = CheckpointRow(
                tree_size=size, root_hash=root, note=note, created_at=ledger.utc_now()
            )
            session.add(row)
            session.flush()
        if os.environ.get("TESTIGO_TSA_URL", "").strip():
            from testigo.vault.timestamping import timestamp_quietly

            timestamp_quietly(self, row)
        return row

    def dispose(self) -> None:
        """Release connections; background helpers that hold this vault stop when they see it."""
        self.closed = True
        self.engine.dispose()


def read_origin(settings: Settings) -> str:
    """The log's name: from TESTIGO_LOG_ORIGIN, else the one chosen at `testigo init`."""
    env = os.environ.get("TESTIGO_LOG_ORIGIN", "").strip()
    if env:
        return env
    path = settings.key_dir / ORIGIN_FILE
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError as exc:
        raise NotInitializedError(
            f"this vault has no ledger key yet ({path} is missing): run `testigo init`"
        ) from exc


@dataclass(frozen=True)
class InitReport:
    home: Path
    database_url: str
    blobs_url: str
    created_key: bool
    public_key: str
    fingerprint: str
    origin: str
    blobs_mirror_url: str | None = None


def init_vault(settings: Settings, *, actor: str | None = None) -> InitReport:
    """Create or upgrade a vault. Safe to run again: keys and evidence are never replaced."""
    try:
        settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        settings.key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StorageError(
            f"cannot create the vault folder {settings.home}: {exc.strerror}"
        ) from exc
    engine = db.make_engine(settings.database_url)
    try:
        db.upgrade(engine)
    finally:
        engine.dispose()
    origin_path = settings.key_dir / ORIGIN_FILE
    if not os.environ.get("TESTIGO_LOG_ORIGIN", "").strip() and not origin_path.exists():
        origin_path.write_text(f"testigo.local/{uuid.uuid4().hex[:16]}\n", encoding="utf-8")
    origin = read_origin(settings)
    created = False
    if settings.signing_key_path.exists():
        key = load_signing_key(settings.signing_key_path, origin)
    else:
        key = generate_signing_key(settings.signing_key_path, origin)
        created = True
    (settings.key_dir / "ledger.vkey").write_text(key.vkey + "\n", encoding="utf-8")
    # The certificate that signs C2PA manifests on redacted copies: the vault's own local CA
    # unless a real signing certificate is configured (TESTIGO_C2PA_CERT / TESTIGO_C2PA_KEY).
    from testigo.protect.c2pa_sign import ensure_c2pa_signer

    ensure_c2pa_signer(settings)
    vault = open_vault(settings)
    try:
        with vault.transaction() as session:
            if session.get(LedgerEntry, 0) is None:
                ledger.append_entry(
                    session,
                    ledger.NewEntry(
                        entry_type="vault.init",
                        actor=actor or settings.actor,
                        subjects=[f"key:{key.public_key_fingerprint()}"],
                        params={"origin": origin, "verifier_key": key.vkey},
                    ),
                )
            elif created:
                ledger.append_entry(
                    session,
                    ledger.NewEntry(
                        entry_type="key.rotate",
                        actor=actor or settings.actor,
                        subjects=[f"key:{key.public_key_fingerprint()}"],
                        params={"origin": origin, "verifier_key": key.vkey},
                    ),
                )
        vault.checkpoint()
    finally:
        vault.dispose()
    return InitReport(
        home=settings.home,
        database_url=_safe_url(settings.database_url),
        blobs_url=settings.blobs_url,
        created_key=created,
        public_key=key.vkey,
        fingerprint=key.public_key_fingerprint(),
        origin=origin,
        blobs_mirror_url=settings.blobs_mirror_url,
    )


def open_vault(settings: Settings) -> Vault:
    """Open an initialised vault and sweep temporary files left by writers that died."""
    engine = db.make_engine(settings.database_url)
    try:
        db.require_schema(engine)
    except Exception:
        engine.dispose()
        raise
    try:
        blobs = open_vault_store(
            settings.blobs_url, settings.blobs_mirror_url, required=settings.blobs_mirror_required
        )
        blobs.cleanup_stale()
    except BaseException:
        engine.dispose()
        raise
    return Vault(settings=settings, engine=engine, sessions=db.session_factory(engine), blobs=blobs)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"
