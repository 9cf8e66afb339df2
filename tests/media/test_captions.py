from __future__ import annotations

import pytest

from testigo.errors import RefusedInputError
from testigo.media import parse_captions

SRT = b"""1
00:00:01,000 --> 00:00:03,500
<i>Open the door.</i>
I have a warrant.

2
00:01:02,250 --> 00:01:04,000
{\\an8}Show me the warrant.
"""

VTT = b"""WEBVTT
Language: es

NOTE written by the platform
spans two lines

intro
00:01.000 --> 00:02.500 align:start
<v Officer>Abra la puerta.</v>

00:00:03.000 --> 00:00:04.000
&iquest;Tiene una orden?
"""


def test_srt() -> None:
    transcript = parse_captions(SRT, "clip.srt")
    assert transcript.engine == "captions" and transcript.model == "srt"
    assert [(s.start, s.end) for s in transcript.segments] == [(1.0, 3.5), (62.25, 64.0)]
    assert transcript.segments[0].text == "Open the door. I have a warrant."
    assert transcript.segments[1].text == "Show me the warrant."
    assert transcript.start == 1.0 and transcript.end == 64.0
    assert transcript.to_dict()["end"] == 64.0
    assert "words" not in transcript.to_dict()["segments"][0]


def test_webvtt() -> None:
    transcript = parse_captions(VTT, "clip.vtt")
    assert transcript.model == "webvtt" and transcript.language == "es"
    assert [s.text for s in transcript.segments] == ["Abra la puerta.", "¿Tiene una orden?"]
    assert transcript.segments[0].start == 1.0


def test_crlf_and_bom() -> None:
    data = b"\xef\xbb\xbf" + SRT.replace(b"\n", b"\r\n")
    assert len(parse_captions(data, "x.srt").segments) == 2


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"", "empty.srt"),
        (b"hello world\n", "notes.srt"),
        (b"\x00\x01\x02binary", "x.srt"),
        (b"1\n00:00:05,000 --> 00:00:01,000\nbackwards\n", "x.srt"),
        (b"1\n00:00:75,000 --> 00:00:76,000\nbad seconds\n", "x.srt"),
        (b"00:01.000 --> 00:02.000\nno header\n", "x.vtt"),
    ],
)
def test_refused(data: bytes, name: str) -> None:
    with pytest.raises(RefusedInputError):
        parse_captions(data, name)
