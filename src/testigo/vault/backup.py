"""Online backups of a whole vault, their check, and restoring one into an empty home.

A backup destination (a folder or ``s3://bucket/prefix``) holds::

    manifest.json             the newest complete backup (a copy of its db/<stamp>.json)
    db/<stamp>.sqlite3        dated database copies (.pgdump for PostgreSQL), the newest --keep
    db/<stamp>.blobs          the blobs that copy refers to, "<sha256> <size>" per line
    db/<stamp>.json           the manifest of that copy
    blobs/sha256/aa/bb/...    every blob, content-addressed (an ordinary blob store)
    keys/...                  the vault's keys: ledger signing key, log name, C2PA signer

The database is copied first and the blobs it names after it: blobs are immutable and written
before the records naming them, so every blob the copy refers to exists by then. A manifest is
written last, atomically; a copy without one is incomplete and is never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from testigo import __version__
from testigo.config import Settings
from testigo.errors import IntegrityError, NotInitializedError, UsageError
from testigo.vault import backup_db
from testigo.vault.backup_store import BackupTarget, open_target
from testigo.vault.blobs import BlobStore, open_blob_store
from testigo.vault.service import ORIGIN_FILE, Vault, _safe_url, open_vault

MANIFEST = "manifest.json"
STAMP_RE = re.compile(r"^(\d{8}T\d{6}\.\d{6}Z)\.")
FORMAT = "testigo-backup/1"
DEFAULT_KEEP = 7
HASH_BUFFER = 4 * 1024 * 1024
COPY_WORKERS = 4

Progress = Callable[[int], None]


@dataclass
class BackupReport:
    dest: str
    stamp: str
    database_kind: str
    database_file: str
    database_sha256: str
    database_size: int
    tree_size: int
    checkpoint_size: int | None
    blobs: int
    blob_bytes: int
    blobs_copied: int
    bytes_copied: int
    removed_copies: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CheckReport:
    source: str
    stamp: str
    database_kind: str
    tree_size: int
    checkpoint_size: int | None
    blobs_checked: int = 0
    bytes_hashed: int = 0
    checkpoints_checked: int = 0
    key_fingerprint: str | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}


@dataclass
class RestoreReport:
    source: str
    stamp: str
    home: str
    database: str
    tree_size: int
    blobs: int
    blobs_copied: int
    bytes_copied: int
    needs_upgrade: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _now_stamp() -> tuple[str, str]:
    now = datetime.now(UTC)
    return now.isoformat(timespec="microseconds").replace("+00:00", "Z"), now.strftime(
        "%Y%m%dT%H%M%S.%fZ"
    )


def hash_file(path: Path) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_BUFFER):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- backing up -------------------------------------------------------------------------------


def refuse_destination_in_vault(settings: Settings, dest_url: str) -> None:
    """A backup on the vault's own disk, inside its folders, protects nothing and may clash."""
    if dest_url.startswith("s3://"):
        if settings.blobs_url.startswith("s3://"):
            from testigo.vault.s3store import parse_s3_url

            bucket, prefix = parse_s3_url(dest_url)
            vault_bucket, vault_prefix = parse_s3_url(settings.blobs_url)
            if bucket == vault_bucket and (
                prefix.startswith(vault_prefix) or vault_prefix.startswith(prefix)
            ):
                raise UsageError(
                    f"the backup destination {dest_url} overlaps the vault's blob store "
                    f"{settings.blobs_url}: use another bucket or prefix"
                )
        return
    dest = Path(dest_url.removeprefix("file://")).expanduser().resolve()
    places = [settings.home.resolve()]
    if not settings.blobs_url.startswith("s3://"):
        places.append(Path(settings.blobs_url.removeprefix("file://")).expanduser().resolve())
    for place in places:
        if dest == place or place in dest.parents or dest in place.parents:
            raise UsageError(
                f"the backup destination {dest} is inside the vault ({place}) or contains it: "
                "back up to another disk, machine or bucket"
            )


@contextmanager
def _scratch(target: BackupTarget) -> Iterator[Path]:
    """Where the database copy is built: on the destination's disk when it is a folder."""
    base = target.scratch_dir()
    path = Path(tempfile.mkdtemp(prefix=".partial-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def copy_blobs(
    source: BlobStore,
    dest: BlobStore,
    blobs: list[tuple[str, int]],
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Copy the blobs ``dest`` lacks, each re-hashed on the way; return (count, bytes) copied.

    Content addressing makes presence (with the right size) proof enough that a blob is there
    already; what is copied is hashed while written and compared with its address.
    """

    def one(item: tuple[str, int]) -> tuple[int, int]:
        digest, size = item
        if dest.exists(digest):
            have = dest.size(digest)
            if have != size:
                raise IntegrityError(
                    f"the copy of blob {digest} in {dest.url} has {have:,} bytes, not {size:,}: "
                    "it is damaged; remove it and run again"
                )
            return 0, 0
        try:
            handle = source.open(digest)
        except KeyError:
            raise IntegrityError(
                f"blob {digest} is named by the database but missing from {source.url}: "
                "run `testigo verify` on it"
            ) from None
        with handle:
            stored = dest.put_stream(handle, expected_size=size, progress=progress)
        if stored.sha256 != digest:
            raise IntegrityError(
                f"blob {digest} in {source.url} hashes as {stored.sha256}: it was altered; "
                "run `testigo verify` on it"
            )
        return 1, size

    count = total = 0
    with ThreadPoolExecutor(max_workers=COPY_WORKERS) as pool:
        for copied, size in pool.map(one, blobs):
            count += copied
            total += size
    return count, total


def _key_files(settings: Settings) -> dict[str, bytes]:
    if not settings.key_dir.is_dir():
        raise NotInitializedError(f"{settings.key_dir} is missing: run `testigo init`")
    return {
        f"keys/{path.relative_to(settings.key_dir).as_posix()}": path.read_bytes()
        for path in sorted(settings.key_dir.rglob("*"))
        if path.is_file()
    }


def backup_vault(
    settings: Settings,
    dest_url: str,
    *,
    keep: int = DEFAULT_KEEP,
    progress: Progress | None = None,
) -> BackupReport:
    """Back up the vault while it is in use; ``keep`` dated database copies are kept."""
    if keep < 1:
        raise UsageError("--keep must be at least 1")
    refuse_destination_in_vault(settings, dest_url)
    vault = open_vault(settings)
    try:
        keys = _key_files(settings)
        target = open_target(dest_url, create=True)
        with target.exclusive():
            return _backup(vault, target, keys, keep, progress)
    finally:
        vault.dispose()


def _backup(
    vault: Vault,
    target: BackupTarget,
    keys: dict[str, bytes],
    keep: int,
    progress: Progress | None,
) -> BackupReport:
    settings = vault.settings
    origin = vault.origin
    # Sign what is there now, so the newest checkpoint in the copy covers (nearly) all of it.
    vault.checkpoint()
    created, stamp = _now_stamp()
    sqlite = vault.engine.dialect.name == "sqlite"
    kind = "sqlite" if sqlite else "postgresql"
    db_name = f"db/{stamp}.{'sqlite3' if sqlite else 'pgdump'}"
    with _scratch(target) as work:
        copy = work / Path(db_name).name
        if sqlite:
            backup_db.copy_sqlite(vault.engine, copy)
            engine = backup_db.readonly_sqlite_engine(copy)
            try:
                with engine.connect() as conn:
                    from sqlalchemy.orm import Session

                    with Session(bind=conn) as session:
                        figures = backup_db.read_figures(session)
            finally:
                engine.dispose()
        else:
            figures = backup_db.dump_postgres(vault.engine, settings.database_url, copy)
        digest, size = hash_file(copy)
        copied, copied_bytes = copy_blobs(
            vault.blobs, open_blob_store(target.blobs_url), figures.blobs, progress
        )
        target.upload(db_name, copy)
    listing = "".join(f"{d} {s}\n" for d, s in figures.blobs).encode("ascii")
    target.write_bytes(f"db/{stamp}.blobs", listing)
    for name, data in keys.items():
        target.write_bytes(name, data, private=True)
    checkpoint = None
    if figures.checkpoint_size is not None:
        checkpoint = {
            "tree_size": figures.checkpoint_size,
            "root": figures.checkpoint_root,
            "note": figures.checkpoint_note,
        }
    manifest = {
        "format": FORMAT,
        "created": created,
        "stamp": stamp,
        "testigo_version": __version__,
        "origin": origin,
        "source": {
            "home": str(settings.home),
            "database": _safe_url(settings.database_url),
            "blobs": settings.blobs_url,
        },
        "database": {
            "kind": kind,
            "file": db_name,
            "sha256": digest,
            "size": size,
            "schema": figures.schema,
            "revisions": figures.revisions,
        },
        "ledger": {"tree_size": figures.tree_size, "checkpoint": checkpoint},
        "blobs": {
            "store": "blobs",
            "list": f"db/{stamp}.blobs",
            "list_sha256": _sha256(listing),
            "count": len(figures.blobs),
            "bytes": sum(s for _, s in figures.blobs),
            "copied": copied,
            "bytes_copied": copied_bytes,
        },
        "keys": {name: _sha256(data) for name, data in keys.items()},
    }
    data = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    target.write_bytes(f"db/{stamp}.json", data)
    target.write_bytes(MANIFEST, data)
    removed = _prune(target, keep)
    return BackupReport(
        dest=target.url,
        stamp=stamp,
        database_kind=kind,
        database_file=db_name,
        database_sha256=digest,
        database_size=size,
        tree_size=figures.tree_size,
        checkpoint_size=figures.checkpoint_size,
        blobs=len(figures.blobs),
        blob_bytes=manifest["blobs"]["bytes"],  # type: ignore[index]
        blobs_copied=copied,
        bytes_copied=copied_bytes,
        removed_copies=removed,
    )


def _prune(target: BackupTarget, keep: int) -> list[str]:
    """Keep the newest ``keep`` complete copies; drop older ones and leftovers of failed runs.

    Blobs are never pruned: evidence is never deleted from a vault, so every older copy's
    blobs are also the newest copy's.
    """
    names = target.list_files("db")
    complete = sorted(n[len("db/") : -len(".json")] for n in names if n.endswith(".json"))
    keep_stamps = set(complete[-keep:])
    newest = complete[-1] if complete else ""
    removed: list[str] = []
    for stamp in complete:
        if stamp not in keep_stamps:
            target.delete(f"db/{stamp}.json")  # first: the copy stops being complete
            removed.append(stamp)
    for name in names:
        base = name[len("db/") :]
        match = STAMP_RE.match(base)
        if base.startswith(".partial-") or (
            match and match.group(1) not in keep_stamps and match.group(1) < newest
        ):
            target.delete(name)
    return removed


# -- reading a backup --------------------------------------------------------------------------


def load_manifest(target: BackupTarget, stamp: str | None = None) -> dict[str, Any]:
    name = MANIFEST if stamp is None else f"db/{stamp}.json"
    raw = target.read_bytes(name)
    if raw is None:
        if stamp is not None:
            raise IntegrityError(f"{target.url} has no complete backup named {stamp}")
        raise IntegrityError(
            f"{target.url} has no {MANIFEST}: it is not a backup, or the backup never finished "
            "(an interrupted `testigo backup`); run the backup again"
        )
    try:
        manifest = json.loads(raw)
        if manifest.get("format") != FORMAT:
            raise ValueError(f"unknown format {manifest.get('format')!r}")
        for section, key in (
            ("database", "file"),
            ("database", "sha256"),
            ("blobs", "list"),
            ("ledger", "tree_size"),
            ("keys", None),
        ):
            if section not in manifest or (key is not None and key not in manifest[section]):
                raise KeyError(f"{section}.{key}" if key else section)
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"the manifest {name} in {target.url} is not valid: {exc}") from None
    return manifest  # type: ignore[no-any-return]


def list_copies(target: BackupTarget) -> list[str]:
    return sorted(
        n[len("db/") : -len(".json")] for n in target.list_files("db") if n.endswith(".json")
    )


@dataclass
class _Opened:
    """A backup's pieces, each checked against its manifest, materialised in a work folder."""

    manifest: dict[str, Any]
    database: Path
    blobs: list[tuple[str, int]]
    home: Path


def _open_checked(target: BackupTarget, manifest: dict[str, Any], work: Path) -> _Opened:
    db = manifest["database"]
    local = target.local_path(db["file"])
    if local is None:
        local = work / Path(db["file"]).name
        target.download(db["file"], local)
    elif not local.is_file():
        raise IntegrityError(f"the database copy {db['file']} named by the manifest is missing")
    digest, size = hash_file(local)
    if digest != db["sha256"] or size != db["size"]:
        raise IntegrityError(
            f"the database copy {db['file']} does not match its manifest (sha256 {digest}, "
            f"expected {db['sha256']}): it was damaged or altered; restore an older copy "
            "(--copy, see `testigo verify-backup --list`)"
        )
    listing = target.read_bytes(manifest["blobs"]["list"])
    if listing is None or _sha256(listing) != manifest["blobs"]["list_sha256"]:
        raise IntegrityError(
            f"the blob list {manifest['blobs']['list']} is missing or does not match the manifest"
        )
    blobs = []
    for line in listing.decode("ascii").splitlines():
        sha, _, size_text = line.partition(" ")
        blobs.append((sha, int(size_text)))
    home = work / "home"
    keys = home / "keys"
    keys.mkdir(parents=True, mode=0o700)
    for name, expected in manifest["keys"].items():
        data = target.read_bytes(name)
        if data is None or _sha256(data) != expected:
            raise IntegrityError(f"the key file {name} is missing or does not match the manifest")
        path = home / name
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    if not (keys / ORIGIN_FILE).exists():
        (keys / ORIGIN_FILE).write_text(manifest["origin"] + "\n", encoding="utf-8")
    return _Opened(manifest=manifest, database=local, blobs=blobs, home=home)
