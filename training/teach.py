"""Teacher scores for training a student model by distillation.

Averaging several trained models (an ensemble) classifies better than any one
of them, but the booth runs one small model. Training that model towards the
ensemble's scores for each Training face, as well as towards the labels
(knowledge distillation), hands on part of the ensemble's gain at no cost on
the device. The scores are computed once, averaged over the teachers and over
each face and its mirror image (the student's augmentation mirrors faces, and
a mirrored face keeps its expression), and saved with a fingerprint of the
faces, so they are never applied to other data.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.labels import NUM_CLASSES
from device.storage import atomic_write_bytes

FORMAT = "memoji-booth teacher scores v1"


@dataclass(frozen=True)
class TeacherScores:
    """Scores (N, classes) for the Training faces with this fingerprint."""

    scores: np.ndarray
    fingerprint: str
    teachers: tuple[str, ...]
    command: str

    @property
    def digest(self) -> str:
        """Identifies these scores: a resumed student must learn from the same ones."""
        return hashlib.sha256(np.ascontiguousarray(self.scores, dtype=np.float32).tobytes()).hexdigest()[:20]


def fingerprint(faces: np.ndarray, labels: np.ndarray) -> str:
    """A digest of the faces and labels, in order: scores belong to exactly these."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(faces, dtype=np.uint8).tobytes())
    digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return digest.hexdigest()[:20]


def load_teacher(path: str | Path):
    """A teacher `.keras` model, as it scores sharp faces."""
    from training.evaluate import load_keras_model

    return load_keras_model(path, what="teacher model")


def for_training_faces(model):
    """The same model scoring Training faces as they are.

    Our `default` models blur sharp faces at inference to match the blurred
    Training faces (models.MatchTrainingBlur); Training faces must not be
    blurred twice, so that layer is switched off.
    """
    from training.models import MatchTrainingBlur

    for layer in model.layers:
        if isinstance(layer, MatchTrainingBlur):
            layer.sigma = 0.0
    model.make_predict_function(force=True)  # a traced predict would still blur
    return model


def predict_scores(model, faces: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The model's scores for faces (N, 48, 48) uint8, averaged with their mirrors."""
    x = faces.astype(np.float32)[..., None]
    scores = model.predict(x, batch_size=batch_size, verbose=0)
    mirrored = model.predict(x[:, :, ::-1], batch_size=batch_size, verbose=0)
    return ((scores + mirrored) / 2).astype(np.float32)


def teach(teachers: list[str | Path], faces: np.ndarray, labels: np.ndarray, command: str,
          check: tuple[np.ndarray, np.ndarray] | None = None, log=print) -> TeacherScores:
    """The teachers' mean scores for the Training faces.

    `check` (PublicTest faces and labels) is only reported on: each teacher's
    accuracy and the ensemble's (one view, no mirror, as `evaluate` scores),
    so the user sees what there is to distil.
    """
    if not teachers:
        raise ValueError("give at least one --teacher model")
    total, check_total = None, None
    for number, path in enumerate(teachers, 1):
        model = load_teacher(path)
        note = ""
        if check is not None:
            check_scores = model.predict(check[0].astype(np.float32)[..., None], batch_size=256, verbose=0)
            check_total = check_scores if check_total is None else check_total + check_scores
            note = f", PublicTest accuracy {np.mean(check_scores.argmax(1) == check[1]):.2%}"
        scores = predict_scores(for_training_faces(model), faces)
        total = scores if total is None else total + scores
        log(f"teacher {number}/{len(teachers)} {path}: agrees with the Training labels on "
            f"{np.mean(scores.argmax(1) == labels):.2%}{note}")
    mean = total / len(teachers)
    note = ""
    if check is not None:
        note = f", PublicTest accuracy {np.mean(check_total.argmax(1) == check[1]):.2%}"
    log(f"all {len(teachers)} teachers: agree with the Training labels on "
        f"{np.mean(mean.argmax(1) == labels):.2%}{note}")
    return TeacherScores(mean, fingerprint(faces, labels), tuple(str(p) for p in teachers), command)


def save(path: str | Path, teacher_scores: TeacherScores) -> None:
    """Write the scores (float16 is plenty for probabilities) atomically."""
    meta = {"format": FORMAT, "fingerprint": teacher_scores.fingerprint,
            "teachers": list(teacher_scores.teachers), "command": teacher_scores.command}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, scores=teacher_scores.scores.astype(np.float16), meta=np.array(json.dumps(meta)))
    atomic_write_bytes(path, buffer.getvalue())


def load(path: str | Path, faces: np.ndarray, labels: np.ndarray) -> TeacherScores:
    """Read scores saved by `save` for exactly these Training faces, or fail saying why."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such teacher-scores file (make one with `python -m training teach`)")
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            scores = stored["scores"].astype(np.float32)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError("no teacher-scores header")
        made_for, teachers = meta["fingerprint"], tuple(meta["teachers"])
    except (OSError, KeyError, ValueError, TypeError, AttributeError) as error:
        raise ValueError(f"{path}: not a teacher-scores file made by `python -m training teach` ({error})") from None
    if scores.ndim != 2 or scores.shape[1] != NUM_CLASSES:
        raise ValueError(f"{path}: scores of shape {scores.shape}; expected (faces, {NUM_CLASSES})")
    expected = fingerprint(faces, labels)
    if made_for != expected or scores.shape[0] != len(labels):
        raise ValueError(
            f"{path}: these scores were made for other Training faces ({scores.shape[0]} faces, "
            f"fingerprint {made_for}; this data has {len(labels)}, {expected}); "
            "run `python -m training teach` on this data"
        )
    return TeacherScores(scores, made_for, teachers, str(meta.get("command", "")))
