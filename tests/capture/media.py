"""Real WebM recordings cut at cluster boundaries, as MediaRecorder's timeslices are."""

from __future__ import annotations

import io
import itertools
from fractions import Fraction

import av
import numpy as np

CLUSTER_ID = b"\x1f\x43\xb6\x75"


def make_webm(seconds: float = 6.0, fps: int = 10, size: tuple[int, int] = (96, 64)) -> bytes:
    """A live-style WebM (VP8, no cues, unknown sizes) with a cluster about every second."""
    buffer = io.BytesIO()
    container = av.open(
        buffer,
        "w",
        format="webm",
        options={"live": "1", "cluster_time_limit": "1000"},
    )
    stream = container.add_stream("libvpx", rate=fps)
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    stream.codec_context.gop_size = fps
    stream.codec_context.time_base = Fraction(1, fps)
    frames = int(seconds * fps)
    for i in range(frames):
        image = np.zeros((size[1], size[0], 3), dtype=np.uint8)
        image[:, : (i * 7) % size[0]] = (i * 11) % 255
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = i
        frame.time_base = Fraction(1, fps)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return buffer.getvalue()


def split_clusters(data: bytes) -> list[bytes]:
    """Header plus first cluster, then one piece per following cluster."""
    starts: list[int] = []
    at = data.find(CLUSTER_ID)
    while at != -1:
        starts.append(at)
        at = data.find(CLUSTER_ID, at + 4)
    assert len(starts) >= 2, "the test recording needs several clusters"
    cuts = [0, *starts[1:], len(data)]
    return [data[a:b] for a, b in itertools.pairwise(cuts)]


def decoded_frames(data: bytes) -> int:
    """How many video frames PyAV decodes from ``data`` (0 if it cannot open it)."""
    with av.open(io.BytesIO(data)) as container:
        count = 0
        for _frame in container.decode(video=0):
            count += 1
        return count
