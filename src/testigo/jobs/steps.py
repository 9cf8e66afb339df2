"""The analysis steps: each reads one item, calls the media library, and stores what it found.

Every step works on a streamed local copy of the item's blob and computes its whole result before
storing anything (the media library returns whole results or raises). Files it makes (keyframes,
thumbnails, fingerprints, transcripts) are written to the blob store first; their derived items,
the annotations and the job's success are then committed in one transaction, so a step that fails
halfway leaves no row. Bad input raises ``RefusedInputError`` or ``MediaError`` with a message
that says what is wrong; the worker records it on the job and moves on.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select

from testigo.db.models import Acquisition, EvidenceItem
from testigo.errors import NotFoundError, RefusedInputError
from testigo.jobs import queue
from testigo.jobs.context import StepContext, StepOutput
from testigo.jobs.matchindex import index_added, index_lock, item_hashes, synced_index
from testigo.jobs.results import NewAnnotation
from testigo.media import MediaError, ProbeResult, extract_keyframes, ocr_image, probe
from testigo.media.keyframes import jpeg_bytes
from testigo.vault.derive import PreparedDerived, prepare_derived
from testigo.vault.ingest import IngestResult

THUMBNAIL_SIDE = 320
FINGERPRINT_MEDIA_TYPE = "application/vnd.testigo.video-fingerprint"
COPY_CHUNK = 1024 * 1024
MAX_OCR_IMAGE_BYTES = 64 * 1024 * 1024
MAX_CAPTION_BYTES = 20 * 1024 * 1024
_SUFFIXES = {
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "audio/mp4": ".m4a",
    "audio/wav": ".wav",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "image/jpeg": ".jpg",
    "image/png": ".png",
}

StepFunction = Callable[[StepContext], StepOutput]


@dataclass(frozen=True)
class StepSpec:
    name: str
    function: StepFunction
    description: str


STEPS: dict[str, StepSpec] = {}


def register_step(name: str, function: StepFunction, description: str = "") -> None:
    """Add (or replace) a step; the queue accepts its name from then on."""
    STEPS[name] = StepSpec(name, function, description)
    queue.STEP_NAMES.add(name)


# --- shared helpers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemInfo:
    id: int
    sha256: str
    size: int
    media_type: str
    created_at: str
    name: str | None


def load_item(ctx: StepContext) -> ItemInfo:
    with ctx.vault.reading() as session:
        item = session.get(EvidenceItem, ctx.item_id)
        if item is None:
            raise NotFoundError(f"there is no item {ctx.item_id}")
        name = session.scalars(
            select(Acquisition.original_name)
            .where(Acquisition.item_id == item.id)
            .order_by(Acquisition.id)
            .limit(1)
        ).first()
        return ItemInfo(item.id, item.sha256, item.size, item.media_type, item.created_at, name)


@contextmanager
def local_copy(ctx: StepContext, item: ItemInfo, *, share: float = 0.1) -> Iterator[Path]:
    """The item's content in a private temporary file, copied in chunks (bounded memory)."""
    if item.size == 0:
        raise RefusedInputError(
            f"{item_label(item)} is empty (0 bytes): there is nothing to analyse"
        )
    suffix = _SUFFIXES.get(item.media_type) or (Path(item.name).suffix[:10] if item.name else "")
    scratch = ctx.vault.settings.home / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"job{ctx.job_id}-", dir=scratch) as folder:
        path = Path(folder) / f"item-{item.id}{suffix}"
        copied = 0
        with ctx.vault.blobs.open(item.sha256) as source, path.open("wb") as target:
            while chunk := source.read(COPY_CHUNK):
                target.write(chunk)
                copied += len(chunk)
                ctx.progress(share * copied / item.size, "reading the stored file")
        yield path


def item_label(item: ItemInfo) -> str:
    return f"item {item.id} ({item.name or item.sha256[:12]})"


def _relabel(item: ItemInfo, path: Path, error: Exception) -> Exception:
    """Name the item, not the temporary file, in the message the user sees."""
    message = str(error).replace(path.name, item_label(item))
    return type(error)(message)


@contextmanager
def clear_errors(item: ItemInfo, path: Path) -> Iterator[None]:
    try:
        yield
    except (MediaError, RefusedInputError) as error:
        raise _relabel(item, path, error) from error


def received_at(item: ItemInfo) -> datetime:
    return datetime.fromisoformat(item.created_at.replace("Z", "+00:00"))


def _probe(item: ItemInfo, path: Path) -> ProbeResult:
    with clear_errors(item, path):
        return probe(path, received_at=received_at(item))


def _has_sound(result: ProbeResult) -> bool:
    return any(s.type == "audio" for s in result.streams)


def _duration(result: ProbeResult) -> float:
    return float(result.duration or result.end or 0.0)


def _tool_params() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return {"tool": f"testigo {version('testigo')}"}
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return {"tool": "testigo"}


# --- probe -------------------------------------------------------------------------------------


def probe_step(ctx: StepContext) -> StepOutput:
    item = load_item(ctx)
    with local_copy(ctx, item, share=0.8) as path:
        result = _probe(item, path)
    data = result.to_dict()
    return StepOutput(
        annotations=[NewAnnotation(item.id, "probe", data, start=result.start, end=result.end)],
        result={
            "kind": result.kind,
            "duration": result.duration,
            "flags": result.flag_codes(),
        },
        ledger_params=_tool_params(),
    )


# --- keyframes and thumbnails --------------------------------------------------------------------


def _thumbnail(jpeg_or_png: bytes) -> tuple[bytes, int, int]:
    with Image.open(io.BytesIO(jpeg_or_png)) as image:
        picture = image.convert("RGB")
    picture.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    return jpeg_bytes(picture), picture.width, picture.height


def keyframes_step(ctx: StepContext) -> StepOutput:
    item = load_item(ctx)
    grid = float(ctx.params.get("grid_seconds", 10.0))
    max_frames = int(ctx.params.get("max_frames", 500))
    with local_copy(ctx, item) as path:
        info = _probe(item, path)
        if info.kind == "image":
            return _image_thumbnail(ctx, item, path)
        if info.kind != "video":
            raise MediaError(
                f"{item_label(item)} is {info.kind}-only: it has no pictures to take keyframes from"
            )
        duration = _duration(info) or 1.0
        spool = path.parent / "frames"
        spool.mkdir()
        frames: list[tuple[Path, dict[str, Any]]] = []
        with clear_errors(item, path):
            for number, keyframe in enumerate(
                extract_keyframes(path, grid_seconds=grid, max_frames=max_frames)
            ):
                target = spool / f"{number:05d}.jpg"
                target.write_bytes(keyframe.jpeg)
                frames.append((target, keyframe.to_dict()))
                ctx.progress(0.1 + 0.6 * min(1.0, keyframe.time / duration), "picking keyframes")
        if not frames:
            raise MediaError(f"{item_label(item)}: no frame could be decoded")
        # Everything was decoded: only now are the files written (blobs only; the records are
        # committed together with the annotations).
        derivation_params = {"grid_seconds": grid, "max_frames": max_frames, **_tool_params()}
        prepared: list[PreparedDerived] = []
        for number, (frame_path, meta) in enumerate(frames):
            ctx.check()
            with frame_path.open("rb") as stream:
                prepared.append(
                    prepare_derived(
                        ctx.vault,
                        stream,
                        parents=[item.id],
                        derivation="keyframe",
                        params={
                            **derivation_params,
                            "time": meta["time"],
                            "reason": meta["reason"],
                        },
                        actor=ctx.actor,
                        media_type="image/jpeg",
                        details={"time": meta["time"], "source": item.sha256},
                    )
                )
            ctx.progress(0.7 + 0.25 * (number + 1) / len(frames), "storing keyframes")
        thumb, width, height = _thumbnail(frames[0][0].read_bytes())
    first = frames[0][1]["time"]
    prepared.append(
        prepare_derived(
            ctx.vault,
            thumb,
            parents=[item.id],
            derivation="thumbnail",
            params={"max_side": THUMBNAIL_SIDE, "time": first, **_tool_params()},
            actor=ctx.actor,
            media_type="image/jpeg",
        )
    )
    metas = [meta for _, meta in frames]

    def annotate(stored: list[IngestResult]) -> list[NewAnnotation]:
        *keyframes, thumbnail = stored
        notes = [
            NewAnnotation(
                item.id,
                "keyframe",
                {**meta, "sha256": kept.sha256, "derived_item": kept.item_id},
                start=meta["time"],
                end=meta["time"],
            )
            for meta, kept in zip(metas, keyframes, strict=True)
        ]
        notes.append(_thumbnail_annotation(item.id, thumbnail, width, height, first))
        return notes

    return StepOutput(
        result={"keyframes": len(frames), "thumbnail": prepared[-1].sha256},
        ledger_params=derivation_params,
        derived=prepared,
        annotate=annotate,
    )


def _thumbnail_annotation(
    item_id: int, stored: IngestResult, width: int, height: int, time: float | None
) -> NewAnnotation:
    return NewAnnotation(
        item_id,
        "thumbnail",
        {
            "sha256": stored.sha256,
            "derived_item": stored.item_id,
            "width": width,
            "height": height,
        },
        start=time,
        end=time,
    )


def _image_thumbnail(ctx: StepContext, item: ItemInfo, path: Path) -> StepOutput:
    try:
        thumb, width, height = _thumbnail(path.read_bytes())
    except (UnidentifiedImageError, Image.DecompressionBombError) as error:
        raise RefusedInputError(f"{item_label(item)} is not a readable image") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise MediaError(f"{item_label(item)}: the image is truncated or corrupt") from error
    prepared = prepare_derived(
        ctx.vault,
        thumb,
        parents=[item.id],
        derivation="thumbnail",
        params={"max_side": THUMBNAIL_SIDE, **_tool_params()},
        actor=ctx.actor,
        media_type="image/jpeg",
    )
    return StepOutput(
        result={"keyframes": 0, "thumbnail": prepared.sha256},
        derived=[prepared],
        annotate=lambda stored: [_thumbnail_annotation(item.id, stored[0], width, height, None)],
    )


# --- fingerprint and matching ---------------------------------------------------------------------

_INVERSE = {"same": "same", "clip_of": "contains", "contains": "clip_of", "overlaps": "overlaps"}


def fingerprint_step(ctx: StepContext) -> StepOutput:
    from testigo.media._frames import scan_frames
    from testigo.media.fingerprint import FingerprintBuilder

    item = load_item(ctx)
    fps = float(ctx.params.get("fps", 1.0))
    with local_copy(ctx, item) as path, clear_errors(item, path):
        builder = FingerprintBuilder(fps)
        info, samples = scan_frames(path, sample_fps=fps)
        duration = info.duration or 1.0
        for sample in samples:
            builder.feed(sample)
            ctx.progress(0.1 + 0.7 * min(1.0, sample.time / duration), "fingerprinting")
        fingerprint = builder.build(info.duration)
    params = {"fps": fps, "format": 1, **_tool_params()}
    prepared = prepare_derived(
        ctx.vault,
        fingerprint.to_bytes(),
        parents=[item.id],
        derivation="fingerprint",
        params=params,
        actor=ctx.actor,
        media_type=FINGERPRINT_MEDIA_TYPE,
    )
    ctx.progress(0.85, "looking for the same footage in other videos")
    with index_lock(ctx.vault):
        index = synced_index(ctx.vault)
        matches = index.query(fingerprint, exclude=str(item.id))
        others = item_hashes(ctx.vault, [int(m.video_id) for m in matches])
        notes: list[NewAnnotation] = []
        for match in matches:
            other = int(match.video_id)
            common = {
                "offset": match.offset,
                "mirrored": match.mirrored,
                "matched_frames": match.matched_frames,
                "compared_frames": match.compared_frames,
                "score": match.score,
                "median_distance": match.median_distance,
            }
            notes.append(
                NewAnnotation(
                    item.id,
                    "match",
                    {
                        **common,
                        "other_item": other,
                        "other_sha256": others.get(other),
                        "relationship": match.relationship,
                        "start": match.query_start,
                        "end": match.query_end,
                        "other_start": match.match_start,
                        "other_end": match.match_end,
                    },
                    start=match.query_start,
                    end=match.query_end,
                )
            )
            notes.append(
                NewAnnotation(
                    other,
                    "match",
                    {
                        **common,
                        "offset": round(-match.offset, 3),
                        "other_item": item.id,
                        "other_sha256": item.sha256,
                        "relationship": _INVERSE.get(match.relationship, match.relationship),
                        "start": match.match_start,
                        "end": match.match_end,
                        "other_start": match.query_start,
                        "other_end": match.query_end,
                    },
                    start=match.match_start,
                    end=match.match_end,
                )
            )

        def annotate(stored: list[IngestResult]) -> list[NewAnnotation]:
            header = NewAnnotation(
                item.id,
                "fingerprint",
                {
                    "sha256": stored[0].sha256,
                    "derived_item": stored[0].item_id,
                    "frames": len(fingerprint),
                    "fps": fps,
                },
                start=0.0,
                end=round(fingerprint.duration, 3),
            )
            return [header, *notes]

        output = StepOutput(
            result={
                "fingerprint": prepared.sha256,
                "frames": len(fingerprint),
                "matches": [
                    {"item": int(m.video_id), "relationship": m.relationship} for m in matches
                ],
            },
            ledger_params=params,
            derived=[prepared],
            annotate=annotate,
        )
        ctx.commit(output)
        # Committed: the vault now names this fingerprint, so the index may hold it.
        index_added(ctx.vault, item.id, prepared.sha256, fingerprint)
    return output


# --- speech ------------------------------------------------------------------------------------


def _no_sound_track(item: ItemInfo, info: ProbeResult) -> StepOutput | None:
    """A video without sound is not an error: there is simply no speech in it."""
    if info.kind == "video" and not _has_sound(info):
        return StepOutput(result={"skipped": f"{item_label(item)} has no sound track"})
    return None


def speech_step(ctx: StepContext) -> StepOutput:
    from testigo.media.speech import Segment, VoiceActivity, decode_audio

    item = load_item(ctx)
    with local_copy(ctx, item) as path:
        info = _probe(item, path)
        skipped = _no_sound_track(item, info)
        if skipped is not None:
            return skipped
        segments: list[Segment] = []
        with clear_errors(item, path):
            declared, chunks = decode_audio(path)
            total = declared or _duration(info) or 1.0
            vad = VoiceActivity()
            heard = 0.0
            for chunk in chunks:
                segments.extend(vad.feed(chunk))
                heard += len(chunk) / 16_000
                ctx.progress(0.1 + 0.85 * min(1.0, heard / total), "finding speech")
            segments.extend(vad.finish())
    merged: list[Segment] = []
    for segment in segments:
        if merged and segment.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Segment(
                last.start,
                max(last.end, segment.end),
                round((last.probability + segment.probability) / 2, 3),
            )
        else:
            merged.append(segment)
    return StepOutput(
        annotations=[
            NewAnnotation(item.id, "speech_segment", {"probability": s.probability}, s.start, s.end)
            for s in merged
        ],
        result={
            "segments": len(merged),
            "speech_seconds": round(sum(s.duration for s in merged), 3),
        },
        ledger_params={"detector": "silero-vad", **_tool_params()},
    )


def transcript_step(ctx: StepContext) -> StepOutput:
    from testigo.jobs.transcripts import store_transcript
    from testigo.media import transcribe

    item = load_item(ctx)
    engine = str(ctx.params.get("engine", "auto"))
    language = ctx.params.get("language")
    with local_copy(ctx, item) as path:
        info = _probe(item, path)
        skipped = _no_sound_track(item, info)
        if skipped is not None:
            return skipped
        total = _duration(info) or 1.0

        def on_seconds(seconds: float) -> None:
            ctx.progress(0.1 + 0.85 * min(1.0, seconds / total), "transcribing")

        with clear_errors(item, path):
            transcript = transcribe(
                path,
                engine=engine,
                language=str(language) if language else None,
                progress=on_seconds,
            )
    ctx.check()
    return store_transcript(ctx, item.id, transcript, source=None)


# --- on-screen text ------------------------------------------------------------------------------


def ocr_step(ctx: StepContext) -> StepOutput:
    item = load_item(ctx)
    grid = float(ctx.params.get("grid_seconds", 10.0))
    max_frames = int(ctx.params.get("max_frames", 200))
    annotations: list[NewAnnotation] = []
    with local_copy(ctx, item) as path:
        info = _probe(item, path)
        with clear_errors(item, path):
            if info.kind == "image":
                if item.size > MAX_OCR_IMAGE_BYTES:
                    raise RefusedInputError(f"{item_label(item)}: an image over 64 MB is not read")
                boxes = ocr_image(path.read_bytes())
                if boxes:
                    annotations.append(_ocr_annotation(item.id, None, boxes))
            elif info.kind == "video":
                duration = _duration(info) or 1.0
                for keyframe in extract_keyframes(
                    path, grid_seconds=grid, max_frames=max_frames, max_side=1280
                ):
                    boxes = ocr_image(keyframe.jpeg)
                    if boxes:
                        annotations.append(_ocr_annotation(item.id, keyframe.time, boxes))
                    ctx.progress(0.1 + 0.85 * min(1.0, keyframe.time / duration), "reading text")
            else:
                raise MediaError(
                    f"{item_label(item)} is {info.kind}-only: it has no pictures to read text from"
                )
    return StepOutput(
        annotations=annotations,
        result={"frames_with_text": len(annotations)},
        ledger_params={
            "engine": "rapidocr",
            "grid_seconds": grid,
            "max_frames": max_frames,
            **_tool_params(),
        },
    )


def _ocr_annotation(item_id: int, time: float | None, boxes: list[Any]) -> NewAnnotation:
    return NewAnnotation(
        item_id,
        "ocr_text",
        {"text": "\n".join(b.text for b in boxes), "boxes": [b.to_dict() for b in boxes]},
        start=time,
        end=time,
    )


# --- captions ----------------------------------------------------------------------------------


def captions_step(ctx: StepContext) -> StepOutput:
    """Import a caption file already in the vault (``params.source_item``) as a transcript."""
    from testigo.jobs.transcripts import store_transcript
    from testigo.media import parse_captions

    source_id = ctx.params.get("source_item")
    if not isinstance(source_id, int):
        raise RefusedInputError("a captions job needs the caption file's item id (source_item)")
    load_item(ctx)
    with ctx.vault.reading() as session:
        source = session.get(EvidenceItem, source_id)
        if source is None:
            raise NotFoundError(f"there is no caption item {source_id}")
        sha256, size = source.sha256, source.size
    if size > MAX_CAPTION_BYTES:
        raise RefusedInputError(f"item {source_id}: a caption file over 20 MB is not plausible")
    with ctx.vault.blobs.open(sha256) as stream:
        data = stream.read()
    filename = str(ctx.params.get("filename") or f"item-{source_id}.srt")
    transcript = parse_captions(data, filename)
    return store_transcript(ctx, ctx.item_id, transcript, source=(source_id, sha256))


register_step("probe", probe_step, "what the file is: streams, times, device, place, doubts")
register_step("keyframes", keyframes_step, "keyframes and a thumbnail, stored as derived items")
register_step("fingerprint", fingerprint_step, "perceptual fingerprint and re-upload/clip matches")
register_step("speech", speech_step, "where people speak (voice activity segments)")
register_step("transcript", transcript_step, "speech to text with timestamps")
register_step("ocr", ocr_step, "text on screen, read from keyframes")
register_step("captions", captions_step, "import a caption file in the vault as a transcript")


def run_step(ctx: StepContext) -> StepOutput:
    spec = STEPS.get(ctx.step)
    if spec is None:
        raise RefusedInputError(f"this worker does not know the step {ctx.step!r}")
    output = spec.function(ctx)
    if not ctx.committed_flag:
        ctx.commit(output)
    return output


def redact_step(ctx: StepContext) -> StepOutput:
    """A redacted, signed copy; the face model is loaded only when a redaction runs."""
    from testigo.protect.job import redact_step as run

    return run(ctx)


register_step("redact", redact_step, "a redacted, signed copy (faces, boxes, sound, metadata)")


def c2pa_step(ctx: StepContext) -> StepOutput:
    """The Content Credentials (C2PA) a file carries, read and checked (protect.c2pa_step)."""
    from testigo.protect.c2pa_step import c2pa_step as run

    return run(ctx)


register_step("c2pa", c2pa_step, "Content Credentials (C2PA): signer, actions, ingredients")
