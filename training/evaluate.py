"""Measure a Keras or TFLite expression model on one split of FER-2013.

The same metrics for both formats, so the int8 model on the device is judged
exactly like the Keras model it came from: accuracy, macro-F1, per-class
recall and the confusion matrix.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from device.labels import EXPRESSIONS, NUM_CLASSES


@dataclass(frozen=True)
class Metrics:
    split: str
    faces: int
    accuracy: float
    macro_f1: float
    recall: dict[str, float]  # for each class with faces in the split
    confusion: list[list[int]]

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        recall = "  ".join(f"{k} {100 * v:.1f}" for k, v in self.recall.items())
        return (
            f"{self.split}: {self.faces} faces, accuracy {100 * self.accuracy:.2f}%, "
            f"macro-F1 {100 * self.macro_f1:.2f}%\nrecall: {recall}"
        )


def metrics(y_true: np.ndarray, y_pred: np.ndarray, split: str) -> Metrics:
    n = NUM_CLASSES
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    true_counts = confusion.sum(axis=1)
    predicted_counts = confusion.sum(axis=0)
    hits = np.diag(confusion)
    recall = np.divide(hits, true_counts, out=np.zeros(n), where=true_counts > 0)
    precision = np.divide(hits, predicted_counts, out=np.zeros(n), where=predicted_counts > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros(n), where=denominator > 0)
    # A class with no faces and no predictions (an empty class folder) has no F1 or
    # recall to speak of: averaging in a 0 for it would understate the model.
    seen = (true_counts + predicted_counts) > 0
    return Metrics(
        split=split,
        faces=int(len(y_true)),
        accuracy=float(hits.sum() / max(1, len(y_true))),
        macro_f1=float(f1[seen].mean()) if seen.any() else 0.0,
        recall={name: float(r) for name, r, count in zip(EXPRESSIONS, recall, true_counts, strict=True)
                if count},
        confusion=confusion.tolist(),
    )


FACE_INPUT = (48, 48, 1)


def load_keras_model(path: str | Path, what: str = "Keras model"):
    """A `.keras` expression model, checked up front: one 48x48 grey face in, seven
    scores out. Anything else is a ValueError saying what the file holds, rather than
    a reshape or index error deep inside scoring or conversion."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    import training.models  # noqa: F401  (registers the custom layers for loading)

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such {what}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a .keras file (Keras 3 saves models as zip archives)")
    try:
        model = keras.models.load_model(path, compile=False)
    except (KeyError, ValueError, OSError, TypeError) as error:  # a zip, but not a model
        raise ValueError(f"{path}: not a Keras model Keras can load ({error})") from None
    try:
        takes, gives = tuple(model.input_shape[1:]), model.output_shape[-1]
    except (AttributeError, TypeError):  # several inputs or outputs
        takes, gives = "several inputs", "several outputs"
    if takes != FACE_INPUT or gives != NUM_CLASSES:
        raise ValueError(
            f"{path}: takes {takes} and gives {gives} scores; an expression model takes one "
            f"48x48 grey face {FACE_INPUT} and gives {NUM_CLASSES} ({', '.join(EXPRESSIONS)})"
        )
    return model


def predict_keras(model_or_path, faces: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class scores (N, 7) from a Keras model or a `.keras` file."""
    model = model_or_path
    if isinstance(model_or_path, (str, Path)):
        model = load_keras_model(model_or_path)
    x = faces.astype(np.float32)[..., None]
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))


def predict_tflite(path: str | Path, faces: np.ndarray) -> np.ndarray:
    """Class scores (N, 7) from a `.tflite` file, one face per invoke through
    the booth's own ExpressionModel, so it is judged exactly as it will run."""
    from device.infer import ExpressionModel

    model = ExpressionModel(path, num_threads=max(1, os.cpu_count() or 1), labels=EXPRESSIONS)
    return np.stack([model.scores(face) for face in faces])  # float32, dequantized


def predict(model_path: str | Path, faces: np.ndarray) -> np.ndarray:
    path = Path(model_path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file")
    if path.suffix.lower() == ".tflite":  # EMOTION.TFLITE too, as some file systems name it
        return predict_tflite(path, faces)
    return predict_keras(path, faces)


def evaluate(model_path: str | Path, faces: np.ndarray, labels: np.ndarray, split: str) -> Metrics:
    scores = predict(model_path, faces)
    return metrics(labels, scores.argmax(axis=1), split)
