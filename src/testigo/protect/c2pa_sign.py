"""C2PA Content Credentials: signing redacted copies, reading the manifests media arrive with.

A redacted copy carries a manifest naming the original as its ``parentOf`` ingredient and listing
what was done to it, signed with an ES256 certificate. Unless a real certificate is configured
(``TESTIGO_C2PA_CERT`` and ``TESTIGO_C2PA_KEY``, PEM files), the vault makes its own small
certificate authority and a signing certificate under ``<keys>/c2pa``: good for checking that a
copy is unchanged since this vault signed it, but trusted by nobody else. Readers say so.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from testigo import __version__ as testigo_version
from testigo.config import Settings
from testigo.errors import UsageError
from testigo.media.errors import MediaError

CERT_ENV = "TESTIGO_C2PA_CERT"
KEY_ENV = "TESTIGO_C2PA_KEY"
TRUST_ENV = "TESTIGO_C2PA_TRUST_ANCHORS"
LOCAL_CA_NAME = "Testigo local test CA"
LOCAL_NOTE = (
    "signed with this vault's own test certificate authority: it shows the copy is unchanged "
    "since this vault signed it, but no one outside trusts that authority"
)

MIME_BY_SUFFIX = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".m4a": "audio/mp4",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
}


@dataclass(frozen=True)
class C2paSigner:
    """Certificate chain (leaf first) and private key, PEM; ``local`` for the vault's test CA."""

    cert_chain_pem: bytes
    key_pem: bytes
    local: bool
    ca_pem: bytes | None
    cert_path: Path
    key_path: Path

    @property
    def fingerprint(self) -> str:
        leaf = x509.load_pem_x509_certificate(self.cert_chain_pem)
        return leaf.fingerprint(hashes.SHA256()).hex()


def c2pa_dir(settings: Settings) -> Path:
    return settings.key_dir / "c2pa"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Testigo vault"),
        ]
    )


def _key_usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _create_local_ca(folder: Path) -> None:
    """A CA certificate (10 years) and a leaf signing certificate (2 years), both P-256."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(LOCAL_CA_NAME))
        .issuer_name(_name(LOCAL_CA_NAME))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(sign=True, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("Testigo redaction signer"))
        .issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=730))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign=True, ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    def key_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    pem = serialization.Encoding.PEM
    _write_private(folder / "ca-key.pem", key_bytes(ca_key))
    _write_private(folder / "signer-key.pem", key_bytes(leaf_key))
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (folder / "signer-chain.pem").write_bytes(leaf.public_bytes(pem) + ca_cert.public_bytes(pem))


def ensure_c2pa_signer(settings: Settings) -> C2paSigner:
    """The configured signing certificate, or the vault's local one (created on first use)."""
    cert_env = os.environ.get(CERT_ENV, "").strip()
    key_env = os.environ.get(KEY_ENV, "").strip()
    if cert_env or key_env:
        if not (cert_env and key_env):
            raise UsageError(f"set both {CERT_ENV} and {KEY_ENV} (PEM files), or neither")
        cert_path, key_path = Path(cert_env).expanduser(), Path(key_env).expanduser()
        try:
            return C2paSigner(
                cert_path.read_bytes(), key_path.read_bytes(), False, None, cert_path, key_path
            )
        except OSError as exc:
            raise UsageError(f"cannot read the C2PA certificate or key: {exc}") from exc
    folder = c2pa_dir(settings)
    if not (folder / "signer-chain.pem").exists():
        _create_local_ca(folder)
    return C2paSigner(
        cert_chain_pem=(folder / "signer-chain.pem").read_bytes(),
        key_pem=(folder / "signer-key.pem").read_bytes(),
        local=True,
        ca_pem=(folder / "ca.pem").read_bytes(),
        cert_path=folder / "signer-chain.pem",
        key_path=folder / "signer-key.pem",
    )


def mime_type_for(path: Path) -> str | None:
    return MIME_BY_SUFFIX.get(path.suffix.lower())


def sign_redacted(
    signer: C2paSigner,
    *,
    original: Path,
    original_sha256: str,
    original_mime: str,
    redacted: Path,
    signed: Path,
    actions: list[dict[str, Any]],
    parameters: dict[str, Any],
) -> dict[str, Any]:
    """Write ``signed``: ``redacted`` with a manifest naming ``original`` as its parent."""
    import c2pa  # type: ignore[import-untyped,unused-ignore]

    mime = mime_type_for(redacted)
    if mime is None:
        raise MediaError(f"{redacted.suffix}: C2PA signing of this format is not supported")
    manifest = {
        "claim_generator_info": [{"name": "testigo", "version": testigo_version}],
        "title": redacted.name,
        "format": mime,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {"action": "c2pa.opened", "parameters": {"ingredientIds": ["original"]}},
                        *actions,
                    ]
                },
            },
            {
                "label": "org.testigo.redaction",
                "data": {"original_sha256": original_sha256, "parameters": parameters},
            },
        ],
    }
    ingredient = {
        "title": f"original {original_sha256[:16]}",
        "relationship": "parentOf",
        "label": "original",
        "description": f"sha256:{original_sha256}",
    }
    try:
        info = c2pa.C2paSignerInfo(
            c2pa.C2paSigningAlg.ES256, signer.cert_chain_pem, signer.key_pem, None
        )
        native_signer = c2pa.Signer.from_info(info)
        builder = c2pa.Builder(manifest)
        with original.open("rb") as parent:
            builder.add_ingredient(ingredient, original_mime, parent)
        with redacted.open("rb") as source, signed.open("w+b") as target:
            builder.sign(native_signer, mime, source, target)
    except c2pa.C2paError as exc:
        raise MediaError(f"C2PA signing failed: {exc}") from exc
    return {
        "format": mime,
        "signer": "local test CA" if signer.local else "configured certificate",
        "certificate_sha256": signer.fingerprint,
        "actions": [a["action"] for a in manifest["assertions"][0]["data"]["actions"]],  # type: ignore[index]
    }


def _trust_anchors(settings: Settings | None) -> tuple[str | None, bool]:
    anchors: list[str] = []
    local = False
    configured = os.environ.get(TRUST_ENV, "").strip()
    if configured:
        try:
            anchors.append(Path(configured).expanduser().read_text(encoding="ascii"))
        except OSError as exc:
            raise UsageError(f"cannot read {TRUST_ENV}: {exc}") from exc
    if settings is not None:
        ca = c2pa_dir(settings) / "ca.pem"
        if ca.exists():
            anchors.append(ca.read_text(encoding="ascii"))
            local = True
    return ("".join(anchors) or None), local


class C2paUnreadable(MediaError):
    """The file carries C2PA data that cannot be read: malformed, or a manifest kept elsewhere.

    ``reason`` is ``malformed`` or ``remote`` (the file only points at a manifest on the web,
    which is not fetched); ``remote_url`` names it.
    """

    def __init__(self, message: str, *, reason: str, remote_url: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.remote_url = remote_url


# Reading never contacts the network: a hostile file could name any address as its remote
# manifest, and certificate revocation (OCSP) look-ups reveal that someone is checking it.
_OFFLINE = {"remote_manifest_fetch": False, "ocsp_fetch": False}


def _reader_context(anchors: str | None) -> Any:
    import c2pa  # type: ignore[import-untyped,unused-ignore]

    verify: dict[str, Any] = dict(_OFFLINE)
    settings: dict[str, Any] = {"verify": verify}
    if anchors:
        verify["verify_trust"] = True
        settings["trust"] = {"trust_anchors": anchors}
    return c2pa.Context(c2pa.Settings.from_dict(settings))


def _status_list(entries: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry in entries or []:
        if isinstance(entry, dict):
            out.append({"code": entry.get("code"), "explanation": entry.get("explanation")})
    return out


def read_c2pa(
    path: str | os.PathLike[str],
    settings: Settings | None = None,
    *,
    media_type: str | None = None,
) -> dict[str, Any] | None:
    """The C2PA manifests embedded in ``path``, with their validation; ``None`` when there are none.

    Trust is checked against ``TESTIGO_C2PA_TRUST_ANCHORS`` (PEM) and, when ``settings`` are
    given, this vault's local test CA; a manifest trusted only through that CA says so.
    ``media_type`` tells the reader the format (else it is taken from the name and the bytes).
    Nothing is fetched from the network. Data that cannot be read raises ``C2paUnreadable``.
    """
    import c2pa  # type: ignore[import-untyped,unused-ignore]

    file = Path(path)
    anchors, has_local = _trust_anchors(settings)
    try:
        context = _reader_context(anchors)
        if media_type:
            with file.open("rb") as stream:
                reader = c2pa.Reader(media_type, stream, context=context)
                with reader:
                    store = json.loads(reader.json())
                    state = reader.get_validation_state()
        else:
            with c2pa.Reader(str(file), context=context) as reader:
                store = json.loads(reader.json())
                state = reader.get_validation_state()
    except c2pa.C2paError as exc:
        text = str(exc)
        kind = type(exc).__name__
        if "ManifestNotFound" in kind or "no JUMBF" in text:
            return None
        if "NotSupported" in kind or "type is unsupported" in text:
            return None
        if "RemoteManifest" in kind:
            url = text.split(":", 1)[-1].strip() or None
            raise C2paUnreadable(
                f"{file.name}: the C2PA manifest is kept at {url}, which is not fetched",
                reason="remote",
                remote_url=url,
            ) from exc
        raise C2paUnreadable(
            f"{file.name}: the C2PA data cannot be read ({text})", reason="malformed"
        ) from exc
    active_label = store.get("active_manifest")
    active = store.get("manifests", {}).get(active_label, {}) if active_label else {}
    signature = active.get("signature_info", {})
    trusted = state == "Trusted"
    local_only = bool(
        trusted
        and has_local
        and signature.get("issuer") == "Testigo vault"
        and signature.get("common_name") == "Testigo redaction signer"
    )
    results = store.get("validation_results", {}) or {}
    active_results = results.get("activeManifest", {}) or {}
    failures = _status_list(active_results.get("failure"))
    ingredient_failures = [
        failure
        for delta in results.get("ingredientDeltas", []) or []
        for failure in _status_list((delta.get("validationDeltas") or {}).get("failure"))
    ]
    return {
        "validation_state": state,
        "trusted": trusted,
        "trust_note": LOCAL_NOTE if local_only else None,
        "active_manifest": active_label,
        "signature": signature,
        "title": active.get("title"),
        "format": active.get("format"),
        "claim_generator": _claim_generator(active),
        "ingredients": active.get("ingredients", []),
        "actions": _actions(active),
        "assertions": [a.get("label") for a in active.get("assertions", [])],
        "validation_failures": [f.get("code") for f in failures],
        "failures": failures,
        "ingredient_failures": ingredient_failures,
        "manifests": store.get("manifests", {}),
    }


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    """``name version`` of the software that made the claim (first entry), as it says."""
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict):
        name, version = info[0].get("name"), info[0].get("version")
        return " ".join(str(v) for v in (name, version) if v) or None
    generator = manifest.get("claim_generator")
    return str(generator) if generator else None


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    for assertion in manifest.get("assertions", []):
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            return list(assertion.get("data", {}).get("actions", []))
    return []
