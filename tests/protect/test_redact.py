"""Redacted copies made through the vault: what is hidden, what is kept, what is recorded."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from media import synth
from testigo.errors import NotFoundError, RefusedInputError, UsageError
from testigo.media.errors import MediaError
from testigo.protect.c2pa_sign import c2pa_dir, read_c2pa
from testigo.protect.faces import iou, track_faces
from testigo.protect.metadata import media_tags
from testigo.protect.service import redact_item
from testigo.vault.derive import parents_of
from testigo.vault.service import Vault
from testigo.vault.verify import verify_vault

from .conftest import counts, fetch, ingest, ledger_body
from .facesynth import FaceClip, decode_frames, is_hidden, is_intact


def _audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        chunks = [f.to_ndarray().mean(axis=0) for f in container.decode(stream)]
    return np.concatenate(chunks), rate


def _rms(samples: np.ndarray, rate: int, start: float, end: float) -> float:
    piece = samples[int(start * rate) : int(end * rate)]
    return float(np.sqrt(np.mean(piece.astype(np.float64) ** 2)))


def test_all_faces_hidden_in_every_frame_and_recorded(
    vault: Vault, face_clip: FaceClip, tmp_path: Path
) -> None:
    item = ingest(vault, face_clip.path)
    seen: list[float] = []
    result = redact_item(
        vault, item, actor="test:alice", progress=lambda fraction, _m: seen.append(fraction)
    )
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    out = fetch(vault, result.sha256, tmp_path / "out.mp4")
    redacted = list(decode_frames(out))
    originals = list(decode_frames(face_clip.path))
    assert len(redacted) == face_clip.frames
    for index, (before, after) in enumerate(zip(originals, redacted, strict=True)):
        for face, box in enumerate(face_clip.truth[index]):
            assert is_hidden(before, after, box), f"frame {index}: face {face} visible"
    # The background far from any face is untouched.
    assert is_intact(originals[0], redacted[0], (250, 0, 318, 25))

    # A new item naming its original, with the exact parameters in the ledger.
    assert result.original_item_id == item
    assert parents_of(vault, result.item_id) == [(item, "redact")]
    body = ledger_body(vault, result.ledger_seq)
    assert body["type"] == "evidence.derive"
    assert body["params"]["derivation"] == "redact"
    assert body["params"]["parameters"] == json.loads(json.dumps(result.params))
    faces = result.params["faces"]
    assert faces["mode"] == "all"
    assert len(faces["model"]["sha256"]) == 64
    assert faces["tracking"]["detect_every"] == 10 and faces["tracking"]["padding"] == 0.25
    assert faces["frames_detected"] < face_clip.frames
    assert result.params["redaction_kind"] == "blur"
    assert result.params["audio"]["kept"] is True
    assert verify_vault(vault).ok


def test_chosen_track_only_leaves_the_other_face(
    vault: Vault, face_clip: FaceClip, tmp_path: Path
) -> None:
    tracks = track_faces(face_clip.path)
    x1, y1, x2, y2 = face_clip.truth[0][1]
    chosen = max(
        tracks.tracks,
        key=lambda t: iou(
            (
                t.frames[0]["box"][0],
                t.frames[0]["box"][1],
                t.frames[0]["box"][0] + t.frames[0]["box"][2],
                t.frames[0]["box"][1] + t.frames[0]["box"][3],
            ),
            (x1, y1, x2, y2),
        ),
    ).track_id
    item = ingest(vault, face_clip.path)
    result = redact_item(vault, item, faces=[chosen], actor="test:alice")
    assert result.params["faces"]["tracks_chosen"] == [chosen]
    out = fetch(vault, result.sha256, tmp_path / "out.mp4")
    originals = list(decode_frames(face_clip.path))
    for index, after in enumerate(decode_frames(out)):
        first, second = face_clip.truth[index]
        assert is_hidden(originals[index], after, second), f"frame {index}: chosen face visible"
        if iou(_floats(first), _floats(second)) == 0 and not _near(first, second):
            assert is_intact(originals[index], after, first), f"frame {index}: other face hidden"

    with pytest.raises(UsageError, match="no face track"):
        redact_item(vault, item, faces=[99], actor="test:alice")


def _floats(box: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
    return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))


def _near(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether two faces are close enough that one's padded box may touch the other."""
    gap = max(b[0] - a[2], a[0] - b[2], b[1] - a[3], a[1] - b[3])
    return gap < 40


def test_manual_box_over_a_time_range_and_muted_sound(
    vault: Vault, face_clip: FaceClip, tmp_path: Path
) -> None:
    item = ingest(vault, face_clip.path)
    result = redact_item(
        vault,
        item,
        faces="none",
        boxes=["250,180,60,50@0.5-1.5"],
        mute=["1.0-1.8"],
        kind="mask",
        actor="test:alice",
    )
    out = fetch(vault, result.sha256, tmp_path / "out.mp4")
    originals = list(decode_frames(face_clip.path))
    region = (250, 180, 310, 230)
    for index, after in enumerate(decode_frames(out)):
        t = index / face_clip.fps
        if 0.5 <= t <= 1.5:
            assert after[182:228, 252:308].mean() < 12, f"frame {index} ({t}s) not masked"
        elif t < 0.45 or t > 1.55:
            assert is_intact(originals[index], after, region), f"frame {index} ({t}s)"
        # Faces were not asked for: they stay.
        assert is_intact(originals[index], after, face_clip.truth[index][0])
    assert result.params["boxes"] == [
        {"x": 250, "y": 180, "w": 60, "h": 50, "start": 0.5, "end": 1.5}
    ]
    samples, rate = _audio(out)
    assert _rms(samples, rate, 1.05, 1.75) < 0.003
    assert _rms(samples, rate, 0.2, 0.9) > 0.1
    assert _rms(samples, rate, 1.9, 2.3) > 0.1
    assert result.params["audio"]["ranges"] == [[1.0, 1.8]]
    assert result.params["audio"]["mode"] == "mute"


def test_bleep_replaces_the_range_with_a_tone(
    vault: Vault, face_clip: FaceClip, tmp_path: Path
) -> None:
    item = ingest(vault, face_clip.path)
    result = redact_item(
        vault, item, faces="none", mute=[(0.5, 1.0)], bleep=True, actor="test:alice"
    )
    samples, rate = _audio(fetch(vault, result.sha256, tmp_path / "out.mp4"))
    piece = samples[int(0.6 * rate) : int(0.9 * rate)]
    spectrum = np.abs(np.fft.rfft(piece))
    peak = np.fft.rfftfreq(len(piece), 1 / rate)[int(np.argmax(spectrum))]
    assert abs(peak - 1000) < 30
    assert result.params["audio"]["mode"] == "bleep"


def test_metadata_stripped_from_video(vault: Vault, tmp_path: Path) -> None:
    tagged = synth.write_video(
        tmp_path / "tagged.mp4",
        synth.synth_frames(2, seed=4, width=160, height=90),
        metadata={
            "location": "+41.8781-087.6298/",
            "com.apple.quicktime.location.ISO6709": "+41.8781-087.6298/",
            "com.apple.quicktime.make": "Apple",
            "com.apple.quicktime.model": "iPhone 15 Pro",
            "make": "Apple",
            "model": "iPhone 15 Pro",
            "author": "Maria Lopez",
        },
    )
    assert "com.apple.quicktime.make" in media_tags(tagged)["format"]
    item = ingest(vault, tagged)
    result = redact_item(vault, item, faces="none", actor="test:alice")
    out = fetch(vault, result.sha256, tmp_path / "out.mp4")
    text = json.dumps(media_tags(out))
    for secret in ("41.8781", "iPhone", "Apple", "Maria"):
        assert secret not in text
    assert secret.encode() not in out.read_bytes()
    removed = result.params["metadata"]["removed"]
    assert "com.apple.quicktime.location.ISO6709" in removed["gps"]
    assert "com.apple.quicktime.model" in removed["device"]
    assert "author" in removed["owner"]

    kept = redact_item(
        vault, item, faces="none", boxes=["0,0,8,8"], strip_metadata=False, actor="test:alice"
    )
    tags = media_tags(fetch(vault, kept.sha256, tmp_path / "kept.mp4"))["format"]
    assert tags.get("make") == "Apple"
    assert kept.params["metadata"]["stripped"] is False


def test_image_exif_stripped_and_faces_hidden(vault: Vault, tmp_path: Path) -> None:
    from skimage import data

    portrait = tmp_path / "portrait.jpg"
    image = Image.fromarray(data.astronaut())  # type: ignore[no-untyped-call,unused-ignore]
    exif = Image.Exif()
    exif[0x010F] = "Google"
    exif[0x0110] = "Pixel 7"
    exif[0x013B] = "Maria Lopez"
    exif[0x0132] = "2026:03:14 09:26:53"
    exif[0x8825] = {1: "N", 2: (41.0, 52.0, 41.0), 3: "W", 4: (87.0, 37.0, 47.0)}
    image.save(portrait, format="JPEG", exif=exif, quality=95)
    item = ingest(vault, portrait)
    result = redact_item(vault, item, actor="test:alice")
    assert result.media_type == "image/jpeg"
    out = fetch(vault, result.sha256, tmp_path / "out.jpg")
    with Image.open(out) as copy:
        kept = copy.getexif()
        assert 0x8825 not in kept and 0x010F not in kept and 0x013B not in kept
        assert kept.get(0x0132) == "2026:03:14 09:26:53"
        after = np.asarray(copy.convert("RGB"))
    before = np.asarray(image)
    assert is_hidden(before, after, (182, 58, 270, 178))
    removed = result.params["metadata"]["removed"]
    assert removed["gps"] == ["GPSInfo"] and "Model" in removed["device"]
    assert removed["owner"] == ["Artist"]
    assert len(result.params["faces"]["boxes"]) == 1
    assert read_c2pa(out, vault.settings)["trusted"]  # type: ignore[index]


def test_c2pa_manifest_names_the_parent_and_validates(
    vault: Vault, face_clip: FaceClip, tmp_path: Path
) -> None:
    item = ingest(vault, face_clip.path)
    result = redact_item(vault, item, faces="none", boxes=["0,0,20,20"], actor="test:alice")
    out = fetch(vault, result.sha256, tmp_path / "out.mp4")
    info = read_c2pa(out, vault.settings)
    assert info is not None
    assert info["validation_state"] == "Trusted" and info["trusted"]
    assert "test certificate authority" in info["trust_note"]
    assert info["validation_failures"] == []
    parents = [i for i in info["ingredients"] if i["relationship"] == "parentOf"]
    assert len(parents) == 1
    assert parents[0]["description"] == f"sha256:{result.original_sha256}"
    actions = [a["action"] for a in info["actions"]]
    assert actions[0] == "c2pa.opened" and "c2pa.filtered" in actions and "c2pa.edited" in actions
    assert "org.testigo.redaction" in info["assertions"]
    # Without the vault's CA the signature is still valid, but not trusted.
    untrusted = read_c2pa(out)
    assert untrusted is not None and not untrusted["trusted"]
    assert untrusted["validation_state"] == "Valid"
    # The keys are private to the vault's owner.
    for name in ("ca-key.pem", "signer-key.pem"):
        mode = (c2pa_dir(vault.settings) / name).stat().st_mode
        assert stat.S_IMODE(mode) == 0o600
    # Media without credentials have none to show.
    assert read_c2pa(face_clip.path, vault.settings) is None
    # A tampered copy no longer validates.
    data = bytearray(out.read_bytes())
    data[-200] ^= 0xFF
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(bytes(data))
    bad = read_c2pa(tampered, vault.settings)
    assert bad is not None and bad["validation_state"] == "Invalid" and bad["validation_failures"]


def test_configured_certificate_is_used(
    vault: Vault, face_clip: FaceClip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from testigo.config import Settings
    from testigo.protect.c2pa_sign import ensure_c2pa_signer

    other = Settings(
        home=tmp_path / "elsewhere",
        database_url="sqlite://",
        blobs_url="",
        actor="x",
        checkpoint_origin="",
    )
    made = ensure_c2pa_signer(other)
    monkeypatch.setenv("TESTIGO_C2PA_CERT", str(made.cert_path))
    monkeypatch.setenv("TESTIGO_C2PA_KEY", str(made.key_path))
    item = ingest(vault, face_clip.path)
    result = redact_item(vault, item, faces="none", boxes=["0,0,20,20"], actor="test:alice")
    assert result.params["c2pa"]["signer"] == "configured certificate"
    assert result.params["c2pa"]["certificate_sha256"] == made.fingerprint
    # The vault's own local CA (made at init) exists, but the configured certificate signed.
    monkeypatch.setenv("TESTIGO_C2PA_TRUST_ANCHORS", str(tmp_path / "elsewhere/keys/c2pa/ca.pem"))
    info = read_c2pa(fetch(vault, result.sha256, tmp_path / "o.mp4"), vault.settings)
    # Trusted through the configured anchor. (The configured certificate here is itself made by
    # another vault's test CA, so the note about test CAs may be shown.)
    assert info is not None and info["trusted"]


def test_bad_inputs_fail_clearly_and_store_nothing(
    vault: Vault, face_clip: FaceClip, tmp_path: Path
) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 20)
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(face_clip.path.read_bytes()[: face_clip.path.stat().st_size // 3])
    audio = synth.write_audio(tmp_path / "voice.m4a", np.zeros(16_000, dtype=np.float32))
    items = {
        name: ingest(vault, p)
        for name, p in {
            "text": text,
            "cut": truncated,
            "audio": audio,
            "clip": face_clip.path,
        }.items()
    }
    before = counts(vault)
    with pytest.raises(RefusedInputError, match="not a recognised"):
        redact_item(vault, items["text"], actor="test:alice")
    with pytest.raises((MediaError, RefusedInputError)):
        redact_item(vault, items["cut"], actor="test:alice")
    with pytest.raises(MediaError, match="sound only"):
        redact_item(vault, items["audio"], faces="all", actor="test:alice")
    with pytest.raises(NotFoundError):
        redact_item(vault, 9999, actor="test:alice")
    with pytest.raises(UsageError):
        redact_item(vault, items["clip"], faces="everyone", actor="test:alice")
    with pytest.raises(UsageError):
        redact_item(vault, items["clip"], boxes=["1,2,3"], actor="test:alice")
    with pytest.raises(UsageError):
        redact_item(vault, items["clip"], mute=["5-2"], actor="test:alice")
    with pytest.raises(UsageError, match="nothing to redact"):
        redact_item(vault, items["clip"], faces="none", strip_metadata=False, actor="test:alice")
    assert counts(vault) == before
    assert verify_vault(vault).ok

    # Sound only, with a range silenced: allowed, stored as audio.
    result = redact_item(vault, items["audio"], faces="none", mute=["0.2-0.4"], actor="test:alice")
    assert result.media_type == "audio/mp4"


def test_rotation_kept_and_sound_only_silenced(vault: Vault, tmp_path: Path) -> None:
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(32_000) / 16_000)).astype(np.float32)
    rotated = synth.write_video(
        tmp_path / "rotated.mp4",
        synth.synth_frames(2, seed=2, width=160, height=90),
        rotation=90,
        audio=tone,
    )
    item = ingest(vault, rotated)
    result = redact_item(vault, item, faces="none", boxes=["0,0,40,40"], actor="test:alice")
    out = fetch(vault, result.sha256, tmp_path / "out.mp4")
    with av.open(str(out)) as container:
        first = next(container.decode(video=0))
        assert int(first.rotation) % 360 == 90
    assert result.params["output"]["rotation"] == 90

    voice = synth.write_audio(tmp_path / "voice.m4a", tone)
    audio_item = ingest(vault, voice)
    silenced = redact_item(vault, audio_item, faces="none", mute=["0.5-1.2"], actor="test:alice")
    samples, rate = _audio(fetch(vault, silenced.sha256, tmp_path / "voice-out.m4a"))
    assert _rms(samples, rate, 0.55, 1.15) < 0.003
    assert _rms(samples, rate, 0.1, 0.4) > 0.1
    assert read_c2pa(tmp_path / "voice-out.m4a", vault.settings) is not None


def test_signing_failure_stores_nothing(
    vault: Vault, face_clip: FaceClip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = ingest(vault, face_clip.path)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    key.write_text("not a key\n")
    monkeypatch.setenv("TESTIGO_C2PA_CERT", str(cert))
    monkeypatch.setenv("TESTIGO_C2PA_KEY", str(key))
    before = counts(vault)
    with pytest.raises(MediaError, match="C2PA signing failed"):
        redact_item(vault, item, faces="none", boxes=["0,0,8,8"], actor="test:alice")
    assert counts(vault) == before
    monkeypatch.delenv("TESTIGO_C2PA_KEY")
    with pytest.raises(UsageError, match="both"):
        redact_item(vault, item, faces="none", boxes=["0,0,8,8"], actor="test:alice")
    assert counts(vault) == before
