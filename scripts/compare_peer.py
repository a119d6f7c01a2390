"""Compare our expression pipeline with the PyPI `fer` package's on camera-like frames.

Issue 3: on real faces in camera-like frames `classify` must clearly beat the
`fer` package (Haar cascade + mini-Xception). Both pipelines see the same
640x480 RGB frames: FER-2013 PublicTest faces enlarged to ~200 px on a noisy
background (tests/fer_frames.make_frame), `--per-class` faces of each class.

    .venv/bin/python scripts/compare_peer.py \
        --data ../shared/datasets/fer2013/fer2013.csv.gz --per-class 60 [--json]

Ours: device.pipeline.Analyser at its default settings, the largest face's label.

The peer is rebuilt from fer 25.10.3's own code (fer/fer.py, FER() defaults,
`top_emotion`) with the package's own shipped files, found in the installed
package WITHOUT importing it (its import pulls in TensorFlow, and its declared
dependencies - torch, moviepy - are not wanted here):
  Haar cascade  detectMultiScale(scaleFactor=1.1, minNeighbors=5, minSize=50x50,
                CASCADE_SCALE_IMAGE) on the grey frame;
  crop          grey frame padded by 40 px of the mean of its bottom two rows,
                box made square, widened by 10 px each side, resized to 64x64;
  model         data/emotion_model_quantized.tflite (fer's default,
                use_tflite=True), input (x / 255 - 0.5) * 2, float in and out,
                run with LiteRT (device.infer.load_interpreter);
  label         the first face the cascade returns; scores rounded to 2
                decimals, then the first maximum, labels in FER-2013 order.

OpenCV 5 has no cv2.CascadeClassifier. When the running OpenCV lacks it, the
cascade runs in a helper Python with OpenCV 4 (`--cascade-python`, or the
COMPARE_PEER_CASCADE_PYTHON environment variable), which needs only numpy and
opencv-python-headless<5; this script is its worker, given frames in a .npz.

As a check of the rebuilt preprocessing, the peer's model is also scored on
the raw 48x48 PublicTest faces (no detector): the issue quotes 65.3%.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # for `python scripts/compare_peer.py`
    sys.path.insert(0, str(REPO))

FER_VERSION = "25.10.3"
FER_INSTALL = f".venv/bin/pip install --no-deps fer=={FER_VERSION}"
CASCADE_PYTHON_ENV = "COMPARE_PEER_CASCADE_PYTHON"
CASCADE_PYTHON_SETUP = ("`make test` makes one at .venv/peer-cv4; or: python3 -m venv "
                        "/tmp/peer-cv4 && /tmp/peer-cv4/bin/pip install numpy "
                        "'opencv-python-headless<5'")

# fer/fer.py (25.10.3): FER.__init__ defaults, PADDING, _get_labels, input size.
PEER_SCALE_FACTOR = 1.1
PEER_MIN_NEIGHBORS = 5
PEER_MIN_FACE_PX = 50
PEER_OFFSETS = (10, 10)
PEER_PADDING = 40
PEER_INPUT_PX = 64
PEER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"


class PeerMissingError(RuntimeError):
    """The `fer` package's files, or a way to run its Haar cascade, are missing."""


@dataclass(frozen=True)
class FerFiles:
    """The shipped files of the installed `fer` package that the peer needs."""

    cascade: Path
    tflite_model: Path
    keras_model: Path


def find_fer_files() -> FerFiles:
    """Locate fer's data files without importing fer (its import needs TensorFlow)."""
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise PeerMissingError(f"The `fer` package is not installed. Install it without its "
                               f"heavy dependencies (torch, moviepy): {FER_INSTALL}")
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    files = FerFiles(cascade=data / "haarcascade_frontalface_default.xml",
                     tflite_model=data / "emotion_model_quantized.tflite",
                     keras_model=data / "emotion_model.hdf5")
    missing = [str(p) for p in (files.cascade, files.tflite_model) if not p.is_file()]
    if missing:
        raise PeerMissingError(f"fer is installed but lacks {', '.join(missing)}; "
                               f"reinstall it: {FER_INSTALL}")
    return files


def has_cascade_classifier() -> bool:
    """Whether this process's OpenCV can run Haar cascades (OpenCV 5 cannot)."""
    return hasattr(cv2, "CascadeClassifier")


def cascade_python(explicit: str | None = None) -> str | None:
    """The helper Python for the cascade: the argument, else the environment variable."""
    return explicit or os.environ.get(CASCADE_PYTHON_ENV) or None


# ---------------------------------------------------------------- peer: detection

def require_cascade(helper_python: str | None) -> None:
    """Fail early, with the fix, when neither OpenCV here nor a helper can run Haar cascades."""
    if has_cascade_classifier():
        return
    if helper_python is None:
        raise PeerMissingError(
            f"This OpenCV ({cv2.__version__}) has no CascadeClassifier, which the fer "
            f"package's face detector needs. Make a helper Python with OpenCV 4 "
            f"({CASCADE_PYTHON_SETUP}) and pass --cascade-python PATH/bin/python "
            f"or set {CASCADE_PYTHON_ENV}.")
    if not Path(helper_python).is_file():
        raise PeerMissingError(f"Cascade helper Python not found: {helper_python} "
                               f"(make it with: {CASCADE_PYTHON_SETUP})")


def _detect_in_process(grey_frames: np.ndarray, cascade: Path) -> list[tuple[list, float]]:
    """(boxes, seconds) per frame with this process's cv2.CascadeClassifier."""
    cv2.setNumThreads(1)
    detector = cv2.CascadeClassifier(str(cascade))
    if detector.empty():
        raise PeerMissingError(f"OpenCV could not load the Haar cascade {cascade}")
    results = []
    for grey in grey_frames:
        start = time.perf_counter()
        boxes = detector.detectMultiScale(
            grey, scaleFactor=PEER_SCALE_FACTOR, minNeighbors=PEER_MIN_NEIGHBORS,
            flags=cv2.CASCADE_SCALE_IMAGE, minSize=(PEER_MIN_FACE_PX, PEER_MIN_FACE_PX))
        seconds = time.perf_counter() - start
        results.append(([[int(v) for v in box] for box in boxes], seconds))
    return results


def detect_faces_haar(grey_frames: np.ndarray, cascade: Path,
                      helper_python: str | None = None) -> list[tuple[list, float]]:
    """The peer's Haar detections, (boxes in cascade order, seconds) per grey frame.

    In process when OpenCV has CascadeClassifier, else in `helper_python`.
    """
    require_cascade(helper_python)
    if has_cascade_classifier():
        return _detect_in_process(grey_frames, cascade)
    with tempfile.TemporaryDirectory(prefix="compare-peer-") as work:
        frames_path, boxes_path = Path(work) / "frames.npz", Path(work) / "boxes.json"
        np.savez(frames_path, grey=grey_frames)
        done = subprocess.run([helper_python, str(Path(__file__).resolve()), "--cascade-worker",
                               str(frames_path), str(boxes_path), str(cascade)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise PeerMissingError(f"The cascade helper {helper_python} failed:\n{done.stderr}")
        return [(boxes, seconds) for boxes, seconds in json.loads(boxes_path.read_text())]


def _cascade_worker(frames_path: str, boxes_path: str, cascade: str) -> None:
    """Helper-Python side of detect_faces_haar: needs only numpy and OpenCV 4."""
    grey = np.load(frames_path)["grey"]
    Path(boxes_path).write_text(json.dumps(_detect_in_process(grey, Path(cascade))))


# ---------------------------------------------------------------- peer: classification

def peer_square(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """fer's FER.tosquare: lengthen the shorter side, keeping the centre."""
    x, y, w, h = box
    if h > w:
        diff = h - w
        x, w = x - diff // 2, w + diff
    elif w > h:
        diff = w - h
        y, h = y - diff // 2, h + diff
    return x, y, w, h


def peer_pad(grey: np.ndarray) -> np.ndarray:
    """fer's FER.pad: a PADDING border of the mean of the bottom two rows."""
    mean = cv2.mean(grey[-2:, :])[0]
    return cv2.copyMakeBorder(grey, PEER_PADDING, PEER_PADDING, PEER_PADDING, PEER_PADDING,
                              cv2.BORDER_CONSTANT, value=[mean, mean, mean])


def peer_crop(padded_grey: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
    """fer's crop of one face from the padded grey frame, resized to 64x64 (None if empty)."""
    x, y, w, h = peer_square(box)
    x_off, y_off = PEER_OFFSETS
    x1, x2 = x - x_off + PEER_PADDING, x + w + x_off + PEER_PADDING
    y1, y2 = y - y_off + PEER_PADDING, y + h + y_off + PEER_PADDING
    face = padded_grey[max(0, y1):y2, max(0, x1):x2]
    if face.size == 0:
        return None  # fer logs "resize failed" and skips the face
    return cv2.resize(face, (PEER_INPUT_PX, PEER_INPUT_PX))


def peer_preprocess(grey64: np.ndarray) -> np.ndarray:
    """fer's input scaling: (x / 255 - 0.5) * 2, shaped (1, 64, 64, 1) float32."""
    x = grey64.astype(np.float32) / 255.0
    return ((x - 0.5) * 2.0)[None, :, :, None]


def peer_label(scores: np.ndarray) -> str:
    """fer's top_emotion: scores rounded to 2 decimals, first maximum wins."""
    rounded = [round(float(s), 2) for s in scores]
    return PEER_LABELS[rounded.index(max(rounded))]


class PeerModel:
    """fer's quantized mini-Xception (.tflite) run with LiteRT, one thread."""

    def __init__(self, tflite_path: Path):
        from device.infer import load_interpreter

        self.interpreter = load_interpreter(tflite_path, num_threads=1)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        if self.input["dtype"] != np.float32 or tuple(self.input["shape"]) != (1, 64, 64, 1):
            raise PeerMissingError(f"Unexpected fer model input {self.input['shape']} "
                                   f"{self.input['dtype']} in {tflite_path}")

    def scores(self, grey64: np.ndarray) -> np.ndarray:
        """The seven softmax scores for one 64x64 uint8 grey face."""
        self.interpreter.set_tensor(self.input["index"], peer_preprocess(grey64))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])[0]


@dataclass
class Outcome:
    """One pipeline's answer for one frame: a label or None (no face), and its time."""

    label: str | None
    seconds: float


def run_peer(frames: list[np.ndarray], files: FerFiles,
             helper_python: str | None) -> list[Outcome]:
    """The fer pipeline on RGB frames; time = Haar detection + crop + classify."""
    # fer converts its BGR input with COLOR_BGR2GRAY; the same weights on RGB order.
    greys = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])
    detections = detect_faces_haar(greys, files.cascade, helper_python)
    model = PeerModel(files.tflite_model)
    outcomes = []
    for grey, (boxes, detect_seconds) in zip(greys, detections, strict=True):
        start = time.perf_counter()
        label = None
        padded = peer_pad(grey)
        for box in boxes:  # first face that crops, as detect_emotions + top_emotion
            face = peer_crop(padded, tuple(box))
            if face is not None:
                label = peer_label(model.scores(face))
                break
        outcomes.append(Outcome(label, detect_seconds + time.perf_counter() - start))
    return outcomes


def peer_raw_accuracy(faces: dict[str, list[np.ndarray]], files: FerFiles) -> dict:
    """The peer's model on raw 48x48 faces, no detector: resize to 64, fer's scaling."""
    model = PeerModel(files.tflite_model)
    right = total = 0
    for truth, items in faces.items():
        for face in items:
            total += 1
            right += peer_label(model.scores(cv2.resize(face, (PEER_INPUT_PX,) * 2))) == truth
    return {"faces": total, "accuracy": right / total if total else 0.0}


# ---------------------------------------------------------------- ours

def run_ours(frames: list[np.ndarray], model_path: Path | None = None,
             crop_scales: tuple[float, ...] | None = None) -> list[Outcome]:
    """device.pipeline.Analyser at default settings (one thread): largest face's label.

    `model_path` puts another expression model in the shipped one's place;
    `crop_scales` other crops in place of device.infer.FER_CROP_SCALES."""
    from device.config import default_config
    from device.pipeline import Analyser

    config = default_config()
    if model_path is not None:
        config = replace(config, model=replace(config.model, path=str(model_path)))
    analyser = Analyser.from_config(config)
    if crop_scales:
        analyser.crop_scales = tuple(crop_scales)
    outcomes = []
    for frame in frames:
        start = time.perf_counter()
        results = analyser.analyse(frame)
        seconds = time.perf_counter() - start
        label = results[0].expression.label if results and results[0].expression else None
        outcomes.append(Outcome(label, seconds))
    return outcomes


# ---------------------------------------------------------------- report

def summarise(truths: list[str], outcomes: list[Outcome]) -> dict:
    """Accuracy (no face = wrong), accuracy where found, found rate, recalls, median ms."""
    n = len(truths)
    found = [o.label is not None for o in outcomes]
    right = [o.label == t for t, o in zip(truths, outcomes, strict=True)]
    n_found = sum(found)
    recall = {}
    for label in PEER_LABELS:
        idx = [i for i, t in enumerate(truths) if t == label]
        recall[label] = sum(right[i] for i in idx) / len(idx) if idx else None
    return {
        "frames": n,
        "accuracy": sum(right) / n if n else 0.0,
        "accuracy_where_found": sum(right) / n_found if n_found else 0.0,
        "faces_found_rate": n_found / n if n else 0.0,
        "per_class_recall": recall,
        "median_ms_per_frame": 1000 * float(np.median([o.seconds for o in outcomes])),
    }


# How the face square meets the rest of the frame. "noise": grey noise right at
# the edge of the 48x48 face, as a pasted photo. "continued": the face's own
# border reflected outward for a quarter of its side first, as hair, ears and
# neck continue a face in a real camera frame.
EDGES = {"noise": 0.0, "continued": 0.25}


def compare(data: Path, per_class: int, helper_python: str | None = None,
            raw_per_class: int | None = None, edges: tuple[str, ...] = tuple(EDGES),
            model_path: Path | None = None, crop_scales: tuple[float, ...] | None = None) -> dict:
    """The whole comparison as one JSON-ready dict (see the module docstring)."""
    from device.infer import FER_CROP_SCALES
    from device.labels import EXPRESSIONS
    from tests.fer_frames import load_fer_faces, make_frame

    if tuple(EXPRESSIONS) != PEER_LABELS:
        raise RuntimeError(f"Label orders differ: ours {EXPRESSIONS}, fer {PEER_LABELS}")
    if not data.is_file():
        raise FileNotFoundError(f"FER-2013 CSV not found: {data} (pass --data)")
    files = find_fer_files()
    require_cascade(helper_python)
    cv2.setNumThreads(1)
    faces = load_fer_faces(per_class, path=data)
    truths = [label for label, items in faces.items() for _ in items]
    sets = {}
    for edge in edges:
        frames = [make_frame(face, seed=i, pad=EDGES[edge])
                  for items in faces.values() for i, face in enumerate(items)]
        sets[edge] = {"ours": summarise(truths, run_ours(frames, model_path, crop_scales)),
                      "peer": summarise(truths, run_peer(frames, files, helper_python))}
    raw_faces = load_fer_faces(raw_per_class or 10**6, path=data)
    return {
        "frames": {"per_class": per_class, "total": len(truths), "size": [640, 480],
                   "face_px": 200, "split": "PublicTest",
                   "edges": {edge: EDGES[edge] for edge in edges}},
        "ours": {"pipeline": "device.pipeline.Analyser (BlazeFace + "
                             f"{model_path or 'the shipped int8 model'})",
                 "crop_scales": list(crop_scales or FER_CROP_SCALES)},
        "peer": {"pipeline": f"fer {FER_VERSION}: Haar cascade + "
                             f"{files.tflite_model.name} (LiteRT)",
                 "cascade_backend": ("in-process OpenCV " + cv2.__version__
                                     if has_cascade_classifier() else
                                     f"helper {helper_python}"),
                 "raw_48px_publictest": {
                     "per_class": raw_per_class or "all", **peer_raw_accuracy(raw_faces, files)},
                 },
        "sets": sets,
    }


def format_report(report: dict) -> str:
    """Human-readable side-by-side table of a compare() result."""
    lines = [f"{report['frames']['total']} frames (640x480, FER-2013 PublicTest faces at "
             f"200 px, {report['frames']['per_class']} per class at most)",
             f"  ours: {report['ours']['pipeline']}, crops at "
             f"{', '.join(f'{scale:g}' for scale in report['ours']['crop_scales'])} x the face box",
             f"  peer: {report['peer']['pipeline']}, cascade {report['peer']['cascade_backend']}"]
    for edge, result in report["sets"].items():
        ours, peer = result["ours"], result["peer"]
        lines += ["", f"face edge: {edge} (reflected border {report['frames']['edges'][edge]:g}"
                      " of the face side)", f"{'':24}{'ours':>8}{'peer':>8}"]
        for key, name, fmt in (("accuracy", "accuracy (all frames)", "{:8.1%}"),
                               ("accuracy_where_found", "accuracy (face found)", "{:8.1%}"),
                               ("faces_found_rate", "faces found", "{:8.1%}"),
                               ("median_ms_per_frame", "median ms / frame", "{:8.1f}")):
            lines.append(f"{name:24}" + fmt.format(ours[key]) + fmt.format(peer[key]))
        lines.append("recall per class:")
        for label in PEER_LABELS:
            o, p = ours["per_class_recall"][label], peer["per_class_recall"][label]
            lines.append(f"  {label:22}" + "".join("       -" if v is None else f"{v:8.1%}"
                                                    for v in (o, p)))
    raw = report["peer"]["raw_48px_publictest"]
    lines.append(f"peer model on raw 48x48 PublicTest faces ({raw['faces']}, no detector): "
                 f"{raw['accuracy']:.1%}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--cascade-worker"]:
        _cascade_worker(*argv[1:4])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="fer2013.csv.gz")
    parser.add_argument("--per-class", type=int, default=60,
                        help="PublicTest faces per class (disgust has 56)")
    parser.add_argument("--raw-per-class", type=int, default=None,
                        help="raw 48x48 check: faces per class (default: all PublicTest)")
    parser.add_argument("--cascade-python",
                        help=f"Python with OpenCV 4 for the Haar cascade when this OpenCV "
                             f"lacks it (default: ${CASCADE_PYTHON_ENV})")
    parser.add_argument("--edges", default=",".join(EDGES),
                        help=f"frame sets to run, comma-separated from {', '.join(EDGES)}")
    parser.add_argument("--model", type=Path, default=None,
                        help="our expression model (.tflite with its card; default: the shipped one)")
    parser.add_argument("--crop-scales", default=None,
                        help="our crops, comma-separated scales of the face box "
                             "(default: device.infer.FER_CROP_SCALES)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        crop_scales = (tuple(float(scale) for scale in args.crop_scales.split(","))
                       if args.crop_scales else None)
    except ValueError:
        parser.error(f"--crop-scales: expected numbers like 1.05,1.18,1.32, got {args.crop_scales!r}")
    if crop_scales is not None and not all(0.5 <= scale <= 2.0 for scale in crop_scales):
        parser.error("--crop-scales: each scale must be from 0.5 to 2.0")
    edges = tuple(edge.strip() for edge in args.edges.split(",") if edge.strip())
    unknown = [edge for edge in edges if edge not in EDGES]
    if unknown or not edges:
        parser.error(f"--edges: unknown {', '.join(unknown) or '(none given)'}; "
                     f"choose from {', '.join(EDGES)}")
    try:
        report = compare(args.data, args.per_class, cascade_python(args.cascade_python),
                         args.raw_per_class, edges, args.model, crop_scales)
    except (PeerMissingError, FileNotFoundError) as error:
        print(f"compare_peer: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
