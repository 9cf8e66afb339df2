"""Checking a backup without restoring it, and restoring one into an empty home.

A check trusts nothing in the backup but the signing key it carries (or the fingerprint pinned
with ``--pin``): the database copy is hashed against the manifest, the ledger is rebuilt from the
copy's entries and every signed checkpoint compared with it, and every blob is re-hashed.

A restore runs the same check first and writes nothing until it passes. It then copies the blobs
(content-addressed: what a failed restore left is reused, never trusted blindly), puts the keys
in place, and writes the database last; if the database cannot be written the keys are taken
away again, so the home never holds half a vault.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from testigo.config import Settings
from testigo.db.engine import head_revisions, session_factory
from testigo.errors import IntegrityError, TestigoError, UsageError
from testigo.vault import backup_db, merkle
from testigo.vault.backup import (
    CheckReport,
    Progress,
    RestoreReport,
    _open_checked,
    _Opened,
    copy_blobs,
    load_manifest,
)
from testigo.vault.backup_store import BackupTarget, open_target
from testigo.vault.blobs import BlobStore, open_blob_store
from testigo.vault.checkpoint import verify_checkpoint
from testigo.vault.keys import Verifier, load_signing_key
from testigo.vault.service import Vault, read_origin
from testigo.vault.verify import hash_stream, verify_vault


def check_backup(
    src_url: str,
    *,
    stamp: str | None = None,
    check_blobs: bool = True,
    pin: str | None = None,
    progress: Progress | None = None,
) -> CheckReport:
    """Verify a backup where it lies, read-only. Raises ``IntegrityError`` for a backup that
    is incomplete or whose files do not match their manifest; other findings are problems."""
    target = open_target(src_url)
    manifest = load_manifest(target, stamp)
    with tempfile.TemporaryDirectory(prefix="testigo-check-") as tmp:
        opened = _open_checked(target, manifest, Path(tmp))
        return _check_opened(target, opened, check_blobs=check_blobs, pin=pin, progress=progress)


def _check_opened(
    target: BackupTarget,
    opened: _Opened,
    *,
    check_blobs: bool,
    pin: str | None,
    progress: Progress | None,
) -> CheckReport:
    manifest = opened.manifest
    checkpoint = manifest["ledger"]["checkpoint"]
    report = CheckReport(
        source=target.url,
        stamp=manifest["stamp"],
        database_kind=manifest["database"]["kind"],
        tree_size=manifest["ledger"]["tree_size"],
        checkpoint_size=checkpoint["tree_size"] if checkpoint else None,
    )
    store = open_blob_store(target.blobs_url)
    if report.database_kind == "sqlite":
        _check_sqlite(opened, store, report, check_blobs, pin, progress)
    elif report.database_kind == "postgresql":
        _check_postgres(opened, store, report, check_blobs, pin, progress)
    else:
        raise IntegrityError(f"the manifest names an unknown database kind {report.database_kind}")
    return report


def _backup_settings(opened: _Opened, store: BlobStore) -> Settings:
    return Settings(
        home=opened.home,
        database_url=f"sqlite:///{opened.database}",
        blobs_url=store.url,
        actor="backup-check",
        checkpoint_origin="",
    )


def _compare(
    report: CheckReport,
    manifest: dict[str, Any],
    tree_size: int,
    latest_note: str | None,
    blobs: list[tuple[str, int]],
    listed: list[tuple[str, int]],
) -> None:
    if tree_size != manifest["ledger"]["tree_size"]:
        report.problems.append(
            f"[manifest] the copy's ledger has {tree_size} entries, the manifest says "
            f"{manifest['ledger']['tree_size']}"
        )
    checkpoint = manifest["ledger"]["checkpoint"]
    if (checkpoint["note"] if checkpoint else None) != latest_note:
        report.problems.append(
            "[manifest] the newest checkpoint in the copy is not the one the manifest recorded"
        )
    if blobs != listed:
        report.problems.append(
            f"[manifest] the copy names {len(blobs)} blob(s), the blob list {len(listed)}, "
            "and they differ"
        )


def _check_sqlite(
    opened: _Opened,
    store: BlobStore,
    report: CheckReport,
    check_blobs: bool,
    pin: str | None,
    progress: Progress | None,
) -> None:
    engine = backup_db.readonly_sqlite_engine(opened.database)
    vault = Vault(
        settings=_backup_settings(opened, store),
        engine=engine,
        sessions=session_factory(engine),
        blobs=store,
    )
    try:
        result = verify_vault(vault, pin=pin, check_blobs=check_blobs, progress=progress)
        with vault.reading() as session:
            figures = backup_db.read_figures(session)
    finally:
        engine.dispose()
    report.problems.extend(str(p) for p in result.problems)
    report.notes.extend(result.notes)
    report.blobs_checked = result.blobs_checked
    report.bytes_hashed = result.bytes_hashed
    report.checkpoints_checked = result.checkpoints_checked
    report.key_fingerprint = result.key_fingerprint
    _compare(
        report,
        opened.manifest,
        figures.tree_size,
        figures.checkpoint_note,
        figures.blobs,
        opened.blobs,
    )


def _verifier(opened: _Opened, store: BlobStore, pin: str | None, report: CheckReport) -> Verifier:
    settings = _backup_settings(opened, store)
    verifier = load_signing_key(settings.signing_key_path, read_origin(settings)).verifier()
    report.key_fingerprint = verifier.public_key_fingerprint()
    if pin is not None and pin.lower() != report.key_fingerprint:
        raise IntegrityError(
            f"the backup's signing key is not the pinned key (pinned {pin.lower()}, "
            f"found {report.key_fingerprint})"
        )
    return verifier


def _check_postgres(
    opened: _Opened,
    store: BlobStore,
    report: CheckReport,
    check_blobs: bool,
    pin: str | None,
    progress: Progress | None,
) -> None:
    """The dump's ledger rebuilt from its entries (as `testigo verify` does) and every signed
    checkpoint checked against it; the dump is read with ``pg_restore``, never restored."""
    dump, schema = opened.database, opened.manifest["database"]["schema"]
    backup_db.check_dump_readable(dump)
    verifier = _verifier(opened, store, pin, report)
    origin = read_origin(_backup_settings(opened, store))
    leaves: dict[int, bytes] = {}
    for row in backup_db.dumped_rows(dump, schema, "ledger_entries"):
        seq, leaf = int(str(row["seq"])), merkle.leaf_hash(backup_db.bytea(row["body"]))
        if backup_db.bytea(row["leaf_hash"]) != leaf:
            report.problems.append(f"[ledger] entry {seq}: the leaf hash does not match its bytes")
        leaves[seq] = leaf
    size = len(leaves)
    if sorted(leaves) != list(range(size)):
        report.problems.append("[ledger] the dump's entries have a gap in their sequence")
        return
    checkpoints = sorted(
        backup_db.dumped_rows(dump, schema, "checkpoints"),
        key=lambda r: (int(str(r["tree_size"])), int(str(r["id"]))),
    )
    sizes = {int(str(r["tree_size"])) for r in checkpoints}
    roots = {0: merkle.EMPTY_ROOT}
    frontier = merkle.Frontier()
    for seq in range(size):
        frontier.append(leaves[seq])
        if frontier.size in sizes:
            roots[frontier.size] = frontier.root()
    for row in checkpoints:
        subject = f"checkpoint {row['id']} (size {row['tree_size']})"
        report.checkpoints_checked += 1
        try:
            cp = verify_checkpoint(str(row["note"]), [verifier])
        except TestigoError as exc:
            report.problems.append(f"[checkpoint] {subject}: signature check failed: {exc}")
            continue
        if cp.origin != origin:
            report.problems.append(f"[checkpoint] {subject}: signed for another log")
        if cp.size != int(str(row["tree_size"])) or cp.root != backup_db.bytea(row["root_hash"]):
            report.problems.append(f"[checkpoint] {subject}: the row does not match its note")
        if roots.get(cp.size) != cp.root:
            report.problems.append(
                f"[checkpoint] {subject}: the signed root is not the root of the dump's entries"
            )
    evidence = sorted(
        (str(r["sha256"]), int(str(r["size"])))
        for r in backup_db.dumped_rows(dump, schema, "evidence_items")
    )
    latest = str(checkpoints[-1]["note"]) if checkpoints else None
    _compare(report, opened.manifest, size, latest, evidence, opened.blobs)
    report.notes.append(
        "tree nodes are not checked in a PostgreSQL dump; `testigo verify` checks them "
        "after a restore"
    )
    if check_blobs:
        _hash_blobs(store, evidence, report, progress)


def _hash_blobs(
    store: BlobStore,
    blobs: list[tuple[str, int]],
    report: CheckReport,
    progress: Progress | None,
) -> None:
    def one(item: tuple[str, int]) -> tuple[str, int, str | None, int]:
        digest, size = item
        try:
            handle = store.open(digest)
        except KeyError:
            return digest, size, None, 0
        with handle:
            found, found_size = hash_stream(handle.read, progress)
        return digest, size, found, found_size

    with ThreadPoolExecutor(max_workers=2) as pool:
        for digest, size, found, found_size in pool.map(one, blobs):
            report.blobs_checked += 1
            report.bytes_hashed += found_size
            if found is None:
                report.problems.append(f"[blob] {digest}: missing from the backup")
            elif found != digest or found_size != size:
                report.problems.append(f"[blob] {digest}: the backup's copy was altered")


# -- restoring -------------------------------------------------------------------------------


def _refuse_existing_vault(settings: Settings) -> None:
    keys = settings.key_dir
    if keys.is_dir() and any(keys.iterdir()):
        raise UsageError(
            f"{settings.home} already has a vault (its keys are in {keys}): restore only into "
            "an empty home (set TESTIGO_HOME to a new folder)"
        )
    if settings.is_sqlite:
        path = backup_db.sqlite_path(settings.database_url)
        for candidate in (path, Path(f"{path}-wal")):
            # Not a live database: no vault keys are there, so nothing serves this home.
            if os.path.lexists(candidate):
                raise UsageError(
                    f"{candidate} already exists: restore only into an empty home "
                    "(or set TESTIGO_DATABASE_URL to a new database)"
                )
    else:
        schema, objects = backup_db.postgres_schema_state(settings.database_url)
        if schema is None:
            raise UsageError(
                "the database URL's search_path names no existing schema: create it (empty) first"
            )
        if objects:
            raise UsageError(
                f"the PostgreSQL schema {schema!r} already holds {objects} object(s): restore "
                "only into an empty database or schema"
            )


def _install_keys(source: Path, settings: Settings) -> None:
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = settings.home / f".restore-keys-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)  # modes kept: 0700 folders, 0600 files
    if settings.key_dir.is_dir():
        settings.key_dir.rmdir()  # empty (checked): made by a `testigo init` that went no further
    os.rename(staging, settings.key_dir)


def restore_backup(
    settings: Settings,
    src_url: str,
    *,
    stamp: str | None = None,
    progress: Progress | None = None,
) -> RestoreReport:
    """Restore the newest complete backup (or the copy ``stamp``) into an empty home."""
    _refuse_existing_vault(settings)
    target = open_target(src_url)
    manifest = load_manifest(target, stamp)
    kind = manifest["database"]["kind"]
    if (kind == "sqlite") != settings.is_sqlite:
        wanted = "a SQLite file" if kind == "sqlite" else "an empty PostgreSQL database"
        raise UsageError(
            f"this is a backup of a {kind} vault: set TESTIGO_DATABASE_URL to {wanted}"
        )
    with tempfile.TemporaryDirectory(prefix="testigo-restore-") as tmp:
        work = Path(tmp)
        opened = _open_checked(target, manifest, work)
        check = _check_opened(target, opened, check_blobs=False, pin=None, progress=None)
        if not check.ok:
            raise IntegrityError(
                "the backup does not verify, nothing was restored: " + "; ".join(check.problems[:5])
            )
        copied, copied_bytes = copy_blobs(
            open_blob_store(target.blobs_url),
            open_blob_store(settings.blobs_url),
            opened.blobs,
            progress,
        )
        _install_keys(opened.home / "keys", settings)
        try:
            if kind == "sqlite":
                backup_db.restore_sqlite(opened.database, settings.database_url)
            else:
                backup_db.restore_postgres(
                    opened.database, settings.database_url, manifest["database"]["schema"], work
                )
        except BaseException:
            shutil.rmtree(settings.key_dir, ignore_errors=True)
            raise
    from testigo.vault.service import _safe_url

    return RestoreReport(
        source=target.url,
        stamp=manifest["stamp"],
        home=str(settings.home),
        database=_safe_url(settings.database_url),
        tree_size=manifest["ledger"]["tree_size"],
        blobs=len(opened.blobs),
        blobs_copied=copied,
        bytes_copied=copied_bytes,
        needs_upgrade=set(manifest["database"]["revisions"]) != set(head_revisions()),
    )


def copies(src_url: str) -> list[dict[str, Any]]:
    """The complete copies a backup holds, oldest first, with what each recorded."""
    from testigo.vault.backup import list_copies

    target = open_target(src_url)
    found = []
    for stamp in list_copies(target):
        manifest = load_manifest(target, stamp)
        found.append(
            {
                "stamp": stamp,
                "created": manifest["created"],
                "tree_size": manifest["ledger"]["tree_size"],
                "blobs": manifest["blobs"]["count"],
                "database": manifest["database"]["file"],
            }
        )
    return found
