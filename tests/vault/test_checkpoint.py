"""C2SP tlog-checkpoint notes: signing, strict parsing, verification."""

from __future__ import annotations

import base64
import contextlib
import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testigo.errors import IntegrityError
from testigo.vault.checkpoint import (
    MAX_NOTE_SIZE,
    MAX_SIGNATURES,
    Checkpoint,
    CheckpointError,
    Signature,
    parse_signed_note,
    sign_checkpoint,
    verify_checkpoint,
)
from testigo.vault.keys import SigningKey

ORIGIN = "testigo.example/vault"
ROOT = hashlib.sha256(b"root").digest()
KEY = SigningKey.generate(ORIGIN)
WITNESS = SigningKey.generate("witness.example/w1")
STRANGER = SigningKey.generate("stranger.example/s")
CP = Checkpoint(ORIGIN, 1234, ROOT)
NOTE = sign_checkpoint(CP, KEY)


def test_note_layout() -> None:
    body = f"{ORIGIN}\n1234\n{base64.b64encode(ROOT).decode()}\n"
    assert CP.body() == body
    assert NOTE.startswith(body + "\n\u2014 " + ORIGIN + " ")
    assert NOTE.endswith("\n")
    blob = base64.b64decode(NOTE.rstrip("\n").rsplit(" ", 1)[1])
    assert blob[:4] == KEY.key_id
    assert KEY.verifier().verify(body.encode(), blob[4:])


def test_round_trip() -> None:
    assert verify_checkpoint(NOTE, [KEY.verifier()]) == CP
    assert verify_checkpoint(NOTE.encode(), [KEY.verifier()]) == CP
    assert verify_checkpoint(NOTE, [KEY.verifier()], origin=ORIGIN) == CP
    cp, sigs = parse_signed_note(NOTE)
    assert cp == CP
    assert [(s.name, s.key_id) for s in sigs] == [(ORIGIN, KEY.key_id)]


def test_extensions_and_empty_tree() -> None:
    cp = Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest(), ("ext one", "ext \u00e9"))
    note = sign_checkpoint(cp, KEY)
    assert note.split("\n")[3:5] == ["ext one", "ext \u00e9"]
    assert verify_checkpoint(note, [KEY.verifier()]) == cp


def test_multiple_signatures() -> None:
    note = sign_checkpoint(CP, KEY, WITNESS)
    assert verify_checkpoint(note, [KEY.verifier()]) == CP
    assert verify_checkpoint(note, [WITNESS.verifier()]) == CP
    assert verify_checkpoint(note, [KEY.verifier(), WITNESS.verifier()]) == CP
    assert len(parse_signed_note(note)[1]) == 2
    # Unknown signatures are ignored, wherever they are.
    note = sign_checkpoint(CP, STRANGER, KEY)
    assert verify_checkpoint(note, [KEY.verifier()]) == CP


def test_unknown_key_is_rejected() -> None:
    with pytest.raises(CheckpointError, match="not signed by a trusted key"):
        verify_checkpoint(NOTE, [STRANGER.verifier()])
    with pytest.raises(CheckpointError, match="not signed by a trusted key"):
        verify_checkpoint(NOTE, [])


def test_same_name_other_key_is_ignored() -> None:
    impostor = SigningKey.generate(ORIGIN)  # same name, different key ID
    note = sign_checkpoint(CP, impostor)
    with pytest.raises(CheckpointError, match="not signed by a trusted key"):
        verify_checkpoint(note, [KEY.verifier()])


def test_bad_signature_by_known_key_rejects_the_note() -> None:
    body = CP.body()
    forged = Signature(ORIGIN, KEY.key_id, bytes(64)).line()
    note = body + "\n" + forged + sign_checkpoint(CP, WITNESS)[len(body) + 1 :]
    with pytest.raises(CheckpointError, match="altered or forged"):
        verify_checkpoint(note, [KEY.verifier(), WITNESS.verifier()])


def test_wrong_origin() -> None:
    with pytest.raises(CheckpointError, match=r"not 'other\.example/log'"):
        verify_checkpoint(NOTE, [KEY.verifier()], origin="other.example/log")


def test_errors_are_integrity_errors() -> None:
    assert issubclass(CheckpointError, IntegrityError)
    assert issubclass(CheckpointError, ValueError)


@pytest.mark.parametrize(
    "replacement",
    [
        lambda b: b.replace(ORIGIN, "testigo.example/vaulu", 1),
        lambda b: b.replace("\n1234\n", "\n1235\n", 1),
        lambda b: b.replace("\n1234\n", "\n01234\n", 1),
        lambda b: b.replace(
            base64.b64encode(ROOT).decode(),
            base64.b64encode(hashlib.sha256(b"other").digest()).decode(),
        ),
        lambda b: b + "extension\n",
        lambda b: b[:-1] + " \n",
    ],
)
def test_tampering_is_caught(replacement: object) -> None:
    body = CP.body()
    sigs = NOTE[len(body) :]
    tampered = replacement(body) + sigs  # type: ignore[operator]
    assert tampered != NOTE
    with pytest.raises(CheckpointError):
        verify_checkpoint(tampered, [KEY.verifier()])


def test_flipping_any_signature_bit_is_caught() -> None:
    body = CP.body()
    raw = base64.b64decode(NOTE[len(body) + 1 :].rstrip("\n").rsplit(" ", 1)[1])
    for i in range(4, len(raw)):
        bad = bytearray(raw)
        bad[i] ^= 0x40
        note = body + "\n" + Signature(ORIGIN, bytes(bad[:4]), bytes(bad[4:])).line()
        with pytest.raises(CheckpointError):
            verify_checkpoint(note, [KEY.verifier()])


ROOT_B64 = base64.b64encode(ROOT).decode()
SIG_LINE = NOTE[len(CP.body()) + 1 :]
URLSAFE_ROOT = base64.urlsafe_b64encode(b"\xff" * 32).decode()


@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("", "end with a newline"),
        (NOTE[:-1], "end with a newline"),
        (CP.body(), "no blank line"),
        (CP.body() + "\n", "no signature lines"),
        (CP.body() + "\n" + SIG_LINE + "\n", "no signature lines"),
        (CP.body() + "\n" + SIG_LINE.replace("\u2014", "-"), "em dash"),
        (CP.body() + "\n" + SIG_LINE.replace("\u2014 ", "\u2014"), "em dash"),
        (CP.body() + "\n" + SIG_LINE.replace(" ", "  ", 2), "signature"),
        (CP.body() + "\n\u2014 " + ORIGIN + "\n", "no signature after the key name"),
        (CP.body() + "\n\u2014 " + ORIGIN + " AAAA\n", "too short"),
        (CP.body() + "\n\u2014 " + ORIGIN + " AAAAAAB=\n", "base64"),
        (CP.body() + "\n\u2014 " + ORIGIN + " !!!!\n", "base64"),
        (CP.body() + "\n\u2014 a+b " + "A" * 96 + "\n", "space or a '\\+'"),
        (f"{ORIGIN}\n1234\n\n{SIG_LINE}", "line"),
        (f"\n1234\n{ROOT_B64}\n\n{SIG_LINE}", "line 1 is empty"),
        (f"{ORIGIN}\n1234\n{ROOT_B64}\n\n\n{SIG_LINE}", "line 4 is empty"),
        (f"{ORIGIN}\n\n1234\n{ROOT_B64}\n\n{SIG_LINE}", "line 2 is empty"),
        (f"{ORIGIN}\n0x10\n{ROOT_B64}\n\n{SIG_LINE}", "decimal"),
        (f"{ORIGIN}\n-1\n{ROOT_B64}\n\n{SIG_LINE}", "decimal"),
        (f"{ORIGIN}\n00\n{ROOT_B64}\n\n{SIG_LINE}", "leading zeros"),
        (f"{ORIGIN}\n\u0661\n{ROOT_B64}\n\n{SIG_LINE}", "decimal"),
        (f"{ORIGIN}\n{2**64}\n{ROOT_B64}\n\n{SIG_LINE}", "out of range"),
        (f"{ORIGIN}\n1234\n{ROOT_B64[:-1]}\n\n{SIG_LINE}", "base64"),
        (f"{ORIGIN}\n1234\n{base64.b64encode(ROOT[:31]).decode()}\n\n{SIG_LINE}", "31 bytes"),
        (f"{ORIGIN}\n1234\n{URLSAFE_ROOT}\n\n{SIG_LINE}", "base64"),
        (f"{ORIGIN}\n1234\n{ROOT_B64[:-2]}B=\n\n{SIG_LINE}", "base64"),
        (NOTE.replace("\n", "\r\n"), "control character"),
        (NOTE.replace("1234", "12\t34"), "control character"),
        (NOTE.replace(ORIGIN, ORIGIN + "\x00", 1), "control character"),
        (CP.body() + "\n" + SIG_LINE * (MAX_SIGNATURES + 1), "more than"),
        ("x" * (MAX_NOTE_SIZE + 1), "larger than"),
        (NOTE.replace(ORIGIN, "\ud800", 1), "Unicode"),
    ],
)
def test_malformed_notes(note: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        verify_checkpoint(note, [KEY.verifier()])
    with pytest.raises(CheckpointError):
        parse_signed_note(note)


def test_invalid_utf8_bytes() -> None:
    with pytest.raises(CheckpointError, match="UTF-8"):
        parse_signed_note(NOTE.encode() + b"\xff")
    with pytest.raises(CheckpointError, match="text"):
        parse_signed_note(None)  # type: ignore[arg-type]


def test_sixteen_signatures_are_accepted() -> None:
    keys = [SigningKey.generate(f"witness.example/{i}") for i in range(15)]
    note = sign_checkpoint(CP, KEY, *keys)
    assert len(parse_signed_note(note)[1]) == 16
    assert verify_checkpoint(note, [keys[-1].verifier()]) == CP


def test_body_may_contain_blank_line_only_before_signatures() -> None:
    # The last blank line separates the text from the signatures: an empty line inside the body
    # makes it an invalid checkpoint, not a different split.
    body = CP.body()
    note = body + "\n" + SIG_LINE + "\n" + SIG_LINE
    with pytest.raises(CheckpointError):
        verify_checkpoint(note, [KEY.verifier()])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": ""},
        {"origin": "a\nb"},
        {"origin": "a\x01"},
        {"size": -1},
        {"size": 2**64},
        {"size": True},
        {"root": b"short"},
        {"root": "0" * 32},
        {"extensions": ("",)},
        {"extensions": ("a\nb",)},
        {"extensions": ["list"]},
    ],
)
def test_checkpoint_constructor_validates(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"origin": ORIGIN, "size": 1, "root": ROOT, **kwargs}
    with pytest.raises(CheckpointError):
        Checkpoint(**fields)  # type: ignore[arg-type]


# --- Fuzzing: parsing and verifying raise nothing but CheckpointError ---------------------------


def _check_only_checkpoint_errors(note: str | bytes) -> None:
    with contextlib.suppress(CheckpointError):
        verify_checkpoint(note, [KEY.verifier()])
    with contextlib.suppress(CheckpointError):
        parse_signed_note(note)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=400))
def test_fuzz_text(note: str) -> None:
    _check_only_checkpoint_errors(note)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_bytes(note: bytes) -> None:
    _check_only_checkpoint_errors(note)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(min_value=0, max_value=len(NOTE)),
    st.integers(min_value=0, max_value=8),
    st.text(alphabet=st.sampled_from("\n \u2014+=/Aa0-\x00\u00e9"), max_size=6),
)
def test_fuzz_mutations(pos: int, cut: int, insert: str) -> None:
    mutated = NOTE[:pos] + insert + NOTE[pos + cut :]
    try:
        cp = verify_checkpoint(mutated, [KEY.verifier()])
    except CheckpointError:
        return
    # Anything accepted must be the signed checkpoint itself.
    assert cp == CP


@settings(max_examples=100, deadline=None)
@given(
    st.text(min_size=1, max_size=40).filter(
        lambda s: "\n" not in s and not any(ord(c) < 0x20 for c in s)
    ),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.binary(min_size=32, max_size=32),
    st.lists(
        st.text(min_size=1, max_size=20).filter(
            lambda s: "\n" not in s and not any(ord(c) < 0x20 for c in s)
        ),
        max_size=3,
    ),
)
def test_round_trip_property(origin: str, size: int, root: bytes, ext: list[str]) -> None:
    try:
        origin.encode("utf-8")
        for line in ext:
            line.encode("utf-8")
    except UnicodeEncodeError:
        return
    cp = Checkpoint(origin, size, root, tuple(ext))
    assert verify_checkpoint(sign_checkpoint(cp, KEY), [KEY.verifier()]) == cp
