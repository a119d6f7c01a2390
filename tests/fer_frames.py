"""Camera-like test frames made of real FER-2013 faces.

FER-2013 faces are 48x48 grey crops cut tightly around the face. Tests need
frames that look like what the booth's camera sees: a face of a plausible
size somewhere in a 640x480 colour frame. `make_frame` enlarges a face and places
it on a plain or noisy background. (A reflected border around the face was
tried and made BlazeFace worse, not better: `detection-rate` below.)

Also a small command line for the measurements behind `device/infer.py`'s
FER framing constants and the padding choice here:

    .venv/bin/python tests/fer_frames.py measure-framing --per-class 57
    .venv/bin/python tests/fer_frames.py detection-rate --per-class 20
    .venv/bin/python tests/fer_frames.py bench [--model PATH]   # ms per stage, one thread
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # for `python tests/fer_frames.py`
    sys.path.insert(0, str(REPO))

from device.labels import EXPRESSIONS  # noqa: E402

FER_CSV = REPO.parent / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"

# Reflected border around the 48x48 face, as a fraction of its side, before it
# is enlarged. `detection-rate --per-class 20` (140 faces, 640x480 noise frames):
#   pad 0.00: found 82 / 136 / 137 of 140 at face_px 120 / 200 / 280
#   pad 0.25: found 54 / 125 / 136
#   pad 0.50: found 36 / 108 / 135 (and reflected half-faces start to win)
# so tight faces on a background are found best: no pad.
FACE_PAD = 0.0


# Faces whose expression is unmistakable, as positions within each class's
# PublicTest rows (0 = the first PublicTest face of that class). Chosen by eye
# from a contact sheet of the first 24 faces per class, before any model saw
# them: open mouth and raised brows for surprise, a broad smile for happy, a
# relaxed frontal face for neutral. Most unmistakable first (replay_dir takes
# the first two of happy and surprise).
CLEAR_FACES: dict[str, tuple[int, ...]] = {
    "happy": (6, 19, 3, 11, 15, 18, 20),
    "surprise": (6, 0, 9, 8, 11, 17, 18),
    "neutral": (1, 12, 15),
}


def clear_faces(faces: dict[str, list[np.ndarray]] | None = None) -> list[tuple[str, np.ndarray]]:
    """(label, face48) for every CLEAR_FACES entry, loaded if `faces` is not given."""
    if faces is None:
        faces = load_fer_faces(per_class=1 + max(max(v) for v in CLEAR_FACES.values()))
    return [(label, faces[label][i]) for label, indices in CLEAR_FACES.items() for i in indices]


def load_fer_faces(
    per_class: int = 5, usage: str = "PublicTest", path: Path = FER_CSV
) -> dict[str, list[np.ndarray]]:
    """The first `per_class` 48x48 uint8 faces of each expression in a split.

    Streams the gzip and stops as soon as every class is full (or the file
    ends: disgust has only 56 PublicTest faces). Rows of other splits are
    skipped without parsing.
    """
    wanted = usage.encode() + b"\n"
    faces: dict[str, list[np.ndarray]] = {label: [] for label in EXPRESSIONS}
    full = 0
    with gzip.open(path, "rb") as rows:
        next(rows)  # header
        for row in rows:
            if not row.endswith(wanted):
                continue
            emotion, pixels, _ = row.split(b",")
            bucket = faces[EXPRESSIONS[int(emotion)]]
            if len(bucket) >= per_class:
                continue
            bucket.append(np.array(pixels.split(), dtype=np.uint8).reshape(48, 48))
            if len(bucket) == per_class:
                full += 1
                if full == len(EXPRESSIONS):
                    break
    return faces


def pad_face(face48: np.ndarray, pad: float = FACE_PAD) -> np.ndarray:
    """The face with a reflected border `pad` times its side on every side."""
    border = round(face48.shape[0] * pad)
    return cv2.copyMakeBorder(face48, border, border, border, border, cv2.BORDER_REFLECT_101)


def face_square_in_frame(
    size: tuple[int, int] = (640, 480), face_px: int = 200, center: tuple[int, int] | None = None
) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the original 48x48 face inside a frame made by make_frame."""
    width, height = size
    cx, cy = center if center is not None else (width // 2, height // 2)
    return cx - face_px // 2, cy - face_px // 2, face_px, face_px


def make_frame(
    face48: np.ndarray,
    size: tuple[int, int] = (640, 480),
    face_px: int = 200,
    center: tuple[int, int] | None = None,
    *,
    background: str = "noise",
    pad: float = FACE_PAD,
    seed: int = 0,
) -> np.ndarray:
    """A size=(width, height) RGB uint8 frame with the face enlarged to face_px.

    The original 48x48 square lands at `face_square_in_frame(size, face_px,
    center)`; its reflected border (`pad`) is enlarged with it and clipped at
    the frame edges. `background` is "noise" (grey noise, seeded) or "plain".
    """
    width, height = size
    frame = make_background(size, background, seed)
    padded = pad_face(face48, pad)
    scale = face_px / face48.shape[0]
    side = round(padded.shape[0] * scale)
    big = cv2.resize(padded, (side, side), interpolation=cv2.INTER_CUBIC)
    x, y, _, _ = face_square_in_frame(size, face_px, center)
    border = round(face48.shape[0] * pad * scale)
    x0, y0 = x - border, y - border
    fx0, fy0 = max(x0, 0), max(y0, 0)
    fx1, fy1 = min(x0 + side, width), min(y0 + side, height)
    if fx0 < fx1 and fy0 < fy1:
        frame[fy0:fy1, fx0:fx1] = big[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)


def make_background(size: tuple[int, int] = (640, 480), background: str = "noise",
                    seed: int = 0) -> np.ndarray:
    """A size=(width, height) grey uint8 frame without a face: blurred noise or plain."""
    width, height = size
    if background == "noise":
        rng = np.random.default_rng(seed)
        frame = rng.integers(60, 200, size=(height, width), dtype=np.uint8)
        return cv2.GaussianBlur(frame, (0, 0), 3)
    if background == "plain":
        return np.full((height, width), 128, np.uint8)
    raise ValueError(f"background must be 'noise' or 'plain', not {background!r}")


def _detection_rate(per_class: int) -> None:
    """How often BlazeFace finds the face for several paddings and sizes."""
    from device.faces import FaceDetector

    detector = FaceDetector(min_score=0.6)
    faces = load_fer_faces(per_class)
    total = sum(len(v) for v in faces.values())
    for pad in (0.0, 0.25, 0.5, 0.75):
        for face_px in (120, 200, 280):
            found = hit = 0
            for items in faces.values():
                for i, face in enumerate(items):
                    frame = make_frame(face, face_px=face_px, pad=pad, seed=i)
                    detections = detector.detect(frame)
                    if not detections:
                        continue
                    found += 1
                    x, y, w, h = detections[0].box
                    tx, ty, tw, th = face_square_in_frame(face_px=face_px)
                    # the largest face is the real one: its centre lies in the true square
                    if tx <= x + w / 2 <= tx + tw and ty <= y + h / 2 <= ty + th:
                        hit += 1
            print(f"pad {pad:.2f} face_px {face_px}: found {found}/{total}, "
                  f"largest is the face {hit}/{total}")


def _measure_framing(per_class: int) -> None:
    """Relation between BlazeFace's box and the true FER 48x48 square.

    Each face is enlarged 3x to 144 px in the middle of a 432x432 canvas whose
    surround is a reflected border, plain grey, or noise, so that the result
    does not hinge on one kind of surround.
    """
    from device.faces import FaceDetector

    detector = FaceDetector(min_score=0.5)
    faces = load_fer_faces(per_class)
    surrounds = {"reflect": dict(pad=1.0), "grey": dict(pad=0.0, background="plain"),
                 "noise": dict(pad=0.0, background="noise")}
    for name, options in surrounds.items():
        scale_ratios, dxs, dys = [], [], []
        total = 0
        for items in faces.values():
            for i, face in enumerate(items):
                total += 1
                rgb = make_frame(face, size=(432, 432), face_px=144, seed=i, **options)
                detections = detector.detect(rgb)
                if not detections:
                    continue
                x, y, w, h = detections[0].box
                side = (w + h) / 2
                if not (144 <= x + w / 2 <= 288 and 144 <= y + h / 2 <= 288):
                    continue  # a reflected copy won: not the face we measure
                scale_ratios.append(144 / side)
                dxs.append((216 - (x + w / 2)) / side)
                dys.append((216 - (y + h / 2)) / side)
        print(f"{name}: faces measured {len(scale_ratios)}/{total}")
        for key, values in (("scale", scale_ratios), ("dx", dxs), ("dy", dys)):
            values = np.array(values)
            print(f"  {key}: median {np.median(values):.3f}  "
                  f"p25 {np.percentile(values, 25):.3f}  p75 {np.percentile(values, 75):.3f}")


def _bench(per_class: int, model_path: str | None = None, repeat: int = 5) -> None:
    """Median and p95 ms of detect (640x480) and crop + classify, on one thread."""
    import time

    from device.faces import FaceDetector
    from device.infer import ExpressionModel, crop_face

    detector = FaceDetector(num_threads=1)
    model = ExpressionModel(model_path, num_threads=1) if model_path != "none" else None
    frames = [make_frame(face, seed=i) for items in load_fer_faces(per_class).values()
              for i, face in enumerate(items)]
    timings: dict[str, list[float]] = {"detect": [], "crop": [], "classify": []}
    for _ in range(repeat):
        for frame in frames:
            start = time.perf_counter()
            found = detector.detect(frame)
            timings["detect"].append(time.perf_counter() - start)
            if not found or model is None:
                continue
            start = time.perf_counter()
            crop = crop_face(frame, found[0], model.input_size[0])
            timings["crop"].append(time.perf_counter() - start)
            start = time.perf_counter()
            model.classify(crop)
            timings["classify"].append(time.perf_counter() - start)
    total = 0.0
    for stage, values in timings.items():
        if values:
            median = 1000 * float(np.median(values))
            total += median
            print(f"{stage:9} median {median:.3f} ms  p95 {1000 * np.percentile(values, 95):.3f} ms"
                  f"  (n={len(values)})")
    print(f"detect + crop + classify: {total:.3f} ms median per frame")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["measure-framing", "detection-rate", "bench"])
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--model", help="bench: expression model (default: the shipped one; "
                                        "'none' to time detection only)")
    args = parser.parse_args()
    if args.command == "bench":
        _bench(args.per_class, args.model)
    else:
        {"measure-framing": _measure_framing, "detection-rate": _detection_rate}[args.command](
            args.per_class
        )
