"""Measure how much blurrier the Training faces are than the faces we will see.

The FER-2013 copy in ../shared has every Training face Gaussian-blurred
(median Laplacian variance 6 against 2,186 for PublicTest), while PublicTest,
the held-back PrivateTest and a real camera give sharp faces. A model trained
on the blurred faces only sees their low frequencies, so at inference we blur
sharp faces to the same sharpness, inside the model graph (see
`training.models.MatchTrainingBlur`). The blur is estimated without labels,
by matching the two splits' radial power spectra; on a sharp copy of FER-2013
it comes out as none.
"""

from __future__ import annotations

import cv2
import numpy as np

SIGMAS = np.round(np.arange(0.0, 5.01, 0.2), 2)
NONE_BELOW = 0.5


def radial_log_power(faces: np.ndarray, max_radius: int = 12) -> np.ndarray:
    """Mean log power of the faces' spectra at radii 1..max_radius cycles."""
    faces = faces.astype(np.float32)
    size = faces.shape[1]
    yy, xx = np.mgrid[:size, :size]
    radius = np.hypot(yy - size // 2, xx - size // 2).astype(int)
    centred = faces - faces.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fftshift(np.fft.fft2(centred), axes=(1, 2))) ** 2).mean(axis=0)
    return np.log([power[radius == r].mean() for r in range(1, max_radius + 1)])


def blur_profile(train: np.ndarray, test: np.ndarray, max_radius: int = 16) -> list[dict]:
    """How much of each spatial frequency the Training faces keep.

    For radii 1..max_radius (cycles per face): the Training faces' mean power
    over the PublicTest faces', and the Gaussian sigma that ratio implies
    (power ratio exp(-(2 pi sigma f)^2), f in cycles per pixel). A Gaussian
    blur gives the same sigma at every radius until what is left falls to the
    8-bit rounding noise, where the implied sigma drops. The faces are
    Hann-windowed so that their borders, which the FFT wraps round, add no
    high frequencies of their own; the window in turn smears radii 1 and 2 a
    little.
    """
    size = train.shape[1]
    window = np.outer(np.hanning(size), np.hanning(size)).astype(np.float32)
    freq = np.fft.fftfreq(size)
    radius = np.hypot(*np.meshgrid(freq, freq, indexing="ij")) * size

    def mean_power(faces):
        faces = faces.astype(np.float32)
        faces = faces - faces.mean(axis=(1, 2), keepdims=True)
        return (np.abs(np.fft.fft2(faces * window)) ** 2).mean(axis=0)

    train_power, test_power = mean_power(train), mean_power(test)
    rows = []
    for r in range(1, max_radius + 1):
        ring = np.abs(radius - r) < 0.5
        ratio = float(train_power[ring].mean() / test_power[ring].mean())
        if ratio <= 0:  # nothing left at all: no finite sigma
            sigma = None
        elif ratio >= 1:  # nothing lost: no blur
            sigma = 0.0
        else:
            sigma = round(float(np.sqrt(-np.log(ratio)) / (2 * np.pi * r / size)), 2)
        rows.append({"cycles_per_face": r, "power_ratio": ratio, "implied_sigma": sigma})
    return rows


def laplacian_variance(faces: np.ndarray) -> np.ndarray:
    """Per-face variance of the Laplacian: the usual one-number sharpness."""
    return np.array([cv2.Laplacian(f.astype(np.float32), cv2.CV_32F).var() for f in faces])


def blur(faces: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return faces
    return np.stack([cv2.GaussianBlur(f, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101) for f in faces])


def estimate_blur_sigma(train: np.ndarray, test: np.ndarray, samples: int = 600, seed: int = 0) -> float:
    """The Gaussian sigma (pixels) that makes `test` faces as sharp as `train`
    faces; 0.0 when they already match."""
    rng = np.random.default_rng(seed)
    train = train[rng.permutation(len(train))[: 2 * samples]]
    test = test[rng.permutation(len(test))[:samples]]
    target = radial_log_power(train)
    errors = [float(np.sqrt(np.mean((radial_log_power(blur(test, s)) - target) ** 2))) for s in SIGMAS]
    sigma = float(SIGMAS[int(np.argmin(errors))])
    return 0.0 if sigma < NONE_BELOW else sigma
