"""Measure a Keras or TFLite expression model on one split of FER-2013.

The same metrics for both formats, so the int8 model on the device is judged
exactly like the Keras model it came from: accuracy, macro-F1, per-class
recall and the confusion matrix.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from device.labels import EXPRESSIONS


@dataclass(frozen=True)
class Metrics:
    split: str
    faces: int
    accuracy: float
    macro_f1: float
    recall: dict[str, float]
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
    n = len(EXPRESSIONS)
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    true_counts = confusion.sum(axis=1)
    predicted_counts = confusion.sum(axis=0)
    hits = np.diag(confusion)
    recall = np.divide(hits, true_counts, out=np.zeros(n), where=true_counts > 0)
    precision = np.divide(hits, predicted_counts, out=np.zeros(n), where=predicted_counts > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros(n), where=denominator > 0)
    return Metrics(
        split=split,
        faces=int(len(y_true)),
        accuracy=float(hits.sum() / max(1, len(y_true))),
        macro_f1=float(f1.mean()),
        recall={name: float(r) for name, r in zip(EXPRESSIONS, recall, strict=True)},
        confusion=confusion.tolist(),
    )


def predict_keras(model_or_path, faces: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class scores (N, 7) from a Keras model or a `.keras` file."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    import training.models  # noqa: F401  (registers the custom layers for loading)

    model = model_or_path
    if isinstance(model_or_path, (str, Path)):
        model = keras.models.load_model(model_or_path, compile=False)
    x = faces.astype(np.float32)[..., None]
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))


def predict_tflite(path: str | Path, faces: np.ndarray) -> np.ndarray:
    """Class scores (N, 7) from a `.tflite` file, one face per invoke as on
    the device, through the tensors' own quantization."""
    from device.infer import load_interpreter

    interpreter = load_interpreter(path, num_threads=max(1, os.cpu_count() or 1))
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    scores = np.empty((len(faces), out["shape"][-1]), dtype=np.float32)
    for i, face in enumerate(faces):
        interpreter.set_tensor(inp["index"], quantize(face[None, ..., None], inp))
        interpreter.invoke()
        scores[i] = dequantize(interpreter.get_tensor(out["index"])[0], out)
    return scores


def quantize(values: np.ndarray, detail: dict) -> np.ndarray:
    """Real values -> the tensor's dtype via its (scale, zero point)."""
    dtype = detail["dtype"]
    scale, zero_point = detail["quantization"]
    if np.issubdtype(dtype, np.floating) or not scale:
        return values.astype(dtype)
    info = np.iinfo(dtype)
    q = np.round(values.astype(np.float32) / scale + zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if np.issubdtype(values.dtype, np.floating) or not scale:
        return values.astype(np.float32)
    return (values.astype(np.float32) - zero_point) * scale


def predict(model_path: str | Path, faces: np.ndarray) -> np.ndarray:
    path = Path(model_path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file")
    if path.suffix == ".tflite":
        return predict_tflite(path, faces)
    return predict_keras(path, faces)


def evaluate(model_path: str | Path, faces: np.ndarray, labels: np.ndarray, split: str) -> Metrics:
    scores = predict(model_path, faces)
    return metrics(labels, scores.argmax(axis=1), split)
