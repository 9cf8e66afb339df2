"""Time ranges, transcript look-ups, box syntax, and the `testigo` commands end to end."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from testigo.errors import UsageError
from testigo.protect.audio import TimeRange, merge_ranges, ranges_from_transcript
from testigo.protect.redact_video import ManualBox
from testigo.vault.service import Vault

from .conftest import counts, ingest
from .facesynth import FaceClip

SEGMENTS = [
    {
        "start": 0.0,
        "end": 2.0,
        "text": "Her name is María López.",
        "words": [
            {"start": 0.0, "end": 0.3, "text": "Her"},
            {"start": 0.3, "end": 0.6, "text": "name"},
            {"start": 0.6, "end": 0.8, "text": "is"},
            {"start": 0.9, "end": 1.3, "text": "María"},
            {"start": 1.3, "end": 1.8, "text": "López."},
        ],
    },
    {"start": 3.0, "end": 5.0, "text": "Call maria later."},
]


def test_ranges_from_transcript_words_and_lines() -> None:
    found = ranges_from_transcript(SEGMENTS, "maria lopez", margin=0.1)
    assert found == [TimeRange(0.8, 1.9)]
    # A single word: the timed word, and a whole line where only the line is timed.
    found = ranges_from_transcript(SEGMENTS, ["María"], margin=0.0)
    assert found == [TimeRange(0.9, 1.3), TimeRange(3.0, 5.0)]
    assert ranges_from_transcript(SEGMENTS, "nobody") == []
    with pytest.raises(UsageError):
        ranges_from_transcript(SEGMENTS, "  ")
    with pytest.raises(UsageError):
        ranges_from_transcript([{"text": "no times"}], "no")


def test_time_range_and_box_syntax() -> None:
    assert TimeRange.parse("12.5-14") == TimeRange(12.5, 14.0)
    assert TimeRange.parse("1:02-1:04.5") == TimeRange(62.0, 64.5)
    assert TimeRange.parse("0:01:00-0:01:01") == TimeRange(60.0, 61.0)
    for bad in ("5-2", "abc", "1-", "-1-2"):
        with pytest.raises(UsageError):
            TimeRange.parse(bad)
    box = ManualBox.parse("10,20,64,48@1.5-4")
    assert (box.x, box.y, box.w, box.h, box.start, box.end) == (10, 20, 64, 48, 1.5, 4.0)
    assert box.active(2.0) and not box.active(4.5)
    whole = ManualBox.parse("0,0,8,8")
    assert whole.active(10_000.0) and whole.to_dict()["end"] is None
    for bad in ("1,2,3", "1,2,0,4", "a,b,c,d@1-2"):
        with pytest.raises(UsageError):
            ManualBox.parse(bad)


@given(
    st.lists(
        st.tuples(st.floats(0, 100), st.floats(0.01, 10)).map(lambda p: (p[0], p[0] + p[1])),
        max_size=12,
    )
)
def test_merged_ranges_are_disjoint_and_cover_the_same_time(
    pairs: list[tuple[float, float]],
) -> None:
    ranges = [TimeRange(a, b) for a, b in pairs]
    merged = merge_ranges(ranges)
    for first, second in itertools.pairwise(merged):
        assert first.end < second.start
    for r in ranges:
        assert any(m.start <= r.start and r.end <= m.end for m in merged)


def _json(out: str) -> Any:
    return json.loads(out)


def test_cli_faces_redact_and_c2pa_show(
    vault: Vault, face_clip: FaceClip, run_main: Any, tmp_path: Path
) -> None:
    item = ingest(vault, face_clip.path)
    code, out, err = run_main("faces", str(item), "--json")
    assert code == 0, err
    listing = _json(out)
    assert [t["track_id"] for t in listing["tracks"]] == [1, 2]
    assert all(Path(t["thumbnail"]).is_file() for t in listing["tracks"])
    assert listing["tracks"][0]["frames"] == face_clip.frames

    transcript = tmp_path / "transcript.json"
    transcript.write_text(json.dumps(SEGMENTS), encoding="utf-8")
    code, out, err = run_main(
        "redact",
        str(item),
        "--faces",
        "tracks 2",
        "--box",
        "0,0,32,32@0-1",
        "--mute",
        "2.0-2.2",
        "--transcript-phrase",
        "maría",
        "--transcript",
        str(transcript),
        "--bleep",
        "--json",
    )
    assert code == 0, err
    result = _json(out)
    params = result["params"]
    assert params["faces"]["tracks_chosen"] == [2]
    assert params["boxes"][0]["end"] == 1.0
    assert params["audio"]["ranges"] == [[0.75, 1.45], [2.0, 2.2], [2.85, 5.15]]
    assert params["audio"]["mode"] == "bleep"

    code, out, err = run_main("c2pa", "show", str(result["item_id"]), "--json")
    assert code == 0, err
    shown = _json(out)
    assert shown["trusted"] and shown["ingredients"][0]["relationship"] == "parentOf"

    code, out, _ = run_main("c2pa", "show", str(face_clip.path), "--json")
    assert code == 0 and _json(out)["present"] is False and _json(out)["status"] == "none"

    code, out, _ = run_main("redact", str(item), "--faces", "none", "--box", "0,0,16,16")
    assert code == 0 and "Redacted copy stored as item" in out

    before = counts(vault)
    code, _, err = run_main("redact", str(item), "--mute", "9-3")
    assert code == 2 and "start < end" in err
    code, _, err = run_main("redact", "424242")
    assert code == 2 and "no item" in err
    assert counts(vault) == before
