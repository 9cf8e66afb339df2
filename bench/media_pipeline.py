"""Benchmark: probe + keyframes + perceptual hashes of a long 720p video.

Generates a synthetic video (10 minutes, 1280x720, 30 fps, libx264 ultrafast by default) once in
a temporary folder (or ``--cache-dir``), then times, against a PyAV decode-only pass of the same
file measured in the same run:

- ``probe``;
- ``analyze_video`` (keyframes and fingerprint from one decoding pass), the ingest path;
- with ``--separate``, ``extract_keyframes`` and ``fingerprint_video`` on their own.

Peak memory (RSS) of this process is reported; the video is generated in a child process so it
does not count. Target: probe + keyframes + hashes under 60 s for the 10-minute video.

    .venv/bin/python bench/media_pipeline.py [--minutes 10] [--cache-dir DIR] [--separate]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

import av  # noqa: E402

from testigo.media import (  # noqa: E402
    analyze_video,
    extract_keyframes,
    fingerprint_video,
    probe,
)


def generate(path: Path, minutes: float, width: int, height: int, fps: int) -> None:
    """Write the test video in a child process, so its memory is not counted here."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from pathlib import Path; from tests.media import synth;"
        "synth.write_video(Path(sys.argv[2]), synth.fast_yuv_frames(float(sys.argv[3]) * 60,"
        " width=int(sys.argv[4]), height=int(sys.argv[5]), fps=int(sys.argv[6])),"
        " fps=int(sys.argv[6]), input_format='yuv420p')"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(ROOT), str(path), str(minutes), str(width),
         str(height), str(fps)],
        check=True,
    )


def decode_only(path: Path) -> tuple[float, int]:
    """Baseline: decode every frame with FFmpeg's threads, doing nothing with them."""
    start = time.perf_counter()
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            count += 1
    return time.perf_counter() - start, count


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="keep the generated video here and reuse it on later runs")
    parser.add_argument("--separate", action="store_true",
                        help="also time extract_keyframes and fingerprint_video on their own")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.cache_dir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        video = folder / f"bench-{args.minutes:g}min-{args.width}x{args.height}-{args.fps}.mp4"
        if not video.exists():
            started = time.perf_counter()
            generate(video, args.minutes, args.width, args.height, args.fps)
            print(f"generated {video.name} ({video.stat().st_size / 1e6:.1f} MB) "
                  f"in {time.perf_counter() - started:.1f} s")
        rss_before = peak_rss_mib()

        baseline, frames = decode_only(video)
        print(f"baseline  decode-only pass   {baseline:7.2f} s  ({frames} frames, "
              f"{frames / baseline:.0f} fps)")

        started = time.perf_counter()
        facts = probe(video)
        probe_time = time.perf_counter() - started
        print(f"probe                        {probe_time:7.2f} s  ({probe_time / baseline:.3f}x "
              f"baseline; duration {facts.duration:.0f} s)")

        started = time.perf_counter()
        analysis = analyze_video(video)
        analyze_time = time.perf_counter() - started
        print(f"analyze_video (one pass)     {analyze_time:7.2f} s  "
              f"({analyze_time / baseline:.2f}x baseline; {len(analysis.keyframes)} keyframes, "
              f"{len(analysis.fingerprint)} hashes)")
        total = probe_time + analyze_time
        print(f"probe + keyframes + hashes   {total:7.2f} s  ({total / baseline:.2f}x baseline; "
              f"target < 60 s: {'met' if total < 60 else 'NOT met'})")

        if args.separate:
            started = time.perf_counter()
            keyframes = list(extract_keyframes(video))
            keyframe_time = time.perf_counter() - started
            started = time.perf_counter()
            fingerprint = fingerprint_video(video)
            fingerprint_time = time.perf_counter() - started
            print(f"extract_keyframes            {keyframe_time:7.2f} s  "
                  f"({keyframe_time / baseline:.2f}x baseline; {len(keyframes)} keyframes)")
            print(f"fingerprint_video            {fingerprint_time:7.2f} s  "
                  f"({fingerprint_time / baseline:.2f}x baseline; {len(fingerprint)} hashes)")

        print(f"peak RSS {peak_rss_mib():.0f} MiB (before decoding: {rss_before:.0f} MiB); "
              f"video {video.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
