"""Content Credentials read at ingest: the `c2pa` step, its annotation, and `testigo c2pa show`."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from testigo.jobs import queue
from testigo.jobs.results import annotations_for, verify_annotations
from testigo.jobs.worker import Worker
from testigo.protect.c2pa_sign import ensure_c2pa_signer, sign_redacted
from testigo.protect.service import item_c2pa_summary, redact_item
from testigo.vault.service import Vault
from testigo.vault.verify import verify_vault

from .conftest import ingest


def photo(path: Path, seed: int = 1) -> Path:
    """A small JPEG with some texture (so a flipped byte changes decoded pixels)."""
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)).save(path, quality=90)
    return path


def signed_photo(
    vault: Vault, folder: Path, name: str = "signed.jpg", description: str = "box hidden"
) -> tuple[Path, str]:
    """A JPEG signed with the vault's own test CA, naming another JPEG as its parent."""
    original = photo(folder / f"parent-of-{name}", seed=7)
    copy = photo(folder / f"unsigned-{name}", seed=8)
    sha256 = hashlib.sha256(original.read_bytes()).hexdigest()
    target = folder / name
    sign_redacted(
        ensure_c2pa_signer(vault.settings),
        original=original,
        original_sha256=sha256,
        original_mime="image/jpeg",
        redacted=copy,
        signed=target,
        actions=[{"action": "c2pa.filtered", "parameters": {"description": description}}],
        parameters={"boxes": 1},
    )
    return target, sha256


def run_c2pa_jobs(vault: Vault) -> None:
    Worker(vault, threads=1, steps=["c2pa"]).run(idle_exit=True, handle_signals=False)


def summary_of(vault: Vault, item_id: int) -> dict[str, Any]:
    jobs = [j for j in queue.list_jobs(vault, item_id=item_id) if j.step == "c2pa"]
    assert jobs and jobs[-1].status == "succeeded", [(j.status, j.error) for j in jobs]
    rows = annotations_for(vault, item_id, kinds=["c2pa"])
    assert len(rows) == 1 and rows[0].start_seconds is None
    return dict(rows[0].data)


def test_ingest_queues_the_c2pa_step_for_media_that_can_carry_credentials(
    vault: Vault, tmp_path: Path
) -> None:
    assert queue.steps_for_media_type("image/jpeg") == ("probe", "c2pa", "keyframes", "ocr")
    assert queue.steps_for_media_type("video/mp4")[:2] == ("probe", "c2pa")
    assert "c2pa" in queue.steps_for_media_type("audio/wav")
    assert queue.steps_for_media_type("application/pdf") == ("c2pa",)
    assert "c2pa" not in queue.steps_for_media_type("video/webm")
    assert queue.steps_for_media_type("text/plain") == ()
    item = ingest(vault, photo(tmp_path / "p.jpg"))
    assert "c2pa" in {j.step for j in queue.list_jobs(vault, item_id=item)}


def test_redacted_copy_credentials_name_the_original_item(vault: Vault, tmp_path: Path) -> None:
    original = ingest(vault, photo(tmp_path / "street.jpg"))
    copy = redact_item(vault, original, faces="none", boxes=["0,0,20,20"], actor="test:alice")
    # Derived items get no analysis at ingest, but a signed copy's manifest is read.
    assert [j.step for j in queue.list_jobs(vault, item_id=copy.item_id)] == ["c2pa"]
    run_c2pa_jobs(vault)

    data = summary_of(vault, copy.item_id)
    assert data["present"] and data["status"] == "trusted" and data["trusted"]
    assert data["validation_state"] == "Trusted" and data["failures"] == []
    assert "test certificate authority" in data["trust_note"]
    assert data["signer"]["common_name"] == "Testigo redaction signer"
    assert data["signer"]["issuer"] == "Testigo vault"
    assert data["signer"]["alg"]
    assert data["claim_generator"].startswith("testigo ")
    assert data["active_manifest"].startswith("urn:c2pa:")
    actions = [a["action"] for a in data["actions"]]
    assert actions[0] == "c2pa.opened" and "c2pa.filtered" in actions and "c2pa.edited" in actions
    assert any("hidden by blur" in (a["description"] or "") for a in data["actions"])
    assert "org.testigo.redaction" in data["assertions"]
    [parent] = data["ingredients"]
    assert parent["relationship"] == "parentOf"
    assert parent["sha256"] == copy.original_sha256
    assert parent["item_id"] == original and parent["matched_by"] == "sha256"
    assert data["reader"].startswith("c2pa-python ")

    # The original carries no credentials, and says so.
    assert summary_of(vault, original) == {
        "version": 1,
        "present": False,
        "status": "none",
        "trusted": False,
        "reader": data["reader"],
    }
    # Each summary is committed to by its ledger entry.
    check = verify_annotations(vault)
    assert check.ok and check.annotations_checked >= 2
    assert verify_vault(vault).ok
    # The stored summary is what `item_c2pa_summary` gives, with when it was read.
    stored = item_c2pa_summary(vault, copy.item_id)
    assert stored["source"] == "stored" and stored["read_at"] and stored["ledger_seq"]
    assert stored["ingredients"][0]["item_id"] == original


def test_ingredient_linked_when_the_original_arrives_after_the_copy(
    vault: Vault, tmp_path: Path
) -> None:
    signed, parent_sha256 = signed_photo(vault, tmp_path)
    copy = ingest(vault, signed)
    run_c2pa_jobs(vault)
    data = summary_of(vault, copy)
    assert data["status"] == "trusted"
    assert data["ingredients"][0]["sha256"] == parent_sha256
    assert data["ingredients"][0]["item_id"] is None  # the original is not in the vault yet
    parent = ingest(vault, tmp_path / "parent-of-signed.jpg")
    # Shown summaries match ingredients to items again.
    shown = item_c2pa_summary(vault, copy)
    assert shown["ingredients"][0]["item_id"] == parent
    assert shown["ingredients"][0]["matched_by"] == "sha256"


def test_tampered_image_is_invalid_with_the_reason(vault: Vault, tmp_path: Path) -> None:
    signed, _ = signed_photo(vault, tmp_path)
    data = bytearray(signed.read_bytes())
    data[-100] ^= 0xFF  # a byte of the picture, after the manifest, before the end marker
    tampered = tmp_path / "tampered.jpg"
    tampered.write_bytes(bytes(data))
    item = ingest(vault, tampered)
    run_c2pa_jobs(vault)
    summary = summary_of(vault, item)
    assert summary["present"] and summary["status"] == "invalid" and not summary["trusted"]
    codes = [f["code"] for f in summary["failures"]]
    assert "assertion.dataHash.mismatch" in codes
    assert "assertion.dataHash.mismatch" in summary["reason"]
    # Still tells who signed it and what they said was done.
    assert summary["signer"]["common_name"] == "Testigo redaction signer"
    assert "c2pa.filtered" in [a["action"] for a in summary["actions"]]


def test_signature_not_trusted_without_the_vault_ca(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed, _ = signed_photo(vault, tmp_path)
    # Another vault (with its own CA) receives the file: valid, but not trusted there.
    (vault.settings.key_dir / "c2pa" / "ca.pem").unlink()
    item = ingest(vault, signed)
    run_c2pa_jobs(vault)
    summary = summary_of(vault, item)
    assert summary["status"] == "valid" and summary["untrusted_signer"]
    assert "signingCredential.untrusted" in [f["code"] for f in summary["failures"]]
    assert "not one this vault trusts" in summary["reason"]


def _garbage_png(path: Path) -> Path:
    """A PNG with a C2PA chunk (caBX) whose JUMBF content is nonsense."""
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buffer, format="PNG")
    png = buffer.getvalue()
    body = b"\x00\x00\x00\x40jumb" + bytes(range(56))
    chunk = struct.pack(">I", len(body)) + b"caBX" + body
    chunk += struct.pack(">I", zlib.crc32(b"caBX" + body) & 0xFFFFFFFF)
    path.write_bytes(png[:33] + chunk + png[33:])  # after the IHDR chunk
    return path


def test_garbage_manifests_give_a_clear_invalid_result(vault: Vault, tmp_path: Path) -> None:
    garbage_png = ingest(vault, _garbage_png(tmp_path / "garbage.png"))
    signed, _ = signed_photo(vault, tmp_path)
    data = bytearray(signed.read_bytes())
    data[data.find(b"c2pa.signature") + 200] ^= 0xFF  # inside the manifest store itself
    broken = tmp_path / "broken-manifest.jpg"
    broken.write_bytes(bytes(data))
    broken_jpeg = ingest(vault, broken)
    run_c2pa_jobs(vault)
    for item, name in ((garbage_png, "garbage.png"), (broken_jpeg, "broken-manifest.jpg")):
        summary = summary_of(vault, item)  # the job succeeded: bad data is a result, not a crash
        assert summary["present"] and summary["status"] == "invalid" and summary["unreadable"]
        assert "cannot be read" in summary["reason"]
        assert f"item {item} ({name})" in summary["reason"]  # the item, not a temporary file
        assert summary["failures"][0]["code"] == "manifest.unreadable"


def test_cli_shows_the_stored_summary(vault: Vault, tmp_path: Path, run_main: Any) -> None:
    signed, _ = signed_photo(vault, tmp_path)
    item = ingest(vault, signed)
    plain = ingest(vault, photo(tmp_path / "plain.jpg", seed=3))
    # Not read yet: the file is read now, nothing is stored.
    code, out, err = run_main("c2pa", "show", str(item), "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["source"] == "file" and shown["status"] == "trusted"
    assert annotations_for(vault, item, kinds=["c2pa"]) == []
    run_c2pa_jobs(vault)
    code, out, err = run_main("c2pa", "show", str(item), "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["source"] == "stored" and shown["signer"]["issuer"] == "Testigo vault"
    code, out, err = run_main("c2pa", "show", str(item))
    assert code == 0, err
    assert "trusted" in out and "Testigo redaction signer" in out and "c2pa.filtered" in out
    code, out, err = run_main("c2pa", "show", str(plain))
    assert code == 0 and "No C2PA manifest" in out
    code, out, err = run_main("c2pa", "show", str(signed), "--json")
    assert code == 0 and json.loads(out)["source"] == "file"


def test_ingredient_with_credentials_linked_by_its_manifest_label(
    vault: Vault, tmp_path: Path
) -> None:
    """A copy made elsewhere from a file that had credentials names that file's manifest."""
    first, _ = signed_photo(vault, tmp_path, name="first.jpg")
    first_item = ingest(vault, first)
    run_c2pa_jobs(vault)
    label = summary_of(vault, first_item)["active_manifest"]
    second = tmp_path / "second.jpg"
    sign_redacted(
        ensure_c2pa_signer(vault.settings),
        original=first,
        original_sha256="0" * 64,  # a hash no item has: only the manifest label can match
        original_mime="image/jpeg",
        redacted=photo(tmp_path / "unsigned-second.jpg", seed=9),
        signed=second,
        actions=[{"action": "c2pa.edited", "parameters": {"description": "cropped"}}],
        parameters={},
    )
    second_item = ingest(vault, second)
    run_c2pa_jobs(vault)
    [ingredient] = summary_of(vault, second_item)["ingredients"]
    assert ingredient["active_manifest"] == label
    assert ingredient["item_id"] == first_item and ingredient["matched_by"] == "manifest"
