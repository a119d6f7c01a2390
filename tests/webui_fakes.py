"""Small stand-ins for the booth and the analyser, shared by the web page tests."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from device.config import load_config
from device.faces import Face
from device.gallery import Gallery
from device.infer import Expression
from device.labels import EXPRESSIONS
from device.pipeline import FaceResult


def make_config(data_dir: Path, **overrides: Any):
    """Settings with the data folder in `data_dir` (and any dotted overrides: web_pin="1234")."""
    values = {"storage.data_dir": str(data_dir)}
    values.update({key.replace("_", ".", 1): value for key, value in overrides.items()})
    return load_config(None, values)


def scores_for(label: str, score: float = 0.9) -> dict[str, float]:
    rest = (1.0 - score) / (len(EXPRESSIONS) - 1)
    return {name: (score if name == label else rest) for name in EXPRESSIONS}


class FakeAnalyser:
    """Finds a "face" in any image whose mean is above `threshold` (bright), labelled `label`."""

    def __init__(self, label: str = "happy", threshold: float = 40.0) -> None:
        self.label = label
        self.threshold = threshold
        self.calls = 0

    def analyse(self, rgb: np.ndarray) -> list[FaceResult]:
        self.calls += 1
        if rgb.mean() < self.threshold:
            return []
        h, w = rgb.shape[:2]
        face = Face(box=(w // 4, h // 4, w // 2, h // 2), score=0.95,
                    left_eye=(w * 0.4, h * 0.4), right_eye=(w * 0.6, h * 0.4))
        expression = Expression(self.label, 0.9, scores_for(self.label))
        return [FaceResult(face=face, expression=expression)]


def stepping_clock(start: datetime | None = None, step_s: float = 1.0):
    """A clock for Gallery that moves on `step_s` per call, so names sort in save order."""
    now = [start or datetime(2026, 11, 24, 8, 0, tzinfo=UTC)]
    lock = threading.Lock()

    def clock() -> datetime:
        with lock:
            now[0] += timedelta(seconds=step_s)
            return now[0]

    return clock


class FakeBooth:
    """The booth's thread-safe surface (status, request_capture, apply_look, gallery, analyser)."""

    def __init__(self, data_dir: Path, *, capture_result: Any = True, status: dict | None = None) -> None:
        self.gallery = Gallery(data_dir / "gallery", keep=100, clock=stepping_clock())
        self.analyser = FakeAnalyser()
        self.captures = 0
        self.looks: list[Any] = []
        self.capture_result = capture_result
        self._status = status if status is not None else {
            "expression": "happy",
            "scores": {name: np.float32(v) for name, v in scores_for("happy").items()},
            "face": (10, 20, 30, 40),
            "fps": 29.5,
            "camera": "replay:faces",
            "state": "live",
        }

    def status(self) -> dict:
        return dict(self._status)

    def request_capture(self) -> Any:
        self.captures += 1
        return self.capture_result

    def apply_look(self, look: Any) -> None:
        self.looks.append(look)


class BrokenBooth(FakeBooth):
    """A booth whose status raises, to check that no trace reaches a client."""

    def status(self) -> dict:
        raise RuntimeError("secret internal detail /home/pi/trace")
