"""A selfie from a phone -> the memoji in the current look, saved to the gallery.

The same analysis path as the live loop (`Analyser`): the largest face wins.
Uploads are checked before any pixel is decoded: a small file can claim a
huge image, and decoding that would exhaust a Raspberry Pi's memory; one
whose size cannot be read from its header is refused.
"""

from __future__ import annotations

import io
import logging
import struct
import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from device.avatar import Look, render_png
from device.gallery import SAVED_PX, Entry

log = logging.getLogger(__name__)

MAX_PIXELS = 40_000_000  # a 48 MP phone photo is larger: it gets a clear message
ANALYSE_MAX_SIDE = 1280  # the detector works at 128 px; more only costs time
# A photo of MAX_PIXELS takes some 200 MB while it is decoded, and the page's 8 workers
# could decode 8 at once: well over a gigabyte, from any guest, with no PIN. Two at a time.
DECODE_SLOTS = threading.BoundedSemaphore(2)


class UploadError(ValueError):
    """The upload cannot be used; `status` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class PhotoResult:
    entry: Entry
    scores: dict[str, float]
    faces: int


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header without decoding; None for other formats."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            length = struct.unpack(">H", data[i + 2:i + 4])[0]
            # SOF0..SOF15 carry the size, except DHT (C4), JPG (C8) and DAC (CC).
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[i + 5:i + 9])
                return width, height
            i += 2 + length
    return None


def _other_format_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a WebP, BMP, TIFF ... from its header (Pillow reads no pixels here);
    None for a format Pillow cannot size, which decode_photo then refuses.

    OpenCV decodes those too, and a compressed one can claim far more pixels than it carries.
    """
    from PIL import Image  # a dependency of the booth's (pyproject.toml)

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Image.DecompressionBombError:
        raise UploadError(413, "The photo has too many pixels; send one of at most "
                               f"{MAX_PIXELS // 1_000_000} megapixels.") from None
    except Exception:  # not an image Pillow knows
        return None


def decode_photo(data: bytes) -> np.ndarray:
    """The upload as an RGB uint8 image (phone EXIF rotation applied); UploadError if it is not one."""
    if not data:
        raise UploadError(400, "The upload is empty: choose a photo (JPEG or PNG).")
    size = image_size(data) or _other_format_size(data)
    if size is None:  # OpenCV reads more formats, e.g. Radiance HDR, whose runs can claim gigapixels
        raise UploadError(400, "The upload is not an image the booth can read: send a JPEG or PNG photo.")
    if size[0] * size[1] > MAX_PIXELS:
        raise UploadError(413, f"The photo has too many pixels ({size[0]}x{size[1]}); "
                               f"send one of at most {MAX_PIXELS // 1_000_000} megapixels.")
    with DECODE_SLOTS:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None or bgr.size == 0:
            raise UploadError(400, "The upload is not an image the booth can read: send a JPEG or PNG photo.")
        scale = ANALYSE_MAX_SIDE / max(bgr.shape[:2])
        if scale < 1:  # the full-size image is let go before the next decode starts
            bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def memoji_from_photo(rgb: np.ndarray, *, analyser: Any, analyse_lock: Any, look: Look,
                      gallery: Any, save_photo: bool) -> PhotoResult:
    """Find the largest face, classify it, render the memoji in `look` and save it."""
    with analyse_lock:
        results = analyser.analyse(rgb)
    if not results or results[0].expression is None:
        raise UploadError(422, "No face found in the photo. Try one where the face is well lit, "
                               "looks at the camera and fills more of the picture.")
    expression = results[0].expression
    png = render_png(look, expression.label, SAVED_PX)  # as big as a kiosk capture
    entry = gallery.save(png, expression=expression.label, score=float(expression.score),
                         look=look.to_dict(), photo=rgb if save_photo else None)
    # As the kiosk logs its captures: what the gallery gained, and from where.
    log.info("saved %s from a photo sent from a phone (%s %.2f)", entry.name, entry.expression,
             entry.score)
    scores = {label: round(float(score), 4) for label, score in expression.scores.items()}
    return PhotoResult(entry=entry, scores=scores, faces=len(results))
