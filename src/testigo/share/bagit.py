"""BagIt (RFC 8493, version 1.0): writing bags, and reading them defensively.

A bag may come from anyone, so reading never trusts it: paths are checked before they are
joined, sizes are bounded before anything is loaded, and every file is streamed through SHA-256.
Bags are read from a folder or straight from a ZIP archive, without extracting it.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol, cast

from testigo.errors import RefusedInputError

BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
MAX_TAG_FILE = 64 * 1024 * 1024
MAX_MEMBERS = 200_000
MAX_RATIO = 200  # a member that claims to expand more than this is refused as a bomb
HASH_CHUNK = 4 * 1024 * 1024


def encode_path(path: str) -> str:
    """RFC 8493 §2.1.3: percent-encode CR, LF and % in manifest paths."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def decode_path(path: str) -> str:
    return (
        path.replace("%0A", "\n")
        .replace("%0a", "\n")
        .replace("%0D", "\r")
        .replace("%0d", "\r")
        .replace("%25", "%")
    )


def safe_relative(path: str) -> str:
    """A bag-relative path that cannot escape the bag, or a refusal saying why."""
    if not path or "\x00" in path:
        raise RefusedInputError(f"the bag names an empty or invalid path: {path!r}")
    if "\\" in path:
        raise RefusedInputError(f"the bag uses a backslash in a path: {path!r}")
    pure = PurePosixPath(path)
    if pure.is_absolute() or (len(path) > 1 and path[1] == ":"):
        raise RefusedInputError(f"the bag names an absolute path: {path!r}")
    if any(part in ("..", "") for part in path.split("/")) or pure.parts[0] == ".":
        raise RefusedInputError(f"the bag names a path that leaves the bag: {path!r}")
    return str(pure)


def hash_stream(stream: BinaryIO, limit: int | None = None) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    while True:
        chunk = stream.read(HASH_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if limit is not None and size > limit:
            raise RefusedInputError("a file in the bag is larger than it claims to be")
        hasher.update(chunk)
    return hasher.hexdigest(), size


@dataclass(frozen=True)
class BagFile:
    path: str
    size: int


class BagReader(Protocol):
    """Read access to a bag, whatever holds it."""

    description: str

    def files(self) -> list[BagFile]: ...

    def open(self, path: str) -> BinaryIO: ...

    def read_small(self, path: str, limit: int | None = None) -> bytes: ...

    def close(self) -> None: ...


class FolderBag:
    """A bag in a folder; symbolic links and special files are refused."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = str(root)
        self._files: list[BagFile] | None = None

    def files(self) -> list[BagFile]:
        if self._files is None:
            found: list[BagFile] = []
            for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
                for name in dirnames + filenames:
                    full = Path(dirpath) / name
                    st = full.lstat()
                    rel = full.relative_to(self.root).as_posix()
                    if stat.S_ISLNK(st.st_mode):
                        raise RefusedInputError(f"the bag contains a symbolic link: {rel}")
                    if stat.S_ISREG(st.st_mode):
                        found.append(BagFile(rel, st.st_size))
                    elif not stat.S_ISDIR(st.st_mode):
                        raise RefusedInputError(f"the bag contains a special file: {rel}")
                    if len(found) > MAX_MEMBERS:
                        raise RefusedInputError(f"the bag holds more than {MAX_MEMBERS} files")
            self._files = found
        return self._files

    def _path(self, path: str) -> Path:
        full = self.root / safe_relative(path)
        st = full.lstat()
        if not stat.S_ISREG(st.st_mode):
            raise RefusedInputError(f"{path} in the bag is not a regular file")
        return full

    def open(self, path: str) -> BinaryIO:
        fd = os.open(self._path(path), os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
        return os.fdopen(fd, "rb")

    def read_small(self, path: str, limit: int | None = None) -> bytes:
        limit = MAX_TAG_FILE if limit is None else limit
        full = self._path(path)
        if full.stat().st_size > limit:
            raise RefusedInputError(
                f"{path} in the bag is too large ({full.stat().st_size:,} bytes)"
            )
        return full.read_bytes()

    def close(self) -> None:
        return None


class ZipBag:
    """A bag inside a ZIP archive (one top-level folder, or the bag at the root)."""

    def __init__(self, path: Path) -> None:
        self.description = str(path)
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise RefusedInputError(f"{path} is not a readable ZIP archive: {exc}") from exc
        infos = self._zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise RefusedInputError(f"the archive holds more than {MAX_MEMBERS} entries")
        self._members: dict[str, zipfile.ZipInfo] = {}
        prefix = self._common_prefix(infos)
        for info in infos:
            mode = info.external_attr >> 16
            name = info.filename
            if stat.S_ISLNK(mode):
                raise RefusedInputError(f"the archive contains a symbolic link: {name}")
            if info.is_dir():
                continue
            rel = safe_relative(name)
            if prefix:
                rel = rel[len(prefix) :]
            if rel in self._members:
                raise RefusedInputError(f"the archive names {rel} twice")
            if (
                info.compress_size
                and info.file_size / max(info.compress_size, 1) > MAX_RATIO
                and (info.file_size > 1024 * 1024)
            ):
                raise RefusedInputError(
                    f"{rel} would expand {info.file_size / info.compress_size:,.0f} times: "
                    "refused as a compression bomb"
                )
            self._members[rel] = info

    @staticmethod
    def _common_prefix(infos: list[zipfile.ZipInfo]) -> str:
        names = [i.filename for i in infos if not i.is_dir()]
        if any(n.startswith("bagit.txt") for n in names) or not names:
            return ""
        first = names[0].split("/", 1)[0] + "/"
        return first if all(n.startswith(first) for n in names) else ""

    def files(self) -> list[BagFile]:
        return [BagFile(name, info.file_size) for name, info in self._members.items()]

    def open(self, path: str) -> BinaryIO:
        info = self._members.get(path)
        if info is None:
            raise FileNotFoundError(path)
        return cast(BinaryIO, _BoundedReader(cast(BinaryIO, self._zip.open(info)), info.file_size))

    def read_small(self, path: str, limit: int | None = None) -> bytes:
        limit = MAX_TAG_FILE if limit is None else limit
        info = self._members.get(path)
        if info is None:
            raise FileNotFoundError(path)
        if info.file_size > limit:
            raise RefusedInputError(f"{path} in the bag is too large ({info.file_size:,} bytes)")
        with self.open(path) as stream:
            return stream.read(limit + 1)

    def close(self) -> None:
        self._zip.close()


class _BoundedReader:
    """Never yields more bytes than the archive declared for the member."""

    def __init__(self, raw: BinaryIO, declared: int) -> None:
        self._raw = raw
        self._left = declared

    def read(self, n: int = -1) -> bytes:
        want = self._left + 1 if n < 0 else min(n, self._left + 1)
        data = self._raw.read(want)
        self._left -= len(data)
        if self._left < 0:
            raise RefusedInputError("a member of the archive is larger than declared")
        return data

    def __enter__(self) -> _BoundedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._raw.close()

    def close(self) -> None:
        self._raw.close()


def open_bag(path: Path) -> BagReader:
    try:
        st = path.lstat()
    except FileNotFoundError as exc:
        raise RefusedInputError(f"{path} does not exist") from exc
    if stat.S_ISLNK(st.st_mode):
        raise RefusedInputError(f"{path} is a symbolic link: give the bundle itself")
    if stat.S_ISDIR(st.st_mode):
        return FolderBag(path)
    if stat.S_ISREG(st.st_mode):
        return ZipBag(path)
    raise RefusedInputError(f"{path} is neither a folder nor a ZIP archive")


def parse_manifest(data: bytes, name: str) -> dict[str, str]:
    """``checksum path`` lines; returns {path: checksum}. Strict, with bounded work."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RefusedInputError(f"{name} is not UTF-8") from exc
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if (
            len(parts) != 2
            or len(parts[0]) != 64
            or any(c not in "0123456789abcdef" for c in parts[0].lower())
        ):
            raise RefusedInputError(f"{name} line {number} is not 'sha256 path'")
        path = safe_relative(decode_path(parts[1].strip()))
        if path in entries:
            raise RefusedInputError(f"{name} lists {path} twice")
        entries[path] = parts[0].lower()
        if len(entries) > MAX_MEMBERS:
            raise RefusedInputError(f"{name} lists more than {MAX_MEMBERS} files")
    return entries


def parse_bag_info(data: bytes) -> dict[str, list[str]]:
    text = data.decode("utf-8", errors="strict")
    info: dict[str, list[str]] = {}
    last: str | None = None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and last is not None:
            info[last][-1] += " " + line.strip()
            continue
        if ":" not in line:
            continue
        key, value = line.split(":", 1)
        last = key.strip()
        info.setdefault(last, []).append(value.strip())
    return info


def write_manifest(path: Path, entries: dict[str, str]) -> None:
    lines = [f"{digest}  {encode_path(name)}\n" for name, digest in sorted(entries.items())]
    path.write_text("".join(lines), encoding="utf-8")


def iter_bag_files(root: Path) -> Iterator[Path]:
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in sorted(filenames):
            yield Path(dirpath) / name
