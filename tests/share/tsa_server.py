"""A small RFC 3161 timestamp authority for tests, served over real HTTP on a loopback port.

It makes its own root CA and a TSA certificate (critical extendedKeyUsage id-kp-timeStamping)
and answers every ``application/timestamp-query`` POST with a TimeStampResp whose token is a
CMS SignedData over a TSTInfo, with the signed attributes RFC 3161 and RFC 5816 ask for
(content-type, message-digest, signing-certificate-v2). The ASN.1 is built with asn1crypto and
signed with ECDSA P-256 from cryptography, independently of the client library under test, so
the client is checked against a token it did not build itself.

Besides the root path, a few paths misbehave on purpose so the client's error handling can be
tested against the same real server:

``/garbage``       200 with bytes that are not DER
``/reject``        a well-formed TimeStampResp with status rejection
``/http-error``    an HTTP 500
``/huge``          a body larger than any timestamp response should be
``/wrong-nonce``   a correctly signed token that does not echo the request's nonce
``/wrong-imprint`` a correctly signed token over a different message imprint
``/flip/<n>``      a genuine response with one bit of byte ``n`` flipped
``/redirect/<code>/<target>``  an HTTP redirect to ``/<target>`` (or to ``target`` if a URL)
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from asn1crypto import algos, cms, tsp  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TEST_POLICY_OID = "1.3.6.1.4.1.99999.3161.1"
"""Policy the test TSA puts in every TSTInfo (a private-arc OID used only here)."""

_MAX_REQUEST = 64 * 1024


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Testigo test TSA"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not signs_certificates,
        content_commitment=not signs_certificates,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _issue(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca_path_length: int | None,
    is_ca: bool,
    timestamping: bool = True,
) -> x509.Certificate:
    """A certificate valid from yesterday for a month: CA, or TSA leaf with timeStamping."""
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.BasicConstraints(ca=is_ca, path_length=ca_path_length if is_ca else None),
            critical=True,
        )
        .add_extension(_key_usage(signs_certificates=is_ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer_key is not key:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if not is_ca and timestamping:
        # RFC 3161 section 2.3: the TSA certificate's only extended key usage, marked critical.
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class TestAuthority:
    """A root CA and a TSA signing certificate issued by it, directly or via an intermediate."""

    __test__ = False  # not a pytest test class despite the name

    root_key: ec.EllipticCurvePrivateKey
    root_cert: x509.Certificate
    tsa_key: ec.EllipticCurvePrivateKey
    tsa_cert: x509.Certificate
    intermediate_cert: x509.Certificate | None = None

    @classmethod
    def create(
        cls,
        common_name: str = "Testigo Test Root",
        *,
        with_intermediate: bool = False,
        timestamping: bool = True,
    ) -> TestAuthority:
        """``timestamping=False`` leaves out the TSA certificate's extended key usage."""
        root_key = ec.generate_private_key(ec.SECP256R1())
        root_name = _name(common_name)
        root_cert = _issue(root_name, root_key, root_name, root_key, ca_path_length=1, is_ca=True)
        issuer_name, issuer_key = root_name, root_key
        intermediate_cert = None
        if with_intermediate:
            intermediate_key = ec.generate_private_key(ec.SECP256R1())
            issuer_name = _name(f"{common_name} Intermediate")
            intermediate_cert = _issue(
                issuer_name, intermediate_key, root_name, root_key, ca_path_length=0, is_ca=True
            )
            issuer_key = intermediate_key
        tsa_key = ec.generate_private_key(ec.SECP256R1())
        tsa_cert = _issue(
            _name("Testigo Test TSA"),
            tsa_key,
            issuer_name,
            issuer_key,
            ca_path_length=None,
            is_ca=False,
            timestamping=timestamping,
        )
        return cls(
            root_key=root_key,
            root_cert=root_cert,
            tsa_key=tsa_key,
            tsa_cert=tsa_cert,
            intermediate_cert=intermediate_cert,
        )

    @property
    def root_pem(self) -> bytes:
        return self.root_cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class TimestampSigner:
    """Turns a DER TimeStampReq into a DER TimeStampResp signed by an authority."""

    authority: TestAuthority
    policy: str = TEST_POLICY_OID
    _serials: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # The parts that never change are encoded once: asn1crypto re-encodes nested values it
        # did not parse itself, which would make every response slow.
        leaf_der = self.authority.tsa_cert.public_bytes(serialization.Encoding.DER)
        leaf = asn1_x509.Certificate.load(leaf_der)
        self._leaf_der = leaf_der
        self._tsa_name_der = asn1_x509.GeneralName(name="directory_name", value=leaf.subject).dump()
        self._sid_der = cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={"issuer": leaf.issuer, "serial_number": leaf.serial_number},
        ).dump()
        self._signing_certificate_der = cms.CMSAttribute(
            {
                "type": "signing_certificate_v2",
                "values": [
                    {
                        "certs": [
                            {
                                "cert_hash": hashlib.sha256(leaf_der).digest(),
                                "issuer_serial": {
                                    "issuer": [
                                        asn1_x509.GeneralName(
                                            name="directory_name", value=leaf.issuer
                                        )
                                    ],
                                    "serial_number": leaf.serial_number,
                                },
                            }
                        ]
                    }
                ],
            }
        ).dump()

    def next_serial(self) -> int:
        with self._lock:
            return next(self._serials)

    def respond(
        self,
        request_der: bytes,
        *,
        nonce_delta: int = 0,
        imprint_override: bytes | None = None,
    ) -> bytes:
        request = tsp.TimeStampReq.load(request_der)
        imprint = request["message_imprint"]
        if imprint_override is not None:
            imprint = tsp.MessageImprint(
                {
                    "hash_algorithm": imprint["hash_algorithm"].native,
                    "hashed_message": imprint_override,
                }
            )
        nonce = request["nonce"].native
        if nonce is not None:
            nonce += nonce_delta
        token = self.sign_token(
            imprint,
            nonce=nonce,
            include_certificate=bool(request["cert_req"].native),
        )
        response = tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})
        return bytes(response.dump())

    def sign_token(
        self,
        imprint: tsp.MessageImprint,
        *,
        nonce: int | None,
        include_certificate: bool = True,
    ) -> cms.ContentInfo:
        gen_time = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        tst_fields: dict[str, Any] = {
            "version": "v1",
            "policy": self.policy,
            "message_imprint": imprint,
            "serial_number": self.next_serial(),
            "gen_time": gen_time,
            "accuracy": {"seconds": 1},
            "ordering": False,
            "tsa": asn1_x509.GeneralName.load(self._tsa_name_der),
        }
        if nonce is not None:
            tst_fields["nonce"] = nonce
        tst_der = tsp.TSTInfo(tst_fields).dump()

        signed_attrs = cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "signing_time", "values": [cms.Time({"utc_time": gen_time})]},
                {"type": "message_digest", "values": [hashlib.sha256(tst_der).digest()]},
                cms.CMSAttribute.load(self._signing_certificate_der),
            ]
        )
        signature = self.authority.tsa_key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier.load(self._sid_der),
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "signed_attrs": signed_attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
                "signature": signature,
            }
        )
        signed_data: dict[str, Any] = {
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {
                "content_type": "tst_info",
                "content": cms.ParsableOctetString(tst_der),
            },
            "signer_infos": [signer_info],
        }
        if include_certificate:
            signed_data["certificates"] = [asn1_x509.Certificate.load(self._leaf_der)]
        return cms.ContentInfo({"content_type": "signed_data", "content": signed_data})


def rejection_response(text: str = "request refused by test TSA") -> bytes:
    """A TimeStampResp with status rejection and no token, as a TSA sends for a bad request."""
    status: bytes = tsp.PKIStatusInfo(
        {
            "status": "rejection",
            "status_string": [text],
            "fail_info": tsp.PKIFailureInfo({"bad_request"}),
        }
    ).dump()
    # asn1crypto's TimeStampResp insists on a token, so the outer SEQUENCE is written by hand.
    return b"\x30" + _der_length(len(status)) + status


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


class _Handler(BaseHTTPRequestHandler):
    server: _TSAHTTPServer
    disable_nagle_algorithm = True  # headers and body go out as separate small writes

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: pytest output is for test results."""

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > _MAX_REQUEST:
            self._send(400, b"bad request length", "text/plain")
            return
        body = self.rfile.read(length)
        self.server.requests.append(self.headers.get("Content-Type") or "")
        if self.headers.get("Content-Type") != "application/timestamp-query":
            self._send(415, b"expected application/timestamp-query", "text/plain")
            return
        signer = self.server.signer
        reply = "application/timestamp-reply"
        path = self.path
        if path == "/garbage":
            self._send(200, b"this is not a timestamp response", reply)
        elif path == "/reject":
            self._send(200, rejection_response(), reply)
        elif path == "/http-error":
            self._send(500, b"internal error", "text/plain")
        elif path == "/huge":
            self._send(200, b"\x30" * (2 * 1024 * 1024), reply)
        elif path == "/wrong-nonce":
            self._send(200, signer.respond(body, nonce_delta=1), reply)
        elif path == "/wrong-imprint":
            self._send(200, signer.respond(body, imprint_override=b"\x00" * 32), reply)
        elif path.startswith("/redirect/"):
            code, _, target = path.removeprefix("/redirect/").partition("/")
            self.send_response(int(code))
            self.send_header("Location", target if "://" in target else f"/{target}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path.startswith("/flip/"):
            genuine = bytearray(signer.respond(body))
            index = int(path.removeprefix("/flip/")) % len(genuine)
            genuine[index] ^= 0x01
            self._send(200, bytes(genuine), reply)
        else:
            self._send(200, signer.respond(body), reply)


class _TSAHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, signer: TimestampSigner) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.signer = signer
        self.requests: list[str] = []


class TestTSAServer:
    """A running test TSA: ``url`` answers RFC 3161 requests; ``url_for(path)`` misbehaves."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, authority: TestAuthority | None = None) -> None:
        self.authority = authority or TestAuthority.create()
        self.signer = TimestampSigner(self.authority)
        self._httpd = _TSAHTTPServer(self.signer)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="test-tsa", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def url_for(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    @property
    def root_cert(self) -> x509.Certificate:
        return self.authority.root_cert

    @property
    def root_pem(self) -> bytes:
        return self.authority.root_pem

    @property
    def request_content_types(self) -> list[str]:
        return list(self._httpd.requests)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> TestTSAServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
