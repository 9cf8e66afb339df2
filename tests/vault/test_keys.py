"""Ed25519 signing keys: files, names, key IDs and verifier keys."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from testigo.errors import NotFoundError, UsageError
from testigo.vault.keys import (
    InvalidKeyNameError,
    InvalidVerifierKeyError,
    SigningKey,
    Verifier,
    generate_signing_key,
    key_id,
    load_signing_key,
    validate_key_name,
)

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")

NAME = "testigo.example/vault"

# The example key of the signed-note reference implementation (golang.org/x/mod/sumdb/note).
GO_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
GO_SIG = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)


def test_reference_vector() -> None:
    key = SigningKey("PeterNeumann", Ed25519PrivateKey.from_private_bytes(GO_SEED))
    assert key.vkey == GO_VKEY
    assert key.key_id.hex() == "c74f20a3"
    raw = base64.b64decode(GO_SIG)
    assert raw[:4] == key.key_id
    assert key.sign(GO_TEXT) == raw[4:]  # Ed25519 is deterministic
    verifier = Verifier.from_vkey(GO_VKEY)
    assert verifier == key.verifier()
    assert verifier.verify(GO_TEXT, raw[4:])
    assert not verifier.verify(GO_TEXT + b"x", raw[4:])


def test_key_id_definition() -> None:
    key = SigningKey.generate(NAME)
    digest = hashlib.sha256(NAME.encode() + b"\n\x01" + key.public_key).digest()
    assert key.key_id == digest[:4] == key_id(NAME, key.public_key)
    assert key.vkey == (
        f"{NAME}+{digest[:4].hex()}+" + base64.b64encode(b"\x01" + key.public_key).decode()
    )
    assert key.verifier_key == key.vkey
    assert key.public_key_fingerprint() == hashlib.sha256(key.public_key).hexdigest()
    assert key.fingerprint == key.public_key_fingerprint()
    assert key.verifier().public_key_fingerprint() == key.public_key_fingerprint()


def test_repr_shows_no_private_material() -> None:
    key = SigningKey.generate(NAME)
    pem = key.private_pem().decode()
    seed = key._private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    for text in (repr(key), str(key), repr(key.verifier())):
        assert seed.hex() not in text
        assert base64.b64encode(seed).decode() not in text
        assert "PRIVATE" not in text
        assert pem.splitlines()[1] not in text
    assert NAME in repr(key)


@posix_only
def test_generate_and_load(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "ledger.pem"
    key = generate_signing_key(path, NAME)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert os.listdir(path.parent) == ["ledger.pem"]  # no temporary file left behind
    loaded = load_signing_key(path, NAME)
    assert loaded.vkey == key.vkey
    message = b"checkpoint body\n"
    assert key.verifier().verify(message, loaded.sign(message))


@posix_only
def test_generate_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "keys" / "k.pem"
        generate_signing_key(path, NAME)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    first = generate_signing_key(path, NAME)
    before = path.read_bytes()
    with pytest.raises(UsageError, match="refusing to overwrite"):
        generate_signing_key(path, NAME)
    assert path.read_bytes() == before
    assert load_signing_key(path, NAME).vkey == first.vkey


@posix_only
def test_generate_refuses_a_dangling_symlink(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    target = tmp_path / "elsewhere.pem"
    path.symlink_to(target)
    with pytest.raises(UsageError, match="refusing to overwrite"):
        generate_signing_key(path, NAME)
    assert not target.exists()


def test_generate_rejects_bad_names(tmp_path: Path) -> None:
    with pytest.raises(InvalidKeyNameError):
        generate_signing_key(tmp_path / "k.pem", "bad name")
    assert not (tmp_path / "k.pem").exists()


def test_load_missing(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no signing key"):
        load_signing_key(tmp_path / "absent.pem", NAME)


@posix_only
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o602])
def test_load_refuses_open_permissions(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "k.pem"
    generate_signing_key(path, NAME)
    path.chmod(mode)
    with pytest.raises(UsageError, match="chmod 600"):
        load_signing_key(path, NAME)


@posix_only
def test_load_unreadable(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can read any file")
    path = tmp_path / "k.pem"
    generate_signing_key(path, NAME)
    path.chmod(0o000)
    with pytest.raises(UsageError, match="permission denied"):
        load_signing_key(path, NAME)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def test_load_wrong_key_type(tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    ec = generate_private_key(SECP256R1())
    pem = ec.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(path, pem)
    with pytest.raises(UsageError, match="not an Ed25519 key"):
        load_signing_key(path, NAME)


def test_load_garbage_and_encrypted(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    _write_private(garbage, b"not a key\n")
    with pytest.raises(UsageError, match="not a PEM private key"):
        load_signing_key(garbage, NAME)
    encrypted = tmp_path / "enc.pem"
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    _write_private(encrypted, pem)
    with pytest.raises(UsageError, match="encrypted"):
        load_signing_key(encrypted, NAME)


def test_load_directory(tmp_path: Path) -> None:
    (tmp_path / "dir.pem").mkdir(mode=0o700)
    with pytest.raises(UsageError):
        load_signing_key(tmp_path / "dir.pem", NAME)


@pytest.mark.parametrize(
    "name",
    ["", "a b", "a+b", "tab\there", "nbsp\u00a0x", "ideographic\u3000x", "nl\n", "bell\x07"],
)
def test_invalid_key_names(name: str) -> None:
    with pytest.raises(InvalidKeyNameError):
        validate_key_name(name)
    with pytest.raises(InvalidKeyNameError):
        SigningKey.generate(name)


@pytest.mark.parametrize("name", ["a", "example.com/log42", "ledger-\u00e9t\u00e9/\u4e2d"])
def test_valid_key_names(name: str) -> None:
    assert validate_key_name(name) == name
    key = SigningKey.generate(name)
    assert Verifier.from_vkey(key.vkey) == key.verifier()


def test_verifier_round_trip_and_verify() -> None:
    key = SigningKey.generate(NAME)
    verifier = Verifier.from_vkey(key.vkey)
    assert verifier.vkey == key.vkey
    assert verifier.name == NAME
    assert verifier.key_id == key.key_id
    assert verifier.public_key == key.public_key
    assert hash(verifier) == hash(key.verifier())
    sig = key.sign(b"m")
    assert verifier.verify(b"m", sig)
    assert not verifier.verify(b"n", sig)
    assert not verifier.verify(b"m", sig[:-1])
    assert not verifier.verify(b"m", b"\x00" * 64)
    assert not verifier.verify(b"m", None)  # type: ignore[arg-type]
    other = SigningKey.generate(NAME)
    assert not verifier.verify(b"m", other.sign(b"m"))


def _vkey_with(name: str, kid: str, blob: bytes) -> str:
    return f"{name}+{kid}+{base64.b64encode(blob).decode()}"


def test_malformed_verifier_keys() -> None:
    key = SigningKey.generate(NAME)
    kid = key.key_id.hex()
    good_blob = b"\x01" + key.public_key
    cases = [
        "no-plus-signs",
        f"{NAME}+{kid}",
        _vkey_with("", kid, good_blob),
        _vkey_with("bad name", kid, good_blob),
        _vkey_with(NAME, kid.upper(), good_blob),
        _vkey_with(NAME, kid[:6], good_blob),
        _vkey_with(NAME, "00000000", good_blob),  # wrong key ID
        _vkey_with(NAME, kid, b"\x02" + key.public_key),  # unsupported type
        _vkey_with(NAME, kid, good_blob[:-1]),
        _vkey_with(NAME, kid, good_blob + b"\x00"),
        f"{NAME}+{kid}+not*base64",
        f"{NAME}+{kid}+",
    ]
    for vkey in cases:
        with pytest.raises(InvalidVerifierKeyError):
            Verifier.from_vkey(vkey)
    with pytest.raises(InvalidVerifierKeyError):
        Verifier.from_vkey(None)  # type: ignore[arg-type]
    # InvalidVerifierKeyError is both a user-facing error and a ValueError.
    with pytest.raises(ValueError):
        Verifier.from_vkey("x")
    with pytest.raises(UsageError):
        Verifier.from_vkey("x")
