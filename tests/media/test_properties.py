"""Property-based tests for the invariants of the media library's pure parts."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from testigo.media import VideoFingerprint, parse_captions
from testigo.media._metadata import location_from_iso6709, make_location
from testigo.media.fingerprint import content_box


@st.composite
def fingerprints(draw: st.DrawFn) -> VideoFingerprint:
    count = draw(st.integers(min_value=0, max_value=40))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    rng = np.random.default_rng(seed)
    fps = draw(st.sampled_from([0.5, 1.0, 2.0, 4.0]))
    return VideoFingerprint(
        times=(np.arange(count) / fps).astype(np.float32),
        hashes=rng.integers(0, 256, (count, 32), dtype=np.uint8),
        mirrored=rng.integers(0, 256, (count, 32), dtype=np.uint8),
        quality=rng.integers(0, 101, count, dtype=np.uint8),
        duration=float(draw(st.floats(min_value=0, max_value=1e5))),
        fps=fps,
    )


@given(fingerprints())
def test_fingerprint_bytes_round_trip(fingerprint: VideoFingerprint) -> None:
    again = VideoFingerprint.from_bytes(fingerprint.to_bytes())
    assert np.array_equal(again.times, fingerprint.times)
    assert np.array_equal(again.hashes, fingerprint.hashes)
    assert np.array_equal(again.mirrored, fingerprint.mirrored)
    assert np.array_equal(again.quality, fingerprint.quality)
    assert again.duration == fingerprint.duration and again.fps == fingerprint.fps


@settings(max_examples=60)
@given(
    st.integers(min_value=0, max_value=40),
    st.integers(min_value=0, max_value=40),
    st.integers(min_value=0, max_value=60),
    st.integers(min_value=0, max_value=60),
    st.integers(min_value=0, max_value=2**32 - 1),
)
def test_bars_of_any_size_are_cut(top: int, bottom: int, left: int, right: int, seed: int) -> None:
    picture = np.random.default_rng(seed).integers(50, 256, size=(60, 100)).astype(np.uint8)
    framed = np.zeros((60 + top + bottom, 100 + left + right), dtype=np.uint8)
    framed[top : top + 60, left : left + 100] = picture
    assert content_box(framed) == (top, top + 60, left, left + 100)


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=10 * 3600 * 1000),
            st.integers(min_value=0, max_value=60_000),
            st.text(
                alphabet=st.characters(
                    whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters=" .,?!¿¡"
                ),
                min_size=1,
                max_size=40,
            ).filter(lambda t: t.strip() != ""),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_srt_round_trip(cues: list[tuple[int, int, str]]) -> None:
    def stamp(ms: int) -> str:
        hours, minutes, seconds = ms // 3_600_000, ms // 60_000 % 60, ms // 1000 % 60
        return f"{hours:02d}:{minutes:02d}:{seconds:02d},{ms % 1000:03d}"

    blocks = [
        f"{n}\n{stamp(start)} --> {stamp(start + length)}\n{text}\n"
        for n, (start, length, text) in enumerate(cues, 1)
    ]
    transcript = parse_captions("\n".join(blocks).encode(), "cues.srt")
    expected = sorted(
        (round(start / 1000, 3), round((start + length) / 1000, 3), " ".join(text.split()))
        for start, length, text in cues
    )
    got = [(s.start, s.end, s.text) for s in transcript.segments]
    assert sorted(got) == expected


@given(
    st.floats(min_value=-90, max_value=90),
    st.floats(min_value=-180, max_value=180),
    st.one_of(st.none(), st.floats(min_value=-500, max_value=9000)),
)
def test_iso6709_round_trip(latitude: float, longitude: float, altitude: float | None) -> None:
    location = make_location(latitude, longitude, altitude)
    parsed = location_from_iso6709(location.iso6709)
    assert parsed is not None
    assert abs(parsed.latitude - latitude) <= 5e-5
    assert abs(parsed.longitude - longitude) <= 5e-5
    assert parsed.iso6709 == location.iso6709
