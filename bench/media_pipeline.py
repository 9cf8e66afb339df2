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
import os
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
        [
            sys.executable,
            "-c",
            code,
            str(ROOT),
            str(path),
            str(minutes),
            str(width),
            str(height),
            str(fps),
        ],
        check=True,
    )


class Timer:
    """Wall time and CPU time of this process (all its threads) over a block.

    CPU time is reported too because this machine is shared: wall time swings with other
    people's load, CPU time much less.
    """

    def __enter__(self) -> Timer:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


def decode_only(path: Path) -> tuple[Timer, int]:
    """Baseline: decode every frame with FFmpeg's threads, doing nothing with them."""
    count = 0
    with Timer() as timer, av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            count += 1
    return timer, count


def line(label: str, timer: Timer, baseline: Timer, note: str = "") -> str:
    return (
        f"{label:<28} wall {timer.wall:7.2f} s ({timer.wall / baseline.wall:5.2f}x)  "
        f"cpu {timer.cpu:7.2f} s ({timer.cpu / baseline.cpu:5.2f}x)  {note}"
    )


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="keep the generated video here and reuse it on later runs",
    )
    parser.add_argument(
        "--separate",
        action="store_true",
        help="also time extract_keyframes and fingerprint_video on their own",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.cache_dir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        video = folder / f"bench-{args.minutes:g}min-{args.width}x{args.height}-{args.fps}.mp4"
        if not video.exists():
            started = time.perf_counter()
            generate(video, args.minutes, args.width, args.height, args.fps)
            print(
                f"generated {video.name} ({video.stat().st_size / 1e6:.1f} MB) "
                f"in {time.perf_counter() - started:.1f} s"
            )
        rss_before = peak_rss_mib()

        baseline, frames = decode_only(video)
        print(
            line(
                "baseline decode-only pass",
                baseline,
                baseline,
                f"{frames} frames, {frames / baseline.wall:.0f} fps",
            )
        )

        with Timer() as probe_timer:
            facts = probe(video)
        print(line("probe", probe_timer, baseline, f"duration {facts.duration:.0f} s"))

        with Timer() as analyze_timer:
            analysis = analyze_video(video)
        print(
            line(
                "analyze_video (one pass)",
                analyze_timer,
                baseline,
                f"{len(analysis.keyframes)} keyframes, {len(analysis.fingerprint)} hashes",
            )
        )
        total_wall = probe_timer.wall + analyze_timer.wall
        total_cpu = probe_timer.cpu + analyze_timer.cpu
        print(
            f"probe + keyframes + hashes   wall {total_wall:7.2f} s  cpu {total_cpu:7.2f} s  "
            f"target < 60 s: {'met' if total_wall < 60 else 'NOT met'} (wall), "
            f"{'met' if total_cpu < 60 else 'NOT met'} (cpu)"
        )

        if args.separate:
            with Timer() as keyframe_timer:
                keyframes = list(extract_keyframes(video))
            print(
                line("extract_keyframes", keyframe_timer, baseline, f"{len(keyframes)} keyframes")
            )
            with Timer() as fingerprint_timer:
                fingerprint = fingerprint_video(video)
            print(
                line("fingerprint_video", fingerprint_timer, baseline, f"{len(fingerprint)} hashes")
            )

        load = os.getloadavg()[0]
        print(f"load average (1 min) at the end: {load:.1f} on {os.cpu_count()} cores")
        print(
            f"peak RSS {peak_rss_mib():.0f} MiB (before decoding: {rss_before:.0f} MiB); "
            f"video {video.stat().st_size / 1e6:.1f} MB"
        )


if __name__ == "__main__":
    main()
