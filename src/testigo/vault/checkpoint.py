"""Ledger checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes.

A checkpoint commits to the ledger's Merkle tree at one size::

    <origin>
    <tree size, decimal>
    <base64 root hash>
    [extension lines]

    — <key name> <base64(4-byte key ID || Ed25519 signature)>

The signature covers the body including its final newline, not the blank line after it. Parsing
is strict: anything that is not exactly a well-formed checkpoint note is rejected with a
:class:`CheckpointError` saying what is wrong, never another exception.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass

from testigo.errors import IntegrityError
from testigo.vault.keys import InvalidKeyNameError, SigningKey, Verifier, validate_key_name

__all__ = [
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "Checkpoint",
    "CheckpointError",
    "Signature",
    "parse_signed_note",
    "sign_checkpoint",
    "verify_checkpoint",
]

MAX_NOTE_SIZE = 1 << 20
"""Largest signed note accepted, in UTF-8 bytes."""

MAX_SIGNATURES = 100
"""Most signature lines accepted in one note (the signed-note spec requires at least 16)."""

_MAX_TREE_SIZE = (1 << 64) - 1
_ROOT_SIZE = 32
_SIG_PREFIX = "\u2014 "  # em dash, space
_SIZE_RE = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f]")


class CheckpointError(IntegrityError, ValueError):
    """A checkpoint note is malformed, not signed by a trusted key, or carries a bad signature."""


def _show(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _check_line(text: str, what: str) -> None:
    """A line of a checkpoint body: non-empty, well-formed, no newline or control character."""
    if not isinstance(text, str):
        raise CheckpointError(f"checkpoint {what} must be text")
    if not text:
        raise CheckpointError(f"checkpoint {what} is empty")
    if "\n" in text:
        raise CheckpointError(f"checkpoint {what} {_show(text)} contains a newline")
    match = _CONTROL_RE.search(text)
    if match:
        raise CheckpointError(
            f"checkpoint {what} {_show(text)} contains the control character "
            f"U+{ord(match.group()):04X}"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CheckpointError(
            f"checkpoint {what} {_show(text)} is not well-formed Unicode"
        ) from None


def _b64decode_strict(text: str) -> bytes:
    """Standard base64 with padding, in its one canonical spelling; ``ValueError`` otherwise."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("not valid base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("not canonical base64")
    return raw


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed tree head: the log's ``origin``, its ``size`` in leaves and the Merkle ``root``."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin")
        if not isinstance(self.size, int) or isinstance(self.size, bool):
            raise CheckpointError("checkpoint tree size must be an integer")
        if not 0 <= self.size <= _MAX_TREE_SIZE:
            raise CheckpointError(f"checkpoint tree size {self.size} is out of range")
        if not isinstance(self.root, bytes) or len(self.root) != _ROOT_SIZE:
            raise CheckpointError(f"checkpoint root hash must be {_ROOT_SIZE} bytes")
        if not isinstance(self.extensions, tuple):
            raise CheckpointError("checkpoint extension lines must be a tuple of strings")
        for line in self.extensions:
            _check_line(line, "extension line")
        if len(self.body().encode("utf-8")) > MAX_NOTE_SIZE:
            raise CheckpointError(f"checkpoint body is larger than {MAX_NOTE_SIZE} bytes")

    def body(self) -> str:
        """The note text: origin, size, base64 root and extension lines, each ending in newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii")]
        lines.extend(self.extensions)
        return "".join(line + "\n" for line in lines)

    @classmethod
    def from_body(cls, body: str) -> Checkpoint:
        """Parse a checkpoint body (the note text, ending in newline)."""
        if not isinstance(body, str) or not body.endswith("\n"):
            raise CheckpointError("checkpoint body must end with a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError(
                f"checkpoint body has {len(lines)} line(s); it needs an origin, a tree size "
                "and a root hash"
            )
        origin, size_text, root_text, *extensions = lines
        for number, line in enumerate(lines, start=1):
            if not line:
                raise CheckpointError(f"checkpoint body line {number} is empty")
        _check_line(origin, "origin")
        if not _SIZE_RE.fullmatch(size_text):
            raise CheckpointError(
                f"checkpoint tree size {_show(size_text)} is not a decimal number without "
                "leading zeros"
            )
        if len(size_text) > 20 or int(size_text) > _MAX_TREE_SIZE:
            raise CheckpointError(f"checkpoint tree size {_show(size_text)} is out of range")
        try:
            root = _b64decode_strict(root_text)
        except ValueError as exc:
            raise CheckpointError(f"checkpoint root hash {_show(root_text)} is {exc}") from None
        if len(root) != _ROOT_SIZE:
            raise CheckpointError(
                f"checkpoint root hash is {len(root)} bytes; a SHA-256 hash is {_ROOT_SIZE}"
            )
        return cls(origin=origin, size=int(size_text), root=root, extensions=tuple(extensions))


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature line of a note: the key's name and ID and the raw signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The signature line, with its final newline."""
        blob = base64.b64encode(self.key_id + self.signature).decode("ascii")
        return f"{_SIG_PREFIX}{self.name} {blob}\n"


def _sign_line(body: str, key: SigningKey) -> str:
    sig = Signature(key.name, key.key_id, key.sign(body.encode("utf-8")))
    return sig.line()


def sign_checkpoint(cp: Checkpoint, key: SigningKey, *more_keys: SigningKey) -> str:
    """The signed note of ``cp``: its body, a blank line and one signature line per key."""
    body = cp.body()
    lines = [_sign_line(body, k) for k in (key, *more_keys)]
    return body + "\n" + "".join(lines)


def _parse_signature_line(line: str, number: int) -> Signature:
    if not line.startswith(_SIG_PREFIX):
        raise CheckpointError(
            f"signature line {number} {_show(line)} does not start with an em dash and a space"
        )
    name, sep, blob = line[len(_SIG_PREFIX) :].partition(" ")
    if not sep:
        raise CheckpointError(f"signature line {number} has no signature after the key name")
    try:
        validate_key_name(name)
    except InvalidKeyNameError as exc:
        raise CheckpointError(f"signature line {number}: {exc}") from None
    try:
        raw = _b64decode_strict(blob)
    except ValueError as exc:
        raise CheckpointError(f"signature line {number}: the signature is {exc}") from None
    if len(raw) < 5:
        raise CheckpointError(f"signature line {number}: the signature is too short")
    return Signature(name=name, key_id=raw[:4], signature=raw[4:])


def _split_note(text: str | bytes) -> tuple[str, list[Signature]]:
    if isinstance(text, (bytes, bytearray, memoryview)):
        data = bytes(text)
        if len(data) > MAX_NOTE_SIZE:
            raise CheckpointError(f"signed note is larger than {MAX_NOTE_SIZE} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError("signed note is not valid UTF-8") from None
    if not isinstance(text, str):
        raise CheckpointError("a signed note must be text")
    if len(text) > MAX_NOTE_SIZE:
        raise CheckpointError(f"signed note is larger than {MAX_NOTE_SIZE} bytes")
    try:
        encoded_size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise CheckpointError("signed note is not well-formed Unicode") from None
    if encoded_size > MAX_NOTE_SIZE:
        raise CheckpointError(f"signed note is larger than {MAX_NOTE_SIZE} bytes")
    match = _CONTROL_RE.search(text)
    if match:
        raise CheckpointError(
            f"signed note contains the control character U+{ord(match.group()):04X}"
        )
    if not text.endswith("\n"):
        raise CheckpointError("signed note does not end with a newline")
    split = text.rfind("\n\n")
    if split < 0:
        raise CheckpointError("signed note has no blank line before its signatures")
    body = text[: split + 1]
    sig_lines = text[split + 2 : -1].split("\n")
    if sig_lines == [""]:
        raise CheckpointError("signed note has no signature lines")
    if len(sig_lines) > MAX_SIGNATURES:
        raise CheckpointError(f"signed note has more than {MAX_SIGNATURES} signatures")
    sigs = [_parse_signature_line(line, n) for n, line in enumerate(sig_lines, start=1)]
    return body, sigs


def parse_signed_note(text: str | bytes) -> tuple[Checkpoint, list[Signature]]:
    """Parse a checkpoint note without checking any signature.

    The result must not be trusted until :func:`verify_checkpoint` accepts the note.
    """
    body, sigs = _split_note(text)
    return Checkpoint.from_body(body), sigs


def verify_checkpoint(
    text: str | bytes, verifiers: Iterable[Verifier], *, origin: str | None = None
) -> Checkpoint:
    """Return the checkpoint of a note signed by at least one of ``verifiers``.

    Signatures by keys not among ``verifiers`` are ignored (a key is known only if both its name
    and its key ID match). Every signature by a known key must verify. If ``origin`` is given,
    the checkpoint must name that log. Raises :class:`CheckpointError` otherwise.
    """
    body, sigs = _split_note(text)
    checkpoint = Checkpoint.from_body(body)
    known = {(v.name, v.key_id): v for v in verifiers}
    message = body.encode("utf-8")
    verified = 0
    for sig in sigs:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verify(message, sig.signature):
            raise CheckpointError(
                f"the signature by key {sig.name} ({sig.key_id.hex()}) does not match the "
                "checkpoint: it was altered or forged"
            )
        verified += 1
    if not verified:
        seen = ", ".join(f"{s.name} ({s.key_id.hex()})" for s in sigs[:5])
        expected = ", ".join(f"{n} ({k.hex()})" for n, k in list(known)[:5]) or "none"
        raise CheckpointError(
            f"the checkpoint is not signed by a trusted key: signed by {seen}; "
            f"trusted keys: {expected}"
        )
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(
            f"the checkpoint is for log {_show(checkpoint.origin)}, not {_show(origin)}"
        )
    return checkpoint
