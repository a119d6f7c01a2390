"""Shared fixtures: real FER-2013 faces in camera-like frames, and the vision models.

Tests are headless: pygame gets SDL's dummy drivers before anything imports it.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

from tests.fer_frames import (  # noqa: E402
    CLEAR_FACES,
    clear_faces,
    load_fer_faces,
    make_background,
    make_frame,
)

FER_PER_CLASS = 1 + max(max(v) for v in CLEAR_FACES.values())


@pytest.fixture(scope="session")
def fer_faces() -> dict[str, list[np.ndarray]]:
    """The first PublicTest 48x48 faces of each expression (streamed once per session)."""
    return load_fer_faces(per_class=FER_PER_CLASS)


@pytest.fixture(scope="session")
def clear_fer_faces(fer_faces) -> list[tuple[str, np.ndarray]]:
    """(label, face48) of faces whose expression is unmistakable (see CLEAR_FACES)."""
    return clear_faces(fer_faces)


def write_rgb_png(path: Path, rgb: np.ndarray) -> Path:
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return path


@pytest.fixture
def replay_dir(tmp_path, clear_fer_faces) -> Path:
    """A folder to replay: 640x480 PNG frames of clear faces named `NN_<label>.png`
    (2 happy, 2 surprise, 1 neutral, in that order), then `90_noface.png` (background
    only) and `95_corrupt.png` (not an image). Sorted by name, that is the replay order."""
    folder = tmp_path / "replay"
    folder.mkdir()
    picked = {"happy": 2, "surprise": 2, "neutral": 1}
    n = 0
    for label, face in clear_fer_faces:
        if picked.get(label, 0) > 0:
            picked[label] -= 1
            write_rgb_png(folder / f"{n:02d}_{label}.png", make_frame(face, seed=n))
            n += 1
    blank = cv2.cvtColor(make_background(seed=99), cv2.COLOR_GRAY2RGB)
    write_rgb_png(folder / "90_noface.png", blank)
    (folder / "95_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a picture")
    return folder


@pytest.fixture(scope="session")
def face_detector():
    from device.faces import FaceDetector

    return FaceDetector()


@pytest.fixture(scope="session")
def expression_model():
    """The shipped device/models/emotion.tflite (a missing model fails, on purpose)."""
    from device.infer import ExpressionModel

    return ExpressionModel()


@pytest.fixture
def mock_pins():
    """gpiozero's mock pins for one test (pin.drive_low() presses a button)."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    previous = Device.pin_factory
    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = previous
