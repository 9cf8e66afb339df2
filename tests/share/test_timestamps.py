"""RFC 3161 timestamps: requesting from a real TSA over HTTP, and verifying offline."""

from __future__ import annotations

import datetime
import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import tsp  # type: ignore[import-untyped]

from testigo.errors import IntegrityError, StorageError, UsageError
from testigo.share.timestamps import (
    MAX_RESPONSE_SIZE,
    TimestampAuthorityError,
    TimestampError,
    TimestampToken,
    configured_tsa,
    load_tsa_roots,
    request_timestamp,
    verify_timestamp,
)

from .tsa_server import TEST_POLICY_OID, TestAuthority, TestTSAServer, rejection_response

CHECKPOINT = (
    b"testigo.local/ledger\n"
    b"42\n"
    b"qMZ3cB2L0pjLJH3rCNdz3Y0F1T9CkJ0ZsYb0xm2r8xE=\n"
    b"\n"
    b"\xe2\x80\x94 testigo.local/vault AAAAAPLACEHOLDERSIGNATURE\n"
)


@pytest.fixture(scope="module")
def token(tsa: TestTSAServer) -> TimestampToken:
    return request_timestamp(CHECKPOINT, tsa.url)


def _flipped(der: bytes, index: int) -> bytes:
    altered = bytearray(der)
    altered[index] ^= 0x01
    return bytes(altered)


# --- round trip ----------------------------------------------------------------------------------


def test_round_trip(tsa: TestTSAServer, token: TimestampToken) -> None:
    now = datetime.datetime.now(datetime.UTC)
    assert token.message_hash == hashlib.sha256(CHECKPOINT).digest()
    assert token.hash_algorithm == "sha256"
    assert token.policy == TEST_POLICY_OID
    assert token.serial_number > 0
    assert token.tsa_name is not None and "CN=Testigo Test TSA" in token.tsa_name
    assert abs(now - token.gen_time) < datetime.timedelta(minutes=5)
    assert "application/timestamp-query" in tsa.request_content_types

    result = verify_timestamp(token.response_der, CHECKPOINT, roots=[tsa.root_cert])
    assert result.gen_time == token.gen_time
    assert result.serial_number == token.serial_number
    assert result.policy == TEST_POLICY_OID
    assert result.message_hash == token.message_hash
    assert "CN=Testigo Test TSA" in result.tsa_subject


def test_each_request_gets_its_own_serial_and_nonce(tsa: TestTSAServer) -> None:
    first = request_timestamp(CHECKPOINT, tsa.url)
    second = request_timestamp(CHECKPOINT, tsa.url)
    assert first.serial_number != second.serial_number
    assert first.nonce != second.nonce


def test_request_with_ca_file_verifies_before_returning(tsa: TestTSAServer, tmp_path: Path) -> None:
    roots = tmp_path / "tsa-roots.pem"
    roots.write_bytes(tsa.root_pem)
    fresh = request_timestamp(b"another checkpoint", tsa.url, ca_file=roots)
    verify_timestamp(fresh.response_der, b"another checkpoint", roots=load_tsa_roots(roots))


def test_request_with_other_roots_refuses_the_token(tsa: TestTSAServer, tmp_path: Path) -> None:
    roots = tmp_path / "other-roots.pem"
    roots.write_bytes(TestAuthority.create("Someone Else's Root").root_pem)
    with pytest.raises(TimestampError, match="trusted root"):
        request_timestamp(CHECKPOINT, tsa.url, ca_file=roots)


@pytest.fixture(scope="module")
def chained_tsa() -> Iterator[TestTSAServer]:
    """A TSA whose certificate is issued by an intermediate CA the token does not carry."""
    with TestTSAServer(TestAuthority.create("Chain Root", with_intermediate=True)) as server:
        yield server


def test_intermediates_complete_the_chain(chained_tsa: TestTSAServer) -> None:
    intermediate = chained_tsa.authority.intermediate_cert
    assert intermediate is not None
    got = request_timestamp(CHECKPOINT, chained_tsa.url)
    result = verify_timestamp(
        got.response_der, CHECKPOINT, roots=[chained_tsa.root_cert], intermediates=[intermediate]
    )
    assert result.gen_time == got.gen_time
    with pytest.raises(TimestampError, match="intermediate certificate is missing"):
        verify_timestamp(got.response_der, CHECKPOINT, roots=[chained_tsa.root_cert])


def test_an_intermediate_is_not_a_trust_anchor(chained_tsa: TestTSAServer) -> None:
    intermediate = chained_tsa.authority.intermediate_cert
    assert intermediate is not None
    got = request_timestamp(CHECKPOINT, chained_tsa.url)
    stranger = TestAuthority.create("Unrelated Root")
    with pytest.raises(TimestampError, match="does not chain to a trusted root"):
        verify_timestamp(
            got.response_der, CHECKPOINT, roots=[stranger.root_cert], intermediates=[intermediate]
        )


# --- verification failures -----------------------------------------------------------------------


def test_other_data_fails(tsa: TestTSAServer, token: TimestampToken) -> None:
    with pytest.raises(TimestampError, match="different data") as caught:
        verify_timestamp(token.response_der, CHECKPOINT + b" ", roots=[tsa.root_cert])
    assert isinstance(caught.value, IntegrityError)


def test_untrusted_root_fails(token: TimestampToken) -> None:
    stranger = TestAuthority.create("Untrusted Root")
    with pytest.raises(TimestampError, match="does not chain to a trusted root"):
        verify_timestamp(token.response_der, CHECKPOINT, roots=[stranger.root_cert])


def test_a_certificate_not_made_for_timestamping_fails() -> None:
    authority = TestAuthority.create("No EKU Root", timestamping=False)
    with TestTSAServer(authority) as server:
        got = request_timestamp(CHECKPOINT, server.url)
    with pytest.raises(TimestampError, match="timestamping"):
        verify_timestamp(got.response_der, CHECKPOINT, roots=[authority.root_cert])


def _signed_regions(der: bytes) -> dict[str, tuple[int, int]]:
    """Where the TSTInfo, the signed attributes and the signature value sit in the response."""
    response = tsp.TimeStampResp.load(der)
    signed_data = response["time_stamp_token"]["content"]
    signer = signed_data["signer_infos"][0]
    parts = {
        "tst_info": signed_data["encap_content_info"]["content"].contents,
        "signed_attrs": signer["signed_attrs"].contents,
        "signature": signer["signature"].contents,
        "certificate": signed_data["certificates"][0].chosen.contents,
    }
    regions = {}
    for name, blob in parts.items():
        start = der.index(blob)
        regions[name] = (start, start + len(blob))
    return regions


def test_any_flipped_byte_in_signed_content_fails(
    tsa: TestTSAServer, token: TimestampToken
) -> None:
    der = token.response_der
    accepted: list[tuple[str, int]] = []
    for name, (start, end) in _signed_regions(der).items():
        for index in range(start, end):
            try:
                verify_timestamp(_flipped(der, index), CHECKPOINT, roots=[tsa.root_cert])
            except TimestampError:
                continue
            accepted.append((name, index))
    assert accepted == []


def test_a_flipped_byte_anywhere_never_changes_what_is_proved(
    tsa: TestTSAServer, token: TimestampToken
) -> None:
    """CMS leaves a few envelope fields unsigned (versions, the signature algorithm name);
    altering them may still verify, but never to a different time, serial, TSA or hash."""
    der = token.response_der
    genuine = verify_timestamp(der, CHECKPOINT, roots=[tsa.root_cert])
    failures = 0
    for index in range(len(der)):
        try:
            result = verify_timestamp(_flipped(der, index), CHECKPOINT, roots=[tsa.root_cert])
        except TimestampError:
            failures += 1
            continue
        assert result == genuine, f"byte {index} changed the verified result"
    assert failures > len(der) * 0.95


def test_garbage_token_fails(tsa: TestTSAServer) -> None:
    with pytest.raises(TimestampError, match="not a readable RFC 3161 response"):
        verify_timestamp(b"\x30\x03garbage", CHECKPOINT, roots=[tsa.root_cert])


def test_rejection_is_not_a_timestamp(tsa: TestTSAServer) -> None:
    with pytest.raises(TimestampError):
        verify_timestamp(rejection_response(), CHECKPOINT, roots=[tsa.root_cert])


def test_verification_needs_roots(token: TimestampToken) -> None:
    with pytest.raises(UsageError, match="no trusted TSA root"):
        verify_timestamp(token.response_der, CHECKPOINT, roots=[])


# --- transport failures --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_server_down_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{_free_port()}/"
    with pytest.raises(TimestampAuthorityError, match="cannot reach the TSA") as caught:
        request_timestamp(CHECKPOINT, url, timeout=2)
    assert isinstance(caught.value, StorageError)
    assert url in str(caught.value)


def test_credentials_in_the_url_stay_out_of_messages() -> None:
    url = f"http://alice:s3cret@127.0.0.1:{_free_port()}/tsr"
    with pytest.raises(TimestampAuthorityError) as caught:
        request_timestamp(CHECKPOINT, url, timeout=2)
    assert "s3cret" not in str(caught.value)
    assert "***@127.0.0.1" in str(caught.value)


def test_stopped_server_is_a_clear_error() -> None:
    server = TestTSAServer()
    url = server.url
    request_timestamp(CHECKPOINT, url)
    server.close()
    with pytest.raises(TimestampAuthorityError, match="cannot reach the TSA"):
        request_timestamp(CHECKPOINT, url, timeout=2)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"


def test_silent_server_times_out(silent_server: str) -> None:
    with pytest.raises(TimestampAuthorityError, match=r"did not answer within 0\.3 seconds"):
        request_timestamp(CHECKPOINT, silent_server, timeout=0.3)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("garbage", "is not an RFC 3161 timestamp response"),
        ("reject", r"did not grant a timestamp: rejection \(malformed request; request refused"),
        ("http-error", "answered HTTP 500"),
        ("huge", f"more than {MAX_RESPONSE_SIZE} bytes"),
        ("wrong-nonce", "does not echo the request's nonce"),
        ("wrong-imprint", "timestamps a different hash"),
    ],
)
def test_bad_answers_are_clear_errors(tsa: TestTSAServer, path: str, message: str) -> None:
    with pytest.raises(TimestampAuthorityError, match=message):
        request_timestamp(CHECKPOINT, tsa.url_for(path))


def test_a_damaged_answer_is_never_kept_unverified(tsa: TestTSAServer, tmp_path: Path) -> None:
    """Whatever byte the TSA's answer loses, the caller gets a clear error or a token that
    verifies; never a traceback, never a bad token from a call that was told the roots."""
    roots = tmp_path / "roots.pem"
    roots.write_bytes(tsa.root_pem)
    size = len(request_timestamp(CHECKPOINT, tsa.url).response_der)
    step = 9
    kept = 0
    for index in range(0, size, step):
        try:
            got = request_timestamp(CHECKPOINT, tsa.url_for(f"flip/{index}"), ca_file=roots)
        except (TimestampAuthorityError, TimestampError):
            continue
        kept += 1
        verify_timestamp(got.response_der, CHECKPOINT, roots=[tsa.root_cert])
    assert kept < size // step // 20


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirects_are_followed_with_the_same_query(tsa: TestTSAServer, code: int) -> None:
    got = request_timestamp(CHECKPOINT, tsa.url_for(f"redirect/{code}/"))
    verify_timestamp(got.response_der, CHECKPOINT, roots=[tsa.root_cert])


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/tsr"])
def test_redirect_to_another_scheme_is_refused(tsa: TestTSAServer, target: str) -> None:
    with pytest.raises(TimestampAuthorityError, match="redirect that cannot be followed"):
        request_timestamp(CHECKPOINT, tsa.url_for(f"redirect/302/{target}"))


def test_redirect_loops_end(tsa: TestTSAServer) -> None:
    loop = "redirect/307/redirect/307/" * 6
    with pytest.raises(TimestampAuthorityError):
        request_timestamp(CHECKPOINT, tsa.url_for("redirect/307/" + loop))


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://tsa.example/tsr",
        "tsa.example/tsr",
        "http://",
        "javascript:alert(1)",
        "http://[::1",
        "http://tsa.example:port/",
        "",
    ],
)
def test_non_http_urls_are_refused(url: str) -> None:
    with pytest.raises(UsageError, match="not an http:// or https:// URL"):
        request_timestamp(CHECKPOINT, url)


def test_empty_data_is_refused(tsa: TestTSAServer) -> None:
    with pytest.raises(UsageError, match="nothing to timestamp"):
        request_timestamp(b"", tsa.url)


# --- configuration -------------------------------------------------------------------------------


def test_no_tsa_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TESTIGO_TSA_URL", raising=False)
    monkeypatch.delenv("TESTIGO_TSA_CA_FILE", raising=False)
    assert configured_tsa() is None
    monkeypatch.setenv("TESTIGO_TSA_URL", "  ")
    assert configured_tsa() is None


def test_configured_tsa(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TESTIGO_TSA_URL", "https://tsa.example/tsr")
    monkeypatch.delenv("TESTIGO_TSA_CA_FILE", raising=False)
    assert configured_tsa() == ("https://tsa.example/tsr", None)

    roots = tmp_path / "roots.pem"
    roots.write_bytes(b"")
    monkeypatch.setenv("TESTIGO_TSA_CA_FILE", str(roots))
    assert configured_tsa() == ("https://tsa.example/tsr", roots)


def test_configured_tsa_refuses_bad_values(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TESTIGO_TSA_URL", "file:///tmp/tsr")
    with pytest.raises(UsageError, match="not an http"):
        configured_tsa()
    monkeypatch.setenv("TESTIGO_TSA_URL", "https://tsa.example/tsr")
    monkeypatch.setenv("TESTIGO_TSA_CA_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(UsageError, match="TESTIGO_TSA_CA_FILE"):
        configured_tsa()


def test_configured_tsa_end_to_end(
    tsa: TestTSAServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    roots = tmp_path / "roots.pem"
    roots.write_bytes(tsa.root_pem)
    monkeypatch.setenv("TESTIGO_TSA_URL", tsa.url)
    monkeypatch.setenv("TESTIGO_TSA_CA_FILE", str(roots))
    configured = configured_tsa()
    assert configured is not None
    url, ca_file = configured
    fresh = request_timestamp(CHECKPOINT, url, ca_file=ca_file)
    assert fresh.message_hash == hashlib.sha256(CHECKPOINT).digest()


def test_unreadable_roots_are_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        load_tsa_roots(tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(UsageError, match="no readable PEM certificates"):
        load_tsa_roots(junk)
