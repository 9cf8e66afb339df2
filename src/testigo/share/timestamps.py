"""RFC 3161 trusted timestamps: a timestamp authority (TSA) countersigns the hash of some bytes.

A ledger checkpoint signed by the vault proves what the ledger held; a TSA token over that
checkpoint proves it existed no later than the TSA's clock says, from a party other than the
vault's operator. Courts weigh that second signature.

Transport and verification are separate, as in sigstore-python: :func:`request_timestamp` talks
to a TSA and checks the answer matches the question (status, nonce, message imprint);
:func:`verify_timestamp` works offline from the stored DER response, the data and a set of
trusted TSA roots, so anyone holding a bundle can re-check it without our server.

Only SHA-256 imprints are requested. Nothing goes to the network unless a TSA URL is given, by
the caller or by ``TESTIGO_TSA_URL`` (see :func:`configured_tsa`).
"""

from __future__ import annotations

import datetime
import hashlib
import http.client
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import IO

import rfc3161_client
from cryptography import x509

from testigo.errors import IntegrityError, StorageError, UsageError

__all__ = [
    "MAX_RESPONSE_SIZE",
    "TimestampAuthorityError",
    "TimestampError",
    "TimestampToken",
    "TimestampVerification",
    "configured_tsa",
    "load_tsa_roots",
    "request_timestamp",
    "verify_timestamp",
]

MAX_RESPONSE_SIZE = 1 << 20
"""Largest TSA response read, in bytes; real responses are a few kilobytes."""

_REQUEST_CONTENT_TYPE = "application/timestamp-query"
_ALLOWED_SCHEMES = ("http", "https")
_SHA256_OID = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")

_STATUS_NAMES = {
    0: "granted",
    1: "granted with modifications",
    2: "rejection",
    3: "waiting",
    4: "revocation warning",
    5: "revocation notification",
}
_FAILURE_NAMES = {
    0: "unsupported hash algorithm",
    2: "malformed request",
    5: "data submitted has the wrong format",
    14: "TSA time source not available",
    15: "requested policy not supported",
    16: "requested extension not supported",
    17: "additional information not available",
    25: "TSA system failure",
}


class TimestampError(IntegrityError):
    """A timestamp token does not prove what it is said to prove: wrong data, altered, untrusted."""


class TimestampAuthorityError(StorageError):
    """The TSA could not be reached or did not give a usable timestamp; nothing was stored."""


@dataclass(frozen=True)
class TimestampToken:
    """A TSA's answer to one request, kept as the exact DER bytes it sent.

    ``response_der`` is the whole TimeStampResp; it is what :func:`verify_timestamp` checks and
    what a bundle should carry. The other fields are read from it for display and indexing.
    """

    response_der: bytes
    gen_time: datetime.datetime
    tsa_name: str | None
    serial_number: int
    hash_algorithm: str
    message_hash: bytes
    nonce: int
    policy: str


@dataclass(frozen=True)
class TimestampVerification:
    """What a valid token proves: these bytes existed at ``gen_time`` per ``tsa_subject``."""

    gen_time: datetime.datetime
    tsa_subject: str
    serial_number: int
    policy: str
    message_hash: bytes


# --- configuration -----------------------------------------------------------------------------


def _check_url(url: str) -> str:
    url = url.strip()
    try:
        parts = urllib.parse.urlsplit(url)
        valid = parts.scheme.lower() in _ALLOWED_SCHEMES and bool(parts.hostname)
        _ = parts.port  # a port that is not a number raises here, not later in the request
    except ValueError:
        valid = False
    if not valid:
        try:
            shown = f" {_shown_url(url)!r}"
        except ValueError:
            shown = ""
        raise UsageError(
            f"the TSA URL{shown} is not an http:// or https:// URL; "
            "give the timestamp authority's web address, e.g. https://tsa.example/tsr"
        )
    return url


def _shown_url(url: str) -> str:
    """The URL for messages and logs, without any user name or password in it."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"***@{host}"))


def configured_tsa() -> tuple[str, Path | None] | None:
    """The TSA set by ``TESTIGO_TSA_URL`` and its PEM roots ``TESTIGO_TSA_CA_FILE``, if any.

    ``None`` means no TSA is configured, so nothing may be sent to one.
    """
    url = os.environ.get("TESTIGO_TSA_URL", "").strip()
    if not url:
        return None
    url = _check_url(url)
    ca_value = os.environ.get("TESTIGO_TSA_CA_FILE", "").strip()
    if not ca_value:
        return url, None
    ca_file = Path(ca_value).expanduser()
    if not ca_file.is_file():
        raise UsageError(
            f"TESTIGO_TSA_CA_FILE points at {str(ca_file)!r}, which is not a file; "
            "give a PEM file with the timestamp authority's root certificates"
        )
    return url, ca_file


def load_tsa_roots(path: Path) -> list[x509.Certificate]:
    """The certificates in a PEM file, to be trusted as TSA roots."""
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read TSA root certificates from {str(path)!r}: {exc}") from exc
    try:
        roots = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise UsageError(
            f"{str(path)!r} holds no readable PEM certificates; "
            "give a file with '-----BEGIN CERTIFICATE-----' blocks"
        ) from exc
    return roots


# --- DER status reading --------------------------------------------------------------------------
#
# rfc3161_client refuses to decode a response that carries no token, which is exactly what a TSA
# sends when it says no. To report the TSA's reason, the PKIStatusInfo at the head of the
# response is read here first with a minimal DER reader.


def _der_item(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Tag, content start and content end of the DER item at ``pos``; ValueError if malformed."""
    if pos + 2 > end:
        raise ValueError("truncated")
    tag = buf[pos]
    first = buf[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > end:
            raise ValueError("bad length")
        length = int.from_bytes(buf[pos : pos + count], "big")
        pos += count
    if pos + length > end:
        raise ValueError("truncated")
    return tag, pos, pos + length


def _read_status(der: bytes) -> tuple[int, list[str], list[str]]:
    """Status, status strings and failure reasons of a DER TimeStampResp."""
    tag, start, end = _der_item(der, 0, len(der))
    if tag != 0x30 or end != len(der):
        raise ValueError("not a SEQUENCE")
    tag, info_start, info_end = _der_item(der, start, end)
    if tag != 0x30:
        raise ValueError("no PKIStatusInfo")
    tag, int_start, int_end = _der_item(der, info_start, info_end)
    if tag != 0x02 or not 0 < int_end - int_start <= 4:
        raise ValueError("no status")
    status = int.from_bytes(der[int_start:int_end], "big", signed=True)
    texts: list[str] = []
    failures: list[str] = []
    pos = int_end
    while pos < info_end:
        tag, item_start, item_end = _der_item(der, pos, info_end)
        if tag == 0x30:  # PKIFreeText: SEQUENCE OF UTF8String
            inner = item_start
            while inner < item_end:
                text_tag, text_start, text_end = _der_item(der, inner, item_end)
                if text_tag == 0x0C:
                    texts.append(der[text_start:text_end].decode("utf-8", errors="replace"))
                inner = text_end
        elif tag == 0x03 and item_end > item_start:  # PKIFailureInfo: BIT STRING
            bits = der[item_start + 1 : item_end]
            for bit, name in _FAILURE_NAMES.items():
                byte = bit // 8
                if byte < len(bits) and bits[byte] & (0x80 >> (bit % 8)):
                    failures.append(name)
        pos = item_end
    return status, texts, failures


# --- requesting ----------------------------------------------------------------------------------


class _RepostRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a TSA's redirect by posting the same request again, and only to http(s) URLs.

    urllib would turn a redirected POST into a GET or refuse it; a timestamp query is only
    meaningful as a POST. urllib still bounds the number of redirects and detects loops.
    """

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urllib.parse.urlsplit(newurl).scheme.lower() not in _ALLOWED_SCHEMES:
            raise TimestampAuthorityError(
                f"the TSA sent a redirect that cannot be followed: {newurl!r} is not an http(s) URL"
            )
        # Only the headers set here are carried over; Host and Content-Length are recomputed.
        return urllib.request.Request(newurl, data=req.data, headers=req.headers, method="POST")


def _post(url: str, body: bytes, timeout: float) -> bytes:
    shown = _shown_url(url)
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": _REQUEST_CONTENT_TYPE, "Accept": "application/timestamp-reply"},
    )
    # HTTPS certificates are checked by the standard library's default context, made per
    # connection, so plain-http calls do not pay for loading the system trust store.
    opener = urllib.request.build_opener(_RepostRedirects())
    try:
        with opener.open(request, timeout=timeout) as response:
            data: bytes = response.read(MAX_RESPONSE_SIZE + 1)
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            raise TimestampAuthorityError(
                f"the TSA at {shown} sent a redirect that cannot be followed: {exc.reason}"
            ) from exc
        raise TimestampAuthorityError(
            f"the TSA at {shown} answered HTTP {exc.code} {exc.reason}; "
            "check the URL and try again later"
        ) from exc
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise TimestampAuthorityError(
                f"the TSA at {shown} did not answer within {timeout:g} seconds"
            ) from exc
        raise TimestampAuthorityError(
            f"cannot reach the TSA at {shown}: {reason}; check the URL and the network connection"
        ) from exc
    except TimeoutError as exc:
        raise TimestampAuthorityError(
            f"the TSA at {shown} did not answer within {timeout:g} seconds"
        ) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise TimestampAuthorityError(
            f"the connection to the TSA at {shown} failed: {exc or type(exc).__name__}"
        ) from exc
    if len(data) > MAX_RESPONSE_SIZE:
        raise TimestampAuthorityError(
            f"the TSA at {shown} sent more than {MAX_RESPONSE_SIZE} bytes; "
            "that is not a timestamp response"
        )
    return data


def _decode_response(der: bytes, source: str) -> rfc3161_client.TimeStampResponse:
    """Decode a response the TSA granted; TimestampAuthorityError with its reason otherwise."""
    try:
        status, texts, failures = _read_status(der)
    except ValueError as exc:
        raise TimestampAuthorityError(
            f"{source} is not an RFC 3161 timestamp response (unreadable DER); "
            "check that the URL is a timestamp authority's endpoint"
        ) from exc
    if status != rfc3161_client.PKIStatus.GRANTED:
        name = _STATUS_NAMES.get(status, f"unknown status {status}")
        reasons = "; ".join([*failures, *texts])
        raise TimestampAuthorityError(
            f"{source} did not grant a timestamp: {name}" + (f" ({reasons})" if reasons else "")
        )
    try:
        return rfc3161_client.decode_timestamp_response(der)
    except ValueError as exc:
        raise TimestampAuthorityError(
            f"{source} is not a readable RFC 3161 timestamp response: {exc}"
        ) from exc


def _general_name_text(name: x509.GeneralName) -> str:
    if isinstance(name, x509.DirectoryName):
        return name.value.rfc4514_string()
    return str(name.value)


def _signer_certificate(response: rfc3161_client.TimeStampResponse) -> x509.Certificate | None:
    """The embedded certificate named by the token's single SignerInfo, if present."""
    signed_data = response.signed_data
    signers = list(signed_data.signer_infos)
    if len(signers) != 1:
        return None
    signer = signers[0]
    for der in signed_data.certificates:
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            continue
        if cert.issuer == signer.issuer and cert.serial_number == signer.serial_number:
            return cert
    return None


def _tsa_name(response: rfc3161_client.TimeStampResponse) -> str | None:
    try:
        return _general_name_text(response.tst_info.name)
    except (ValueError, KeyError, TypeError, AttributeError):
        pass  # the name is optional and only for display; fall back to the certificate
    cert = _signer_certificate(response)
    return cert.subject.rfc4514_string() if cert is not None else None


def request_timestamp(
    data: bytes,
    tsa_url: str,
    *,
    timeout: float = 10.0,
    ca_file: Path | None = None,
) -> TimestampToken:
    """Ask the TSA at ``tsa_url`` to timestamp the SHA-256 of ``data``.

    The answer is checked against the question: status granted, the nonce echoed, the imprint
    equal to the hash sent. With ``ca_file`` (PEM roots of the TSA) the token is also verified
    as :func:`verify_timestamp` would, so a token that would not verify later is never returned.
    HTTPS connections use the system's trust store (or ``SSL_CERT_FILE``).
    """
    url = _check_url(tsa_url)
    if not data:
        raise UsageError("there is nothing to timestamp: the data is empty")
    if timeout <= 0:
        raise UsageError("the TSA timeout must be a positive number of seconds")
    roots = load_tsa_roots(ca_file) if ca_file is not None else None

    digest = hashlib.sha256(data).digest()
    # The builder draws a random 64-bit nonce from the OS; it is read back to check the echo.
    request = rfc3161_client.TimestampRequestBuilder(
        data=data, hash_algorithm=rfc3161_client.HashAlgorithm.SHA256, cert_req=True, nonce=True
    ).build()
    nonce = request.nonce
    if nonce is None or request.message_imprint.message != digest:
        raise AssertionError("timestamp request was not built as asked")

    der = _post(url, request.as_bytes(), timeout)
    source = f"the answer from {_shown_url(url)}"
    token = _checked_token(_decode_response(der, source), der, digest, nonce, source)
    if roots is not None:
        verify_timestamp(der, data, roots=roots)
    return token


def _checked_token(
    response: rfc3161_client.TimeStampResponse,
    der: bytes,
    digest: bytes,
    nonce: int,
    source: str,
) -> TimestampToken:
    """The token in ``response`` if it answers this request (same nonce, same SHA-256 hash)."""
    try:
        info = response.tst_info
        answered_nonce = info.nonce
        imprint = info.message_imprint
        token = TimestampToken(
            response_der=der,
            gen_time=info.gen_time,
            tsa_name=_tsa_name(response),
            serial_number=info.serial_number,
            hash_algorithm="sha256",
            message_hash=digest,
            nonce=nonce,
            policy=info.policy.dotted_string,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise TimestampAuthorityError(
            f"{source} holds a malformed timestamp token, so it was not kept"
        ) from exc
    if answered_nonce != nonce:
        raise TimestampAuthorityError(
            f"{source} does not echo the request's nonce; it may be a replayed or misrouted "
            "response, so it was not kept"
        )
    if imprint.hash_algorithm != _SHA256_OID or imprint.message != digest:
        raise TimestampAuthorityError(
            f"{source} timestamps a different hash than the one sent, so it was not kept"
        )
    return token


# --- verifying -----------------------------------------------------------------------------------


_UNTRUSTED_CHAIN = (
    "unable to get local issuer certificate",
    "unable to get issuer certificate",
    "self-signed certificate in certificate chain",
    "self signed certificate in certificate chain",
)
_VERIFY_ERROR_RE = re.compile(r'Verify error: ([^"]+)"')
_SIGNATURE_FAILURES = (
    "signature failure",
    "ECDSA",
    "RSA",
    "digest",
    "signer certificate not found",
)


def _plain_reason(message: str) -> str:
    """The verifier's message in words a user can act on."""
    if message.startswith("Mismatch between messages"):
        return (
            "the token was issued for different data; these bytes are not the ones the TSA "
            "timestamped"
        )
    if any(marker in message for marker in _UNTRUSTED_CHAIN):
        return (
            "the TSA's certificate does not chain to a trusted root (or an intermediate "
            "certificate is missing); if you trust this TSA, add its root certificate to the "
            "trusted roots"
        )
    certificate_error = _VERIFY_ERROR_RE.search(message)
    if certificate_error:
        return (
            f"the TSA's certificate is not valid ({certificate_error.group(1)}); "
            "the token was altered or the TSA certificate is not fit for timestamping"
        )
    if message.startswith("Error while verifying certificates"):
        if any(marker in message for marker in _SIGNATURE_FAILURES):
            return "the token's signature does not match its contents; the token was altered"
        return "the token's signature could not be checked; the token is damaged or altered"
    if message.startswith("PKIStatus"):
        return "the response does not grant a timestamp"
    if message.startswith("Unsupported hash algorithm"):
        return (
            "the token names a hash algorithm other than SHA-256/384/512; it is damaged or altered"
        )
    if "EKU" in message:
        return "the signing certificate is not authorised for timestamping"
    if message.startswith("Certificates neither found"):
        return "the token carries no TSA certificate to check its signature with"
    if "Nonce" in message or "Policy" in message:
        return message.lower()
    return f"the token is not valid ({message})"


def verify_timestamp(
    response_der: bytes,
    data: bytes,
    *,
    roots: Sequence[x509.Certificate],
    intermediates: Iterable[x509.Certificate] = (),
) -> TimestampVerification:
    """Check offline that ``response_der`` is a valid TSA timestamp over ``data``.

    The signer is the TSA certificate embedded in the token; it must chain through
    ``intermediates`` (or certificates in the token) to one of ``roots`` and carry the critical
    id-kp-timeStamping usage. Certificates are checked at the token's time, so a token stays
    valid after the TSA certificate expires. Raises :class:`TimestampError` otherwise.
    """
    if not roots:
        raise UsageError("no trusted TSA root certificates were given to check the timestamp")
    try:
        response = rfc3161_client.decode_timestamp_response(response_der)
    except ValueError as exc:
        raise TimestampError(
            "the timestamp token is not a readable RFC 3161 response; it is damaged or altered"
        ) from exc
    verifier = rfc3161_client.VerifierBuilder(
        roots=list(roots), intermediates=list(intermediates)
    ).build()
    try:
        verifier.verify_message(response, data)
    except rfc3161_client.VerificationError as exc:
        raise TimestampError(f"timestamp check failed: {_plain_reason(str(exc))}") from exc
    except ValueError as exc:
        raise TimestampError(
            "timestamp check failed: the token is not well-formed; it is damaged or altered"
        ) from exc
    info = response.tst_info
    signer = _signer_certificate(response)
    if signer is None:  # the verifier found it, so this is only a safeguard
        raise TimestampError("timestamp check failed: the token names no embedded signer")
    return TimestampVerification(
        gen_time=info.gen_time,
        tsa_subject=signer.subject.rfc4514_string(),
        serial_number=info.serial_number,
        policy=info.policy.dotted_string,
        message_hash=info.message_imprint.message,
    )
