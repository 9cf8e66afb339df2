"""On-screen text: a document held to the window, a badge number, a plate, a timestamp overlay.

RapidOCR (PP-OCR models run by ONNX Runtime) reads the text; its detection, direction and
recognition models ship inside the ``rapidocr_onnxruntime`` wheel, so nothing is fetched.
"""

from __future__ import annotations

import io
import os
import threading
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from testigo.errors import RefusedInputError
from testigo.media._container import MAX_PIXELS
from testigo.media.errors import MediaError
from testigo.media.keyframes import extract_keyframes

MAX_IMAGE_BYTES = 64 * 1024 * 1024
MIN_CONFIDENCE = 0.5

_engine: Any = None
_engine_lock = threading.Lock()


@dataclass(frozen=True)
class TextBox:
    """A line of text and where it is: ``box`` is four [x, y] corners, clockwise from top left."""

    text: str
    confidence: float
    box: list[list[int]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FrameText:
    """Text read from the keyframe at ``time`` (seconds from the start of the video)."""

    time: float
    boxes: list[TextBox]

    def to_dict(self) -> dict[str, Any]:
        return {"time": self.time, "boxes": [b.to_dict() for b in self.boxes]}


def _ocr_engine() -> Any:
    global _engine
    with _engine_lock:
        if _engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR  # type: ignore[import-untyped]
            except ImportError as error:
                raise MediaError(
                    "on-screen text reading needs the rapidocr_onnxruntime package"
                ) from error
            try:
                _engine = RapidOCR()
            except Exception as error:  # the package raises plain exceptions on bad models
                raise MediaError(f"the OCR models could not be loaded ({error})") from error
        return _engine


def _load_image(data: bytes) -> np.ndarray:
    if not data:
        raise RefusedInputError("the image is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise RefusedInputError("an image over 64 MB is refused for text reading")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "MPO"):
                raise RefusedInputError(f"{image.format} images are not read; send JPEG or PNG")
            width, height = image.size
            if width * height > MAX_PIXELS or width <= 0 or height <= 0:
                raise RefusedInputError(f"an image of {width}x{height} pixels is refused")
            image.load()
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, Image.DecompressionBombError) as error:
        raise RefusedInputError("not an image (expected JPEG or PNG bytes)") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise MediaError(f"the image is truncated or corrupt ({error})") from error


def ocr_image(jpeg_or_png: bytes, *, min_confidence: float = MIN_CONFIDENCE) -> list[TextBox]:
    """Lines of text in the image, top to bottom, with their confidence (0-1) and corners."""
    rgb = _load_image(jpeg_or_png)
    # The models read black-on-white best at ordinary sizes; tiny pictures are scaled up.
    if max(rgb.shape[:2]) < 320:
        factor = 320 / max(rgb.shape[:2])
        image = Image.fromarray(rgb).resize(
            (round(rgb.shape[1] * factor), round(rgb.shape[0] * factor)), Image.Resampling.BICUBIC
        )
        rgb, scale = np.asarray(image), 1 / factor
    else:
        scale = 1.0
    engine = _ocr_engine()
    try:
        result, _ = engine(rgb[:, :, ::-1].copy())  # the engine expects OpenCV's BGR order
    except Exception as error:
        raise MediaError(f"text reading failed ({error})") from error
    boxes: list[TextBox] = []
    for corners, text, confidence in result or []:
        if float(confidence) < min_confidence or not str(text).strip():
            continue
        box = [[round(float(x) * scale), round(float(y) * scale)] for x, y in corners]
        boxes.append(TextBox(str(text).strip(), round(float(confidence), 3), box))
    boxes.sort(key=lambda b: (b.box[0][1], b.box[0][0]))
    return boxes


def ocr_video(
    path: str | os.PathLike[str], *, grid_seconds: float = 10.0, max_frames: int = 200
) -> list[FrameText]:
    """Text on the keyframes of a video; frames where nothing is read are left out."""
    found: list[FrameText] = []
    for keyframe in extract_keyframes(
        path, grid_seconds=grid_seconds, max_frames=max_frames, max_side=1280
    ):
        boxes = ocr_image(keyframe.jpeg)
        if boxes:
            found.append(FrameText(keyframe.time, boxes))
    return found
