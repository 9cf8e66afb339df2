"""Ed25519 signing keys for checkpoints, named and identified as C2SP signed notes require.

A key has a *name* (a schema-less URL such as ``testigo.example/vault`` is recommended) and a
4-byte *key ID*::

    key ID = SHA-256(name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4]

Verifiers are distributed as a *verifier key* string, ``name+hex(key ID)+base64(0x01 || public
key)``, and can be pinned by :meth:`SigningKey.public_key_fingerprint`, the hex SHA-256 of the raw
public key.

Private keys live in PKCS #8 PEM files created with mode 0600 in a directory of mode 0700. A key
file that other users can read is refused. Private material never appears in a repr, a log line
or an error message.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from testigo.errors import NotFoundError, UsageError

__all__ = [
    "ED25519_SIGNATURE_TYPE",
    "InvalidKeyNameError",
    "InvalidVerifierKeyError",
    "SigningKey",
    "Verifier",
    "generate_signing_key",
    "key_id",
    "load_signing_key",
    "validate_key_name",
]

ED25519_SIGNATURE_TYPE = 0x01
"""The signed-note signature type byte of Ed25519."""

_PUBLIC_KEY_SIZE = 32
_SIGNATURE_SIZE = 64
_MAX_KEY_FILE_SIZE = 64 * 1024
# Any Unicode white space (``\s`` on str patterns) or a plus sign.
_FORBIDDEN_NAME_CHARS = re.compile(r"[\s+]")


class InvalidKeyNameError(UsageError, ValueError):
    """A key name that signed notes do not allow."""


class InvalidVerifierKeyError(UsageError, ValueError):
    """A verifier key string that is not ``name+hex(key ID)+base64(0x01 || public key)``."""


def validate_key_name(name: str) -> str:
    """Return ``name`` if it is a valid signed-note key name, else raise
    :class:`InvalidKeyNameError`: non-empty, well-formed UTF-8, no Unicode space, no ``+``, and
    (since it appears on a line of text) no control character."""
    if not isinstance(name, str) or not name:
        raise InvalidKeyNameError("a key name must be a non-empty string")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidKeyNameError(f"key name {name!r} is not well-formed Unicode") from None
    if _FORBIDDEN_NAME_CHARS.search(name):
        raise InvalidKeyNameError(
            f"key name {name!r} contains a space or a '+'; use a schema-less URL such as "
            "'example.org/testigo'"
        )
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise InvalidKeyNameError(f"key name {name!r} contains a control character")
    return name


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte signed-note key ID of an Ed25519 public key under ``name``."""
    payload = name.encode("utf-8") + b"\n" + bytes([ED25519_SIGNATURE_TYPE]) + public_key
    return hashlib.sha256(payload).digest()[:4]


def _encode_vkey(name: str, kid: bytes, public_key: bytes) -> str:
    blob = base64.b64encode(bytes([ED25519_SIGNATURE_TYPE]) + public_key).decode("ascii")
    return f"{name}+{kid.hex()}+{blob}"


class Verifier:
    """An Ed25519 public key with its signed-note name and key ID."""

    __slots__ = ("_key", "_key_id", "_name", "_public_key")

    def __init__(self, name: str, public_key: bytes) -> None:
        validate_key_name(name)
        if not isinstance(public_key, bytes) or len(public_key) != _PUBLIC_KEY_SIZE:
            raise InvalidVerifierKeyError(f"an Ed25519 public key is {_PUBLIC_KEY_SIZE} bytes")
        self._name = name
        self._public_key = public_key
        self._key_id = key_id(name, public_key)
        try:
            self._key = Ed25519PublicKey.from_public_bytes(public_key)
        except ValueError:
            raise InvalidVerifierKeyError("not a valid Ed25519 public key") from None

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse a verifier key string ``name+hex(key ID)+base64(0x01 || public key)``.

        The key ID must be the one computed from the name and key, the type byte must be Ed25519.
        """
        if not isinstance(vkey, str):
            raise InvalidVerifierKeyError("a verifier key must be a string")
        shown = vkey if len(vkey) <= 200 else vkey[:200] + "…"
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise InvalidVerifierKeyError(
                f"verifier key {shown!r} is not of the form name+keyid+key"
            )
        name, kid_hex, blob = parts
        try:
            validate_key_name(name)
        except InvalidKeyNameError as exc:
            raise InvalidVerifierKeyError(f"verifier key {shown!r}: {exc}") from None
        if not re.fullmatch(r"[0-9a-f]{8}", kid_hex):
            raise InvalidVerifierKeyError(
                f"verifier key {shown!r}: the key ID must be 8 lowercase hex digits"
            )
        try:
            raw = base64.b64decode(blob.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise InvalidVerifierKeyError(
                f"verifier key {shown!r}: the key is not valid base64"
            ) from None
        if len(raw) != 1 + _PUBLIC_KEY_SIZE:
            raise InvalidVerifierKeyError(
                f"verifier key {shown!r}: expected a type byte and a "
                f"{_PUBLIC_KEY_SIZE}-byte key, got {len(raw)} bytes"
            )
        if raw[0] != ED25519_SIGNATURE_TYPE:
            raise InvalidVerifierKeyError(
                f"verifier key {shown!r}: signature type 0x{raw[0]:02x} is not supported "
                "(only Ed25519, 0x01)"
            )
        verifier = cls(name, raw[1:])
        if verifier.key_id.hex() != kid_hex:
            raise InvalidVerifierKeyError(
                f"verifier key {shown!r}: the key ID does not match the name and public key"
            )
        return verifier

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> bytes:
        """The 4-byte signed-note key ID."""
        return self._key_id

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self._public_key

    @property
    def vkey(self) -> str:
        """The verifier key string to publish."""
        return _encode_vkey(self._name, self._key_id, self._public_key)

    @property
    def verifier_key(self) -> str:
        """Same as :attr:`vkey`."""
        return self.vkey

    def public_key_fingerprint(self) -> str:
        """Hex SHA-256 of the raw public key, for pinning."""
        return hashlib.sha256(self._public_key).hexdigest()

    @property
    def fingerprint(self) -> str:
        """Same as :meth:`public_key_fingerprint`."""
        return self.public_key_fingerprint()

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``message``. Never raises."""
        if not isinstance(signature, bytes) or len(signature) != _SIGNATURE_SIZE:
            return False
        try:
            self._key.verify(signature, bytes(message))
        except (InvalidSignature, TypeError, ValueError):
            return False
        return True

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Verifier):
            return NotImplemented
        return self._name == other._name and self._public_key == other._public_key

    def __hash__(self) -> int:
        return hash((self._name, self._public_key))

    def __repr__(self) -> str:
        return f"Verifier({self.vkey!r})"


class SigningKey:
    """An Ed25519 private key with its signed-note name. Its repr shows only public data."""

    __slots__ = ("_private", "_verifier")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise TypeError("a signing key must be an Ed25519 private key")
        public = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self._verifier = Verifier(name, public)
        self._private = private_key

    @classmethod
    def generate(cls, name: str) -> SigningKey:
        """A new random key, held in memory only."""
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def name(self) -> str:
        return self._verifier.name

    @property
    def key_id(self) -> bytes:
        """The 4-byte signed-note key ID."""
        return self._verifier.key_id

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self._verifier.public_key

    @property
    def vkey(self) -> str:
        """The verifier key string to publish: ``name+hex(key ID)+base64(0x01 || key)``."""
        return self._verifier.vkey

    def verifier(self) -> Verifier:
        """The public half, for verification."""
        return self._verifier

    @property
    def verifier_key(self) -> str:
        """Same as :attr:`vkey`."""
        return self._verifier.vkey

    def public_key_fingerprint(self) -> str:
        """Hex SHA-256 of the raw public key, for pinning."""
        return self._verifier.public_key_fingerprint()

    @property
    def fingerprint(self) -> str:
        """Same as :meth:`public_key_fingerprint`."""
        return self._verifier.public_key_fingerprint()

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._private.sign(bytes(message))

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS #8 PEM. Handle with care: never log it."""
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def __repr__(self) -> str:
        return f"SigningKey(name={self.name!r}, key_id={self.key_id.hex()!r})"


def _make_private_dir(directory: Path) -> None:
    """Create ``directory`` and any missing parents with mode 0700."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(path, 0o700)
    if not directory.is_dir():
        raise UsageError(f"cannot store a key in {directory}: it is not a directory")


def _fsync_dir(directory: Path) -> None:
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_new_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file at ``path`` with mode 0600, never replacing a file.

    The file is written and synced under a temporary name (created 0600 with O_EXCL) and then
    hard-linked into place, which fails if ``path`` exists; so ``path`` never holds a partial
    key and is never readable by others. Filesystems without hard links fall back to creating
    ``path`` itself with O_EXCL.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")

    def write(target: Path) -> None:
        fd = os.open(target, flags, 0o600)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)  # independent of the umask
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)

    if path.exists() or path.is_symlink():
        raise UsageError(f"a key already exists at {path}; refusing to overwrite it")
    try:
        write(tmp)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise UsageError(f"a key already exists at {path}; refusing to overwrite it") from None
        except OSError:
            # No hard links here: create the final file directly, still exclusively.
            try:
                write(path)
            except FileExistsError:
                raise UsageError(
                    f"a key already exists at {path}; refusing to overwrite it"
                ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)


def generate_signing_key(path: Path, name: str) -> SigningKey:
    """Create a new Ed25519 key named ``name`` and save it as PKCS #8 PEM at ``path``.

    The file is created with mode 0600 and never overwrites an existing one; missing parent
    directories are created with mode 0700. Raises :class:`~testigo.errors.UsageError` if a key
    already exists there or the name is invalid.
    """
    path = Path(path)
    validate_key_name(name)
    key = SigningKey.generate(name)
    _make_private_dir(path.parent)
    try:
        _write_new_private_file(path, key.private_pem())
    except UsageError:
        raise
    except OSError as exc:
        raise UsageError(f"cannot write the key file {path}: {exc.strerror or exc}") from None
    return key


def load_signing_key(path: Path, name: str) -> SigningKey:
    """Load the Ed25519 key saved at ``path`` and give it the signed-note name ``name``.

    Raises :class:`~testigo.errors.NotFoundError` if the file does not exist and
    :class:`~testigo.errors.UsageError` if it cannot be read, other users may read it, or it is
    not an unencrypted PKCS #8 Ed25519 private key.
    """
    path = Path(path)
    validate_key_name(name)
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise NotFoundError(
            f"no signing key at {path}; create one with generate_signing_key"
        ) from None
    except PermissionError:
        raise UsageError(f"cannot read the signing key {path}: permission denied") from None
    except OSError as exc:
        raise UsageError(f"cannot read the signing key {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"the signing key {path} is not a regular file")
        if os.name != "nt" and info.st_mode & 0o077:
            raise UsageError(
                f"the signing key {path} is accessible to other users "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}` and retry"
            )
        if info.st_size > _MAX_KEY_FILE_SIZE:
            raise UsageError(f"{path} is too large to be a signing key")
        chunks: list[bytes] = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
            if sum(map(len, chunks)) > _MAX_KEY_FILE_SIZE:
                raise UsageError(f"{path} is too large to be a signing key")
    except OSError as exc:
        raise UsageError(f"cannot read the signing key {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise UsageError(
            f"the signing key {path} is encrypted; Testigo needs an unencrypted key file "
            "protected by its file mode"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise UsageError(f"{path} is not a PEM private key") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise UsageError(
            f"the key in {path} is not an Ed25519 key; generate one with generate_signing_key"
        )
    return SigningKey(name, private)
