"""Content Credentials at ingest: the ``c2pa`` analysis step and the summary it stores.

Every item whose type can carry a C2PA manifest store (see ``c2pa_formats``) is read once, in the
background, like the other analysis steps: the step stores one ``c2pa`` annotation about the whole
item with a summary of what the manifest says and whether it holds up. The web item page, its
JSON twin, the incident record and ``testigo c2pa show`` read that annotation.

The summary (``SUMMARY_VERSION`` 1):

- ``present``: whether the file carries C2PA data at all; ``status``: ``none``, ``trusted``
  (valid, signed by a certificate chaining to a configured trust anchor), ``valid`` (signature
  and content hashes hold, but the signer is not trusted here), ``invalid`` (a check failed, or
  the data cannot be read: ``unreadable`` and ``error`` say why) or ``remote`` (the file only
  names a manifest on the web, which is not fetched);
- ``active_manifest``, ``title``, ``asset_format``, ``claim_generator``, ``signer`` (common name,
  issuer, algorithm, serial number), ``signed_at`` (the time-stamp, when the manifest has one);
- ``actions``: ``{action, description, when, software_agent, digital_source_type}``;
- ``ingredients``: ``{title, relationship, format, sha256, active_manifest, item_id,
  matched_by}``; ``item_id`` names the vault item the ingredient is, matched by SHA-256
  (``sha256:`` in its description or hash, as copies signed here carry) or by the label of its
  own manifest (an item already read whose active manifest has that label);
- ``failures`` and ``ingredient_failures``: validation codes with the library's explanation;
  ``reason``: one line saying why the result is not ``trusted``.

Strings and lists are capped in length: the summary comes from the file, so from whoever made it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from testigo.config import Settings
from testigo.db.models import EvidenceItem
from testigo.jobs.context import StepContext, StepOutput
from testigo.jobs.models import Annotation
from testigo.jobs.results import NewAnnotation
from testigo.protect.c2pa_formats import reads_c2pa
from testigo.vault.service import Vault

KIND = "c2pa"
SUMMARY_VERSION = 1
MAX_TEXT = 500
MAX_ACTIONS = 200
MAX_INGREDIENTS = 100
MAX_FAILURES = 100
UNTRUSTED_CODES = ("signingCredential.untrusted",)
_SHA256 = re.compile(r"(?:sha256:)?([0-9a-f]{64})", re.IGNORECASE)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _software_agent(value: Any) -> str | None:
    if isinstance(value, dict):
        return _text(" ".join(str(v) for v in (value.get("name"), value.get("version")) if v))
    return _text(value)


def _action(action: dict[str, Any]) -> dict[str, Any]:
    parameters = action.get("parameters") if isinstance(action.get("parameters"), dict) else {}
    return {
        "action": _text(action.get("action")),
        "description": _text(action.get("description") or (parameters or {}).get("description")),
        "when": _text(action.get("when")),
        "software_agent": _software_agent(action.get("softwareAgent")),
        "digital_source_type": _text(action.get("digitalSourceType")),
        "reason": _text(action.get("reason")),
    }


def _ingredient_sha256(ingredient: dict[str, Any]) -> str | None:
    for key in ("description", "hash"):
        value = ingredient.get(key)
        if isinstance(value, str):
            match = _SHA256.fullmatch(value.strip())
            if match:
                return match.group(1).lower()
    return None


def _ingredient(ingredient: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": _text(ingredient.get("title")),
        "relationship": _text(ingredient.get("relationship")),
        "format": _text(ingredient.get("format")),
        "description": _text(ingredient.get("description")),
        "sha256": _ingredient_sha256(ingredient),
        "active_manifest": _text(ingredient.get("active_manifest")),
        "item_id": None,
        "matched_by": None,
    }


def _failures(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"code": _text(f.get("code")), "explanation": _text(f.get("explanation"))}
        for f in list(entries)[:MAX_FAILURES]
    ]


def _reader_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        import c2pa  # type: ignore[import-untyped,unused-ignore]

        return f"c2pa-python {version('c2pa-python')} ({c2pa.sdk_version()})"
    except (PackageNotFoundError, ImportError, AttributeError):  # pragma: no cover
        return "c2pa-python"


def no_manifest() -> dict[str, Any]:
    """The summary of media that carry no C2PA data."""
    return {"version": SUMMARY_VERSION, "present": False, "status": "none", "trusted": False}


def unreadable(message: str, *, reason: str, remote_url: str | None = None) -> dict[str, Any]:
    """The summary of C2PA data that cannot be read: malformed, or kept on the web."""
    if reason == "remote":
        return {
            "version": SUMMARY_VERSION,
            "present": True,
            "status": "remote",
            "trusted": False,
            "remote_url": _text(remote_url),
            "reason": _text(message),
        }
    return {
        "version": SUMMARY_VERSION,
        "present": True,
        "status": "invalid",
        "trusted": False,
        "unreadable": True,
        "error": _text(message),
        "reason": _text(message),
        "failures": [{"code": "manifest.unreadable", "explanation": _text(message)}],
    }


def summarize(info: dict[str, Any] | None) -> dict[str, Any]:
    """The stored summary of what ``read_c2pa`` returned (``None``: no manifest)."""
    if info is None:
        return no_manifest()
    state = str(info.get("validation_state") or "")
    failures = _failures(info.get("failures") or [])
    untrusted = any(f["code"] in UNTRUSTED_CODES for f in failures)
    status = {"Trusted": "trusted", "Valid": "valid"}.get(state, "invalid")
    signature = info.get("signature") or {}
    if status == "trusted":
        reason = None
    elif status == "valid":
        reason = (
            "the signature and content hashes hold, but the signing certificate is not one "
            "this vault trusts"
        )
    else:
        broken = [f for f in failures if f["code"] not in UNTRUSTED_CODES] or failures
        reason = _text("; ".join(f"{f['code']}: {f['explanation']}" for f in broken)) or (
            f"validation state {state or 'unknown'}"
        )
    return {
        "version": SUMMARY_VERSION,
        "present": True,
        "status": status,
        "trusted": status == "trusted",
        "validation_state": _text(state) or None,
        "reason": reason,
        "trust_note": _text(info.get("trust_note")),
        "untrusted_signer": untrusted,
        "active_manifest": _text(info.get("active_manifest")),
        "manifest_count": len(info.get("manifests") or {}),
        "title": _text(info.get("title")),
        "asset_format": _text(info.get("format")),
        "claim_generator": _text(info.get("claim_generator")),
        "signer": {
            "common_name": _text(signature.get("common_name")),
            "issuer": _text(signature.get("issuer")),
            "alg": _text(signature.get("alg")),
            "serial_number": _text(signature.get("cert_serial_number")),
        },
        "signed_at": _text(signature.get("time")),
        "actions": [
            _action(a) for a in (info.get("actions") or [])[:MAX_ACTIONS] if isinstance(a, dict)
        ],
        "ingredients": [
            _ingredient(i)
            for i in (info.get("ingredients") or [])[:MAX_INGREDIENTS]
            if isinstance(i, dict)
        ],
        "assertions": [_text(a) for a in (info.get("assertions") or [])[:MAX_ACTIONS]],
        "failures": failures,
        "ingredient_failures": _failures(info.get("ingredient_failures") or []),
    }


def link_ingredients(session: Session, summary: dict[str, Any], *, own_item: int) -> None:
    """Name the vault item each ingredient is, by SHA-256 or by the label of its manifest."""
    for ingredient in summary.get("ingredients") or []:
        if ingredient.get("item_id"):
            continue
        sha256 = ingredient.get("sha256")
        if sha256:
            found = session.scalar(select(EvidenceItem.id).where(EvidenceItem.sha256 == sha256))
            if found is not None and found != own_item:
                ingredient["item_id"], ingredient["matched_by"] = int(found), "sha256"
                continue
        label = ingredient.get("active_manifest")
        if label:
            found = session.scalar(
                select(Annotation.item_id)
                .where(
                    Annotation.kind == KIND,
                    Annotation.data["active_manifest"].as_string() == label,
                    Annotation.item_id != own_item,
                )
                .order_by(Annotation.id)
                .limit(1)
            )
            if found is not None:
                ingredient["item_id"], ingredient["matched_by"] = int(found), "manifest"


def read_file_summary(
    path: Any,
    settings: Settings,
    *,
    media_type: str | None,
    vault: Vault | None = None,
    item_id: int | None = None,
) -> dict[str, Any]:
    """Read and check the C2PA data of a local file, summarised; never raises for bad data.

    With ``vault``, ingredients are matched to its items.
    """
    from testigo.protect.c2pa_sign import C2paUnreadable, read_c2pa

    try:
        summary = summarize(read_c2pa(path, settings, media_type=media_type))
    except C2paUnreadable as error:
        summary = unreadable(str(error), reason=error.reason, remote_url=error.remote_url)
    summary["reader"] = _reader_version()
    if vault is not None:
        with vault.reading() as session:
            link_ingredients(session, summary, own_item=item_id or 0)
    return summary


def c2pa_step(ctx: StepContext) -> StepOutput:
    """Read the item's C2PA manifest store, check it, and store the summary."""
    from testigo.jobs.steps import clear_errors, item_label, load_item, local_copy

    item = load_item(ctx)
    with local_copy(ctx, item, share=0.6) as path, clear_errors(item, path):
        ctx.progress(0.65, "reading Content Credentials")
        summary = read_file_summary(
            path,
            ctx.vault.settings,
            media_type=item.media_type,
            vault=ctx.vault,
            item_id=item.id,
        )
    _name_the_item(summary, path.name, item_label(item))
    return StepOutput(
        annotations=[NewAnnotation(item.id, KIND, summary)],
        result={
            "present": summary["present"],
            "status": summary["status"],
            "ingredients_in_vault": sorted(
                {i["item_id"] for i in summary.get("ingredients") or [] if i.get("item_id")}
            ),
        },
        ledger_params={"reader": summary["reader"]},
    )


def _name_the_item(summary: dict[str, Any], temporary: str, label: str) -> None:
    """Messages name the item, never the temporary file the step read."""
    for field in ("reason", "error"):
        if isinstance(summary.get(field), str):
            summary[field] = summary[field].replace(temporary, label)
    for failure in summary.get("failures") or []:
        if isinstance(failure.get("explanation"), str):
            failure["explanation"] = failure["explanation"].replace(temporary, label)


# --- reading the stored summary -----------------------------------------------------------------


def _with_links(session: Session, row: Annotation) -> dict[str, Any]:
    """The stored summary; ingredients not linked at ingest are looked up again (their item may
    have arrived since). Links already stored stay true: items and annotations are never removed."""
    summary: dict[str, Any] = dict(row.data)
    summary["ingredients"] = [dict(i) for i in summary.get("ingredients") or []]
    link_ingredients(session, summary, own_item=row.item_id)
    summary["read_at"] = row.created_at
    summary["ledger_seq"] = row.ledger_seq
    summary["annotation_id"] = row.id
    return summary


def credentials_by_item(session: Session, item_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The newest stored summary of each item that was read, keyed by item id.

    Ingredients are matched to vault items again, so an original stored after its copy was read
    is found now.
    """
    newest: dict[int, Annotation] = {}
    ids = sorted(set(item_ids))
    for start in range(0, len(ids), 500):
        for row in session.scalars(
            select(Annotation)
            .where(Annotation.kind == KIND, Annotation.item_id.in_(ids[start : start + 500]))
            .order_by(Annotation.id)
        ):
            newest[row.item_id] = row
    return {item_id: _with_links(session, row) for item_id, row in sorted(newest.items())}


def stored_summary(session: Session, item_id: int) -> dict[str, Any] | None:
    """The newest ``c2pa`` annotation of an item, with when it was read; ``None`` if never read."""
    return credentials_by_item(session, [item_id]).get(item_id)


def item_credentials(session: Session, item_id: int, media_type: str) -> dict[str, Any] | None:
    """What an item view shows: the stored summary, or ``{"status": "not_read"}`` for media that
    may carry credentials but were not read yet, or ``None`` for types that cannot carry them."""
    summary = stored_summary(session, item_id)
    if summary is not None:
        return summary
    if reads_c2pa(media_type):
        return {"version": SUMMARY_VERSION, "present": None, "status": "not_read"}
    return None
