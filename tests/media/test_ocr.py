from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from testigo.errors import RefusedInputError
from testigo.media import MediaError, TextBox, ocr_image, ocr_video

from . import synth


def _joined(boxes: list[TextBox]) -> str:
    return " ".join(b.text for b in boxes).replace(" ", "").upper()


def test_reads_badge_and_plate() -> None:
    boxes = ocr_image(synth.text_image(["BADGE 4471", "PLATE ABC 1234"]))
    text = _joined(boxes)
    assert "4471" in text and "ABC1234" in text
    for box in boxes:
        assert 0.5 <= box.confidence <= 1.0
        assert len(box.box) == 4 and all(len(corner) == 2 for corner in box.box)
        assert box.to_dict()["text"] == box.text
    # Top to bottom.
    assert boxes[0].box[0][1] <= boxes[-1].box[0][1]


def test_reads_jpeg_and_small_images() -> None:
    image = Image.open(io.BytesIO(synth.text_image(["WARRANT"], width=160, height=48)))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    assert "WARRANT" in _joined(ocr_image(buffer.getvalue()))


def test_blank_image_has_no_text() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (200, 100), "white").save(buffer, format="PNG")
    assert ocr_image(buffer.getvalue()) == []


def test_text_on_video_keyframes(tmp_path: Path) -> None:
    path = synth.write_video(
        tmp_path / "v.mp4",
        synth.synth_frames(3, width=480, height=270, text="ICE 2026"),
    )
    found = ocr_video(path)
    assert found and found[0].time == 0.0
    assert "2026" in _joined(found[0].boxes)
    assert found[0].to_dict()["time"] == 0.0


@pytest.mark.parametrize("data", [b"", b"hello, not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 20])
def test_not_an_image(data: bytes) -> None:
    with pytest.raises((RefusedInputError, MediaError)):
        ocr_image(data)


def test_truncated_image() -> None:
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, format="PNG")
    with pytest.raises(MediaError):
        ocr_image(buffer.getvalue()[: len(buffer.getvalue()) // 2])
