"""Transcripts: machine-made or imported from captions, editable, with every version kept.

A transcript is a ``transcript`` annotation (which engine, which file holds it) and one
``transcript_line`` annotation per segment, each with its time range. Correcting a line adds a
new line that ``supersedes`` it, with the editor, the reason and the previous text, under an
``annotation.edit`` ledger entry; nothing is overwritten, so the machine version is always there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from sqlalchemy import select

from testigo.errors import NotFoundError, UsageError
from testigo.jobs.context import StepContext, StepOutput
from testigo.jobs.models import Annotation
from testigo.jobs.results import NewAnnotation, annotations_for, write_annotations
from testigo.media import Transcript, parse_captions
from testigo.vault import ledger
from testigo.vault.derive import prepare_derived, record_derived
from testigo.vault.service import Vault

TRANSCRIPT_MEDIA_TYPE = "application/vnd.testigo.transcript+json"
MAX_CAPTION_BYTES = 20 * 1024 * 1024
CAPTION_MEDIA_TYPES = {".vtt": "text/vtt", ".srt": "application/x-subrip"}


@dataclass(frozen=True)
class TranscriptInfo:
    """One transcript of an item: which file holds it and what made it."""

    transcript_item: int
    sha256: str
    engine: str
    model: str | None
    language: str | None
    lines: int
    origin: str  # "machine" or "captions"
    annotation_id: int

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass(frozen=True)
class TranscriptLine:
    annotation_id: int
    start: float | None
    end: float | None
    text: str
    edited: bool
    original_id: int
    edited_by: str | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def transcript_annotations(
    item_id: int,
    transcript: Transcript,
    *,
    transcript_item: int,
    sha256: str,
    origin: str,
) -> list[NewAnnotation]:
    header = NewAnnotation(
        item_id,
        "transcript",
        {
            "transcript_item": transcript_item,
            "sha256": sha256,
            "engine": transcript.engine,
            "model": transcript.model,
            "language": transcript.language,
            "lines": len(transcript.segments),
            "origin": origin,
            "warnings": list(transcript.warnings),
        },
        start=round(transcript.start, 3),
        end=round(transcript.end, 3),
    )
    lines = []
    for number, segment in enumerate(transcript.segments):
        data: dict[str, Any] = {
            "text": segment.text,
            "transcript_item": transcript_item,
            "index": number,
        }
        if segment.words:
            data["words"] = [
                {"start": w.start, "end": w.end, "text": w.text, "confidence": w.confidence}
                for w in segment.words
            ]
        lines.append(
            NewAnnotation(item_id, "transcript_line", data, start=segment.start, end=segment.end)
        )
    return [header, *lines]


def store_transcript(
    ctx: StepContext,
    item_id: int,
    transcript: Transcript,
    *,
    source: tuple[int, str] | None,
) -> StepOutput:
    """The job's output for a transcript; a machine transcript is kept as a derived file.

    The file's blob is written now; its item is recorded with the annotations, at the commit.
    """
    result = {
        "lines": len(transcript.segments),
        "engine": transcript.engine,
        "model": transcript.model,
    }
    ledger_params = {"engine": transcript.engine, "model": transcript.model}
    if source is not None:
        transcript_item, sha256 = source
        return StepOutput(
            annotations=transcript_annotations(
                item_id,
                transcript,
                transcript_item=transcript_item,
                sha256=sha256,
                origin="captions",
            ),
            result={**result, "transcript": sha256},
            ledger_params=ledger_params,
        )
    body = json.dumps(transcript.to_dict(), ensure_ascii=False, sort_keys=True).encode()
    prepared = prepare_derived(
        ctx.vault,
        body,
        parents=[item_id],
        derivation="transcript",
        params={
            "engine": transcript.engine,
            "model": transcript.model,
            "language": transcript.language,
        },
        actor=ctx.actor,
        media_type=TRANSCRIPT_MEDIA_TYPE,
    )
    return StepOutput(
        result={**result, "transcript": prepared.sha256},
        ledger_params=ledger_params,
        derived=[prepared],
        annotate=lambda stored: transcript_annotations(
            item_id,
            transcript,
            transcript_item=stored[0].item_id,
            sha256=stored[0].sha256,
            origin="machine",
        ),
    )


def import_captions(
    vault: Vault, item_id: int, data: bytes, filename: str, actor: str
) -> TranscriptInfo:
    """Keep a caption file (SRT or WebVTT) with the item and import it as a transcript.

    Refused whole if the file is not captions; otherwise the file itself is stored as a derived
    item of the media it captions and its cues become transcript lines, ledgered together in one
    transaction.
    """
    transcript = parse_captions(data, filename)
    suffix = PurePath(filename).suffix.lower()
    prepared = prepare_derived(
        vault,
        data,
        parents=[item_id],
        derivation="captions",
        params={"filename": filename, "format": transcript.model},
        actor=actor,
        media_type=CAPTION_MEDIA_TYPES.get(suffix, "text/plain"),
        kind="captions",
        details={"filename": filename},
    )
    with vault.transaction() as session:
        stored = record_derived(session, prepared)
        batch = write_annotations(
            session,
            transcript_annotations(
                item_id,
                transcript,
                transcript_item=stored.item_id,
                sha256=stored.sha256,
                origin="captions",
            ),
            actor=actor,
            params={"step": "captions", "item_id": item_id, "filename": filename},
        )
    assert batch is not None
    return TranscriptInfo(
        transcript_item=stored.item_id,
        sha256=stored.sha256,
        engine=transcript.engine,
        model=transcript.model,
        language=transcript.language,
        lines=len(transcript.segments),
        origin="captions",
        annotation_id=batch.annotation_ids[0],
    )


def list_transcripts(vault: Vault, item_id: int) -> list[TranscriptInfo]:
    """Every transcript of the item, oldest first."""
    rows = annotations_for(vault, item_id, kinds=["transcript"])
    rows.sort(key=lambda r: r.id)
    return [
        TranscriptInfo(
            transcript_item=int(r.data["transcript_item"]),
            sha256=str(r.data["sha256"]),
            engine=str(r.data.get("engine")),
            model=r.data.get("model"),
            language=r.data.get("language"),
            lines=int(r.data.get("lines", 0)),
            origin=str(r.data.get("origin", "machine")),
            annotation_id=r.id,
        )
        for r in rows
    ]


def _pick(vault: Vault, item_id: int, transcript_item: int | None) -> TranscriptInfo | None:
    found = list_transcripts(vault, item_id)
    if transcript_item is None:
        return found[-1] if found else None
    for info in found:
        if info.transcript_item == transcript_item:
            return info
    raise NotFoundError(f"item {item_id} has no transcript {transcript_item}")


def _lines(vault: Vault, item_id: int, transcript_item: int) -> list[Annotation]:
    return [
        row
        for row in annotations_for(vault, item_id, kinds=["transcript_line"])
        if row.data.get("transcript_item") == transcript_item
    ]


def _line(row: Annotation) -> TranscriptLine:
    return TranscriptLine(
        annotation_id=row.id,
        start=row.start_seconds,
        end=row.end_seconds,
        text=str(row.data.get("text", "")),
        edited=row.supersedes is not None,
        original_id=int(row.data.get("original", row.id)),
        edited_by=row.created_by if row.supersedes is not None else None,
        reason=row.data.get("reason"),
    )


def current_transcript(
    vault: Vault, item_id: int, *, transcript_item: int | None = None
) -> list[TranscriptLine]:
    """The newest transcript (or the one named) with every correction applied, in time order."""
    info = _pick(vault, item_id, transcript_item)
    if info is None:
        return []
    rows = _lines(vault, item_id, info.transcript_item)
    replaced = {r.supersedes for r in rows if r.supersedes is not None}
    return [_line(r) for r in rows if r.id not in replaced]


def machine_transcript(
    vault: Vault, item_id: int, *, transcript_item: int | None = None
) -> list[TranscriptLine]:
    """The transcript as the engine (or the caption file) gave it, before any correction."""
    info = _pick(vault, item_id, transcript_item)
    if info is None:
        return []
    rows = _lines(vault, item_id, info.transcript_item)
    return [_line(r) for r in rows if r.supersedes is None]


def edit_transcript_line(
    vault: Vault, annotation_id: int, new_text: str, actor: str, reason: str
) -> TranscriptLine:
    """Correct one line: a new line supersedes it; the old one stays, and the edit is ledgered."""
    if not reason.strip():
        raise UsageError("say why the line is changed (--reason): the edit is kept in the ledger")
    new_text = " ".join(new_text.split())
    with vault.transaction() as session:
        ledger.lock_ledger(session)  # two editors of one line: the second sees the first's edit
        row = session.get(Annotation, annotation_id)
        if row is None or row.kind != "transcript_line":
            raise NotFoundError(f"there is no transcript line {annotation_id}")
        newer = session.scalars(
            select(Annotation.id).where(Annotation.supersedes == annotation_id).limit(1)
        ).first()
        if newer is not None:
            raise UsageError(
                f"transcript line {annotation_id} was already corrected; edit line {newer}, "
                "its current version"
            )
        if new_text == row.data.get("text"):
            raise UsageError("the new text is the same as the current text")
        data = {
            **row.data,
            "text": new_text,
            "previous_text": row.data.get("text"),
            "reason": reason.strip(),
            "original": int(row.data.get("original", row.id)),
        }
        batch = write_annotations(
            session,
            [
                NewAnnotation(
                    row.item_id,
                    "transcript_line",
                    data,
                    start=row.start_seconds,
                    end=row.end_seconds,
                    supersedes=row.id,
                )
            ],
            actor=actor,
            params={"edit_of": row.id, "reason": reason.strip()},
            entry_type="annotation.edit",
        )
        assert batch is not None
        new_row = session.get(Annotation, batch.annotation_ids[0])
        assert new_row is not None
        return _line(new_row)
