"""Transcripts: captions import, corrections that keep the machine version, all ledgered."""

from __future__ import annotations

from pathlib import Path

import pytest

from testigo.errors import NotFoundError, RefusedInputError, UsageError
from testigo.jobs.results import annotations_for, verify_annotations
from testigo.jobs.transcripts import (
    current_transcript,
    edit_transcript_line,
    import_captions,
    list_transcripts,
    machine_transcript,
)
from testigo.vault import ledger
from testigo.vault.service import Vault
from testigo.vault.verify import verify_vault

from .conftest import ingest

SRT = b"""1
00:00:01,000 --> 00:00:02,500
Open the door. I have a warrant.

2
00:00:03,000 --> 00:00:04,000
Show me the warrant please.
"""

VTT = b"""WEBVTT
Language: es

00:00.500 --> 00:01.500
Abra la puerta.
"""


def test_captions_import_edit_and_machine_version(
    vault: Vault, media: dict[str, Path], no_auto: None
) -> None:
    item = ingest(vault, media["video"]).item_id
    info = import_captions(vault, item, SRT, "phone.srt", "test:alice")
    assert info.lines == 2 and info.origin == "captions"
    assert vault.blobs.exists(info.sha256)  # the caption file itself is kept
    lines = current_transcript(vault, item)
    assert [(line.start, line.end) for line in lines] == [(1.0, 2.5), (3.0, 4.0)]

    edited = edit_transcript_line(
        vault, lines[0].annotation_id, "Open the door, I have a warrant!", "test:bob", "re-listened"
    )
    assert edited.edited and edited.original_id == lines[0].annotation_id
    now = current_transcript(vault, item)
    assert [line.text for line in now] == [
        "Open the door, I have a warrant!",
        "Show me the warrant please.",
    ]
    assert now[0].start == 1.0 and now[0].edited_by == "test:bob"
    assert [line.text for line in machine_transcript(vault, item)] == [
        "Open the door. I have a warrant.",
        "Show me the warrant please.",
    ]
    # An edit of an old version is refused: edit the current one.
    with pytest.raises(UsageError, match="already corrected"):
        edit_transcript_line(vault, lines[0].annotation_id, "again", "test:bob", "why")
    again = edit_transcript_line(vault, edited.annotation_id, "Open the door!", "test:bob", "typo")
    assert again.original_id == lines[0].annotation_id
    assert current_transcript(vault, item)[0].text == "Open the door!"
    with pytest.raises(UsageError, match="why"):
        edit_transcript_line(vault, again.annotation_id, "x", "test:bob", " ")
    with pytest.raises(NotFoundError):
        edit_transcript_line(vault, 123_456, "x", "test:bob", "r")

    # Each edit is its own ledger entry naming the line it corrects.
    with vault.reading() as session:
        sha = f"sha256:{ingest(vault, media['video']).sha256}"
        types = [e.entry_type for e in ledger.entries_for_subject(session, sha)]
    assert types.count("annotation.edit") == 2
    rows = annotations_for(vault, item, kinds=["transcript_line"])
    assert len(rows) == 4  # two machine lines, two corrections: nothing overwritten

    spanish = import_captions(vault, item, VTT, "es.vtt", "test:alice")
    assert spanish.language == "es"
    assert [t.transcript_item for t in list_transcripts(vault, item)] == [
        info.transcript_item,
        spanish.transcript_item,
    ]
    assert [line.text for line in current_transcript(vault, item)] == ["Abra la puerta."]
    older = current_transcript(vault, item, transcript_item=info.transcript_item)
    assert older[0].text == "Open the door!"
    assert verify_annotations(vault).ok and verify_vault(vault).ok


def test_bad_captions_are_refused_whole(
    vault: Vault, media: dict[str, Path], no_auto: None
) -> None:
    item = ingest(vault, media["video"]).item_id
    with pytest.raises(RefusedInputError):
        import_captions(vault, item, b"just some words\n", "notes.srt", "test:alice")
    with pytest.raises(RefusedInputError):
        import_captions(vault, item, b"1\n00:00:05,000 --> 00:00:01,000\nx\n", "b.srt", "t")
    assert list_transcripts(vault, item) == []
    assert annotations_for(vault, item) == []
