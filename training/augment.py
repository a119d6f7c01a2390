"""Batched data augmentation for 48x48 grey faces, in NumPy and OpenCV.

Plain arrays in, plain arrays out, so the same training code runs on any Keras
backend (TensorFlow on the CPU, JAX or PyTorch on a GPU machine). Every random
draw comes from the generator the caller passes, which train.py seeds with
(seed, epoch, batch index): a run is reproducible with `--seed`, and a resumed
run sees exactly the batches an uninterrupted one would have.
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_ROTATION_DEG = 12.0
MAX_SHIFT = 0.1  # fraction of the side
SCALE_RANGE = (0.9, 1.12)
BRIGHTNESS = 0.12 * 255.0
CONTRAST_RANGE = (0.75, 1.3)
ERASE_PROBABILITY = 0.4
ERASE_SIDE = (0.1, 0.35)  # fraction of the side


def augment_batch(images: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Flip, rotate/scale/shift, brightness/contrast and a random erase.

    `images` is (B, H, W) or (B, H, W, 1) in 0..255, any numeric dtype; the
    result is float32 (B, H, W, 1) in 0..255. `strength` scales every range
    (and the erase probability), 1.0 being the constants above.
    """
    faces = np.array(images, dtype=np.float32).reshape(images.shape[:3])  # a copy: flipped in place
    batch, height, width = faces.shape
    draws = rng.random((batch, 10), dtype=np.float64)

    def span(column, low, high):
        return low + draws[:, column] * (high - low)

    def around_one(column, low, high):
        return 1.0 + strength * (span(column, low, high) - 1.0)

    flip = draws[:, 0] < 0.5
    faces[flip] = faces[flip, :, ::-1]

    angle = span(1, -1.0, 1.0) * strength * MAX_ROTATION_DEG
    scale = around_one(2, *SCALE_RANGE)
    shift_x = span(3, -MAX_SHIFT, MAX_SHIFT) * strength * width
    shift_y = span(4, -MAX_SHIFT, MAX_SHIFT) * strength * height
    centre = ((width - 1) / 2.0, (height - 1) / 2.0)
    out = np.empty_like(faces)
    for i in range(batch):
        matrix = cv2.getRotationMatrix2D(centre, float(angle[i]), float(scale[i]))
        matrix[:, 2] += (shift_x[i], shift_y[i])
        cv2.warpAffine(faces[i], matrix, (width, height), dst=out[i],
                       flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)

    mean = out.mean(axis=(1, 2), keepdims=True)
    contrast = around_one(5, *CONTRAST_RANGE)[:, None, None]
    brightness = (span(6, -BRIGHTNESS, BRIGHTNESS) * strength)[:, None, None]
    out = np.clip((out - mean) * contrast + mean + brightness, 0.0, 255.0).astype(np.float32)

    _random_erase(out, draws[:, 7:10], rng, ERASE_PROBABILITY * strength)
    return out[..., None]


def _random_erase(faces: np.ndarray, draws: np.ndarray, rng: np.random.Generator,
                  probability: float) -> None:
    """Blank a random rectangle (to the face's mean) in some faces, in place:
    a cheap stand-in for hands, glasses and hair covering part of a real face."""
    batch, height, width = faces.shape
    low, high = ERASE_SIDE
    for i in np.flatnonzero(draws[:, 0] < probability):
        side_h = max(1, int(round((low + draws[i, 1] * (high - low)) * height)))
        side_w = max(1, int(round((low + draws[i, 2] * (high - low)) * width)))
        top = int(rng.integers(0, height - side_h + 1))
        left = int(rng.integers(0, width - side_w + 1))
        faces[i, top:top + side_h, left:left + side_w] = faces[i].mean()

