"""Benchmark: transcription speed of the default engine against real time.

Builds a speech track with espeak-ng (sentences of an encounter, with pauses, repeated to the
length asked; 5 minutes by default), encodes it as AAC in an ``.m4a``, and times:

- baseline: decoding and resampling the audio to 16 kHz mono (the floor for any engine);
- ``detect_speech`` (Silero VAD);
- ``transcribe`` with the default engine (Moonshine tiny, bundled model).

The real-time factor is processing time divided by audio length; the target is under 0.1.

    .venv/bin/python bench/transcribe.py [--minutes 5] [--engine auto]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from testigo.media import detect_speech, transcribe  # noqa: E402
from testigo.media.speech import decode_audio  # noqa: E402

SENTENCES = [
    "Open the door. I have a warrant.",
    "Show me the warrant please. I want to see it.",
    "Step out of the car now.",
    "I am recording this. My children are in the car.",
    "You are not allowed to break the window.",
    "Put your hands behind your back.",
    "Which agency are you with? What is your badge number?",
    "We are calling our lawyer right now.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--engine", default="auto")
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is needed (apt-get install espeak-ng)")

    from tests.media import synth

    pieces: list[np.ndarray] = []
    spans: list[tuple[float, float, str]] = []
    position = 0.0
    while position < args.minutes * 60:
        audio, cue = synth.speech_track(SENTENCES, gap_seconds=1.2, lead_seconds=0.5)
        pieces.append(audio)
        spans.extend((start + position, end + position, text) for start, end, text in cue)
        position += len(audio) / 16_000
    track = np.concatenate(pieces)
    seconds = len(track) / 16_000

    with tempfile.TemporaryDirectory() as scratch:
        path = synth.write_audio(Path(scratch) / "speech.m4a", track)
        print(
            f"speech track: {seconds:.0f} s, {len(spans)} sentences, "
            f"{path.stat().st_size / 1e6:.1f} MB AAC"
        )

        wall, cpu = time.perf_counter(), time.process_time()
        _, chunks = decode_audio(path)
        samples = sum(len(chunk) for chunk in chunks)
        base_wall, base_cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"baseline decode + resample  wall {base_wall:7.2f} s (RTF {base_wall / seconds:.4f})"
            f"  cpu {base_cpu:7.2f} s (RTF {base_cpu / seconds:.4f}); "
            f"{samples / 16_000:.0f} s decoded"
        )

        wall, cpu = time.perf_counter(), time.process_time()
        segments = detect_speech(path)
        vad_wall, vad_cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"detect_speech               wall {vad_wall:7.2f} s (RTF {vad_wall / seconds:.4f})"
            f"  cpu {vad_cpu:7.2f} s (RTF {vad_cpu / seconds:.4f}); "
            f"{vad_wall / base_wall:.1f}x baseline; {len(segments)} segments"
        )

        wall, cpu = time.perf_counter(), time.process_time()
        result = transcribe(path, engine=args.engine)
        asr_wall, asr_cpu = time.perf_counter() - wall, time.process_time() - cpu
        verdict = "met" if asr_wall / seconds < 0.1 else "NOT met"
        print(
            f"transcribe                  wall {asr_wall:7.2f} s (RTF {asr_wall / seconds:.4f})"
            f"  cpu {asr_cpu:7.2f} s (RTF {asr_cpu / seconds:.4f}); "
            f"{asr_wall / base_wall:.1f}x baseline; engine {result.engine} ({result.model}); "
            f"target RTF < 0.1: {verdict} (wall)"
        )
        print(f"load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

        expected = re.findall(r"[a-z']+", " ".join(text for _, _, text in spans).lower())
        heard = set(re.findall(r"[a-z']+", result.text.lower()))
        recall = sum(1 for word in expected if word in heard) / max(1, len(expected))
        print(
            f"{len(result.segments)} transcript segments; word recall (bag of words) {recall:.0%}"
        )
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
