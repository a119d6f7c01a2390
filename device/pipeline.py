"""Frame -> faces -> expressions: the one analysis path shared by the live loop,
`memoji-booth classify` and the web page's photo upload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from device.faces import Face, FaceDetector
from device.infer import FER_CROP_SCALES, Expression, ExpressionModel, crop_views


@dataclass(frozen=True)
class FaceResult:
    """A face in the main image and its expression (None when not classified)."""

    face: Face
    expression: Expression | None


class Analyser:
    """Detects faces and classifies their expressions; no drawing, no smoothing."""

    def __init__(self, detector: FaceDetector, model: ExpressionModel,
                 crop_scales: tuple[float, ...] = FER_CROP_SCALES):
        self.detector = detector
        self.model = model
        self.crop_size = model.input_size[0]
        self.crop_scales = tuple(crop_scales)  # scores averaged over these crops (infer.py)

    @classmethod
    def from_config(cls, config: Any) -> Analyser:
        """Build from a `device.config.Config` (detector.min_score, model.path)."""
        model_path = getattr(config.model, "path", "") or None
        return cls(
            FaceDetector(min_score=config.detector.min_score),
            ExpressionModel(model_path),
        )

    def analyse(self, rgb: np.ndarray, detect_image: np.ndarray | None = None, *,
                all_faces: bool = False) -> list[FaceResult]:
        """Faces in `rgb`, largest first; only the largest is classified unless `all_faces`.

        `detect_image` is a smaller copy of the same view (the Pi camera's lores
        stream): faces are found on it and their boxes scaled to `rgb`, while
        the crop for the expression model comes from the sharper `rgb`.
        """
        if detect_image is None:
            faces = self.detector.detect(rgb)
        else:
            sx = rgb.shape[1] / detect_image.shape[1]
            sy = rgb.shape[0] / detect_image.shape[0]
            faces = [face.scaled(sx, sy) for face in self.detector.detect(detect_image)]
        results = []
        for i, face in enumerate(faces):
            expression = None
            if all_faces or i == 0:
                crops = crop_views(rgb, face, self.crop_size, self.crop_scales)
                expression = self.model.classify_views(crops)
            results.append(FaceResult(face=face, expression=expression))
        return results
