"""Keras -> TensorFlow Lite, fully int8-quantized, with a parity check and a model card.

The converted model keeps the training graph's contract: it takes the grey
48x48 face as raw 0-255 values through its quantized (uint8) input and gives
class scores through its quantized output. Nothing is written unless the
converted model's PublicTest accuracy is within `max_drop` points of the
Keras model's, so a bad calibration can never ship silently.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.labels import EXPRESSIONS
from training import data as fer
from training.evaluate import Metrics, evaluate, load_keras_model, predict_keras
from training.evaluate import metrics as score_metrics
from training.reports import best_in_history

QUANTIZATIONS = ("int8", "float16", "none")


class ParityError(RuntimeError):
    """The converted model lost more accuracy than allowed."""


@dataclass(frozen=True)
class Conversion:
    path: Path
    card_path: Path
    keras: Metrics
    tflite: Metrics
    latency_ms: float


def representative_faces(faces: np.ndarray, labels: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """A class-stratified draw from Training for int8 calibration."""
    rng = np.random.default_rng(seed)
    picks = []
    for label in np.unique(labels):
        ids = np.flatnonzero(labels == label)
        share = max(1, round(count * len(ids) / len(labels)))
        picks.extend(rng.choice(ids, size=min(share, len(ids)), replace=False))
    return faces[np.sort(np.asarray(picks))]


def to_tflite(model, quantize: str, calibration: np.ndarray | None = None) -> bytes:
    """Convert a Keras model to a TFLite flatbuffer with a batch-1 input."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    shape = (1, *model.input_shape[1:])
    with tempfile.TemporaryDirectory() as saved:
        # Keras 3 -> SavedModel with a fixed batch-1 signature, then TFLite:
        # the route that freezes variables for the int8 calibrator.
        model.export(saved, format="tf_saved_model", verbose=False,
                     input_signature=[tf.TensorSpec(shape, tf.float32, name="face")])
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        return _configure(converter, tf, shape, quantize, calibration).convert()


def _configure(converter, tf, shape, quantize, calibration):
    if quantize == "int8":
        if calibration is None or not len(calibration):
            raise ValueError("int8 quantization needs representative faces")

        def representative():
            for face in calibration:
                yield [face.astype(np.float32).reshape(shape)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    elif quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize != "none":
        raise ValueError(f"unknown quantization {quantize!r}; choose from {', '.join(QUANTIZATIONS)}")
    return converter


def with_flip_tta(model):
    """Average the scores of the face and its mirror image, inside the graph.

    Expressions are left-right symmetric, so the mirror is a free second
    opinion; the device pays one more invoke's worth of compute and no code.
    """
    import keras

    inputs = keras.Input(model.input_shape[1:], name="face")
    mirrored = keras.layers.Lambda(lambda x: keras.ops.flip(x, axis=2), name="mirror")(inputs)
    scores = keras.layers.Average(name="scores")([model(inputs), model(mirrored)])
    return keras.Model(inputs, scores, name=f"{model.name}_flip_tta")


def median_latency_ms(path: Path, runs: int = 300) -> float:
    """Median time of one invoke on one thread (after warm-up)."""
    from device.infer import load_interpreter

    interpreter = load_interpreter(path, num_threads=1)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    face = np.random.default_rng(0).integers(0, 256, detail["shape"], dtype=np.uint8)
    interpreter.set_tensor(detail["index"], face.astype(detail["dtype"]))
    for _ in range(20):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def convert(
    keras_path: str | Path,
    data_path: str | Path,
    out: str | Path,
    quantize: str = "int8",
    max_drop: float = 1.0,
    calibration_count: int = 500,
    flip_tta: bool = False,
    command: str | None = None,
) -> Conversion:
    keras_path, out = Path(keras_path), Path(out)
    model = load_keras_model(keras_path)
    if flip_tta:
        model = with_flip_tta(model)
    dataset = fer.load(data_path, {"Training", "PublicTest"})
    x_train, y_train = dataset.split("Training")
    x_test, y_test = dataset.split("PublicTest")

    calibration = representative_faces(x_train, y_train, calibration_count)
    flatbuffer = to_tflite(model, quantize, calibration if quantize == "int8" else None)

    keras_metrics = score_metrics(y_test, predict_keras(model, x_test).argmax(axis=1), "PublicTest")
    out.parent.mkdir(parents=True, exist_ok=True)
    # hidden and named after the model, so a killed run's leftover is recognisable
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as scratch:
        candidate = Path(scratch) / out.name
        candidate.write_bytes(flatbuffer)
        tflite_metrics = evaluate(candidate, x_test, y_test, "PublicTest")
        drop = 100 * (keras_metrics.accuracy - tflite_metrics.accuracy)
        if drop > max_drop:
            raise ParityError(
                f"{quantize} model PublicTest accuracy {100 * tflite_metrics.accuracy:.2f}% is "
                f"{drop:.2f} points below the Keras model's {100 * keras_metrics.accuracy:.2f}% "
                f"(allowed: {max_drop:.1f}); nothing was written to {out}"
            )
        latency = median_latency_ms(candidate)
        card = model_card(
            model, keras_path, candidate, quantize, keras_metrics, tflite_metrics, latency,
            len(calibration), flip_tta, command, data_path,
        )
        card_path = out.with_suffix(".json")
        card_tmp = Path(scratch) / card_path.name
        card_tmp.write_text(json.dumps(card, indent=2) + "\n")
        os.replace(candidate, out)
        os.replace(card_tmp, card_path)
    return Conversion(out, card_path, keras_metrics, tflite_metrics, latency)


def model_card(model, keras_path, tflite_path, quantize, keras_metrics, tflite_metrics,
               latency_ms, calibration_count, flip_tta, command, data_path) -> dict:
    from device.infer import load_interpreter

    interpreter = load_interpreter(tflite_path)
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    run_json = Path(keras_path).parent / "run.json"
    run = json.loads(run_json.read_text()) if run_json.exists() else {}
    return {
        "name": "memoji-booth expression model",
        "labels": list(EXPRESSIONS),
        "input": {
            "shape": [int(d) for d in inp["shape"]],
            "dtype": np.dtype(inp["dtype"]).name,
            "quantization": {"scale": float(inp["quantization"][0]), "zero_point": int(inp["quantization"][1])},
            "pixels": (
                "one grey face, 48x48, framed as FER-2013 frames faces; raw 0-255 pixel values "
                "quantized with the tensor's own scale and zero point (for uint8 with scale 1 and "
                "zero point 0 the pixel bytes go in as they are); no outside normalisation"
            ),
        },
        "output": {
            "shape": [int(d) for d in out["shape"]],
            "dtype": np.dtype(out["dtype"]).name,
            "quantization": {"scale": float(out["quantization"][0]), "zero_point": int(out["quantization"][1])},
            "meaning": "softmax scores in label order, dequantized with the tensor's scale and zero point",
        },
        "quantization": quantize,
        "calibration": f"{calibration_count} class-stratified Training faces" if quantize == "int8" else None,
        "architecture": model.name,
        "flip_tta": flip_tta,
        "parameters": int(model.count_params()),
        "file_bytes": Path(tflite_path).stat().st_size,
        "training": {
            "data": "FER-2013 ({} layout)".format(
                "folder tree" if Path(data_path).is_dir() else "Kaggle CSV"),
            "train_split": "Training",
            "selection_split": "PublicTest",
            "epochs_trained": run.get("epochs_done"),
            # runs from before run.json recorded it: the epoch history.csv names
            "best_epoch": run.get("best_epoch") or best_in_history(Path(keras_path).parent / "history.csv")[1],
            "seed": run.get("seed"),
            "recipe": run.get("recipe"),
            "teacher_scores": run.get("teacher_scores"),  # None unless distilled
            "command": run.get("command"),
        },
        "publictest": {
            "faces": tflite_metrics.faces,
            "keras_accuracy": round(keras_metrics.accuracy, 4),
            "tflite_accuracy": round(tflite_metrics.accuracy, 4),
            "tflite_macro_f1": round(tflite_metrics.macro_f1, 4),
            "tflite_recall": {k: round(v, 4) for k, v in tflite_metrics.recall.items()},
            "tflite_confusion": tflite_metrics.confusion,
        },
        "latency": {
            "median_ms_one_face_one_thread": round(latency_ms, 4),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        },
        "git_commit": _git_commit(),
        "command": command,
    }


def _git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10,
            cwd=Path(__file__).resolve().parent,
        )
        return result.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
