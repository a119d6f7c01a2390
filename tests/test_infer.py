"""Expression model wrapper, FER framing of the crop, and smoothing over time."""

from __future__ import annotations

import json
import math
import sys

import cv2
import numpy as np
import pytest

from device import infer
from device.faces import Face
from device.infer import (
    Expression,
    ExpressionModel,
    ExpressionSmoother,
    InterpreterMissingError,
    ModelMissingError,
    crop_face,
    load_interpreter,
)
from device.labels import EXPRESSIONS
from tests.fer_frames import make_frame

# --- the interpreter ------------------------------------------------------------


def test_load_interpreter_names_a_missing_file(tmp_path):
    with pytest.raises(ModelMissingError, match="nothing.tflite"):
        load_interpreter(tmp_path / "nothing.tflite")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_load_interpreter_names_a_damaged_file(tmp_path, damage):
    model = tmp_path / "emotion.tflite"
    real = infer.DEFAULT_MODEL_PATH.read_bytes()
    model.write_bytes(b"not a model at all" if damage == "garbage" else real[: len(real) // 3])
    with pytest.raises(ModelMissingError, match=r"emotion\.tflite cannot be loaded.*python -m conversion"):
        load_interpreter(model)


def test_without_any_runtime_both_packages_are_named(monkeypatch, tmp_path):
    for name in ("ai_edge_litert", "ai_edge_litert.interpreter",
                 "tflite_runtime", "tflite_runtime.interpreter"):
        monkeypatch.setitem(sys.modules, name, None)  # makes `import name` fail
    model = tmp_path / "m.tflite"
    model.write_bytes(b"x")
    with pytest.raises(InterpreterMissingError, match="ai-edge-litert.*tflite-runtime"):
        load_interpreter(model)


# --- the model wrapper against a fake interpreter ---------------------------------


class FakeInterpreter:
    """Records the input tensor; returns fixed raw output scores."""

    def __init__(self, input_dtype, input_q, output_dtype, output_q, raw_output):
        self.input_dtype, self.input_q = input_dtype, input_q
        self.output_dtype, self.output_q = output_dtype, output_q
        self.raw_output = np.asarray(raw_output, output_dtype)[None]
        self.fed = None

    def get_input_details(self):
        return [{"index": 0, "shape": np.array([1, 48, 48, 1]), "dtype": self.input_dtype,
                 "quantization": self.input_q,
                 "quantization_parameters": {"scales": np.array([self.input_q[0]]),
                                             "zero_points": np.array([self.input_q[1]])}}]

    def get_output_details(self):
        return [{"index": 1, "shape": np.array([1, 7]), "dtype": self.output_dtype,
                 "quantization": self.output_q,
                 "quantization_parameters": {"scales": np.array([self.output_q[0]]),
                                             "zero_points": np.array([self.output_q[1]])}}]

    def set_tensor(self, index, value):
        assert index == 0 and value.dtype == self.input_dtype and value.shape == (1, 48, 48, 1)
        self.fed = value.copy()

    def invoke(self):
        assert self.fed is not None

    def get_tensor(self, index):
        assert index == 1
        return self.raw_output


@pytest.fixture
def model_files(tmp_path):
    model = tmp_path / "emotion.tflite"
    model.write_bytes(b"fake")
    card = {"labels": list(EXPRESSIONS), "input": {"shape": [1, 48, 48, 1], "dtype": "int8"}}
    (tmp_path / "emotion.json").write_text(json.dumps(card))
    return model


def fake_model(monkeypatch, model_path, interpreter):
    monkeypatch.setattr(infer, "load_interpreter", lambda path, num_threads=1: interpreter)
    return ExpressionModel(model_path)


def gradient48():
    return np.tile(np.arange(0, 256, 256 / 48).astype(np.uint8), (48, 1))


def test_int8_input_takes_raw_pixels_through_its_own_quantization(monkeypatch, model_files):
    raw = [-128, -128, -128, 127, -128, -128, -88]  # int8 outputs, scale 1/256, zp -128
    interpreter = FakeInterpreter(np.int8, (1.0, -128), np.int8, (1 / 256, -128), raw)
    model = fake_model(monkeypatch, model_files, interpreter)
    gray = gradient48()
    result = model.classify(gray)
    assert np.array_equal(interpreter.fed[0, :, :, 0].astype(int), gray.astype(int) - 128)
    assert result.label == "happy"
    assert result.score == pytest.approx(255 / 256)
    assert result.scores["neutral"] == pytest.approx(40 / 256)
    assert list(result.scores) == list(EXPRESSIONS)


def test_uint8_input_and_float_output(monkeypatch, model_files):
    scores = [0.1, 0.0, 0.0, 0.0, 0.0, 0.8, 0.1]
    interpreter = FakeInterpreter(np.uint8, (1.0, 0), np.float32, (0.0, 0), scores)
    model = fake_model(monkeypatch, model_files, interpreter)
    gray = gradient48()
    result = model.classify(gray)
    assert np.array_equal(interpreter.fed[0, :, :, 0], gray)
    assert (result.label, result.score) == ("surprise", pytest.approx(0.8))


def test_input_scale_other_than_one_is_honoured(monkeypatch, model_files):
    interpreter = FakeInterpreter(np.int8, (2.0, -128), np.float32, (0.0, 0), [0] * 6 + [1])
    model = fake_model(monkeypatch, model_files, interpreter)
    model.classify(np.full((48, 48), 200, np.uint8))
    assert int(interpreter.fed[0, 0, 0, 0]) == 100 - 128


def test_labels_given_stand_in_for_a_missing_card(monkeypatch, model_files):
    """The conversion step scores a candidate model before its card exists."""
    model_files.with_suffix(".json").unlink()
    interpreter = FakeInterpreter(np.uint8, (1.0, 0), np.float32, (0.0, 0), [0.2] + [0.8 / 6] * 6)
    monkeypatch.setattr(infer, "load_interpreter", lambda path, num_threads=1: interpreter)
    with pytest.raises(ModelMissingError, match="Model card not found"):
        ExpressionModel(model_files)
    model = ExpressionModel(model_files, labels=EXPRESSIONS)
    assert model.labels == tuple(EXPRESSIONS)
    assert model.scores(gradient48()) == pytest.approx([0.2] + [0.8 / 6] * 6)
    with pytest.raises(ModelMissingError, match="outputs 7 scores"):
        ExpressionModel(model_files, labels=["happy", "sad"])


class ScoresByBrightness(FakeInterpreter):
    """Answers 'happy' for a bright crop and 'sad' for a dark one (float scores)."""

    def get_tensor(self, index):
        bright = float(self.fed.mean()) > 127
        scores = [0.0] * 7
        scores[EXPRESSIONS.index("happy" if bright else "sad")] = 0.9
        scores[EXPRESSIONS.index("neutral")] = 0.1
        return np.asarray(scores, np.float32)[None]


def test_classify_views_averages_the_scores_of_the_crops(monkeypatch, model_files):
    interpreter = ScoresByBrightness(np.uint8, (1.0, 0), np.float32, (0.0, 0), [0] * 7)
    model = fake_model(monkeypatch, model_files, interpreter)
    bright, dark = np.full((48, 48), 220, np.uint8), np.full((48, 48), 30, np.uint8)
    assert model.classify_views([bright]) == model.classify(bright)
    mixed = model.classify_views([bright, dark, bright])
    assert mixed.label == "happy"
    assert mixed.scores["happy"] == pytest.approx(0.6)
    assert mixed.scores["sad"] == pytest.approx(0.3)
    assert mixed.scores["neutral"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="at least one crop"):
        model.classify_views([])


def test_wrong_crop_size_is_refused(monkeypatch, model_files):
    interpreter = FakeInterpreter(np.uint8, (1.0, 0), np.float32, (0.0, 0), [1] + [0] * 6)
    model = fake_model(monkeypatch, model_files, interpreter)
    with pytest.raises(ValueError, match="48x48"):
        model.classify(np.zeros((64, 64), np.uint8))


def test_missing_model_says_how_to_get_one(tmp_path):
    with pytest.raises(ModelMissingError, match=r"absent.tflite.*python -m conversion"):
        ExpressionModel(tmp_path / "absent.tflite")


def test_missing_or_broken_card_is_named(tmp_path, model_files):
    model_files.write_bytes(infer.DEFAULT_MODEL_PATH.read_bytes())  # only the card is wrong
    (tmp_path / "emotion.json").unlink()
    with pytest.raises(ModelMissingError, match="emotion.json"):
        ExpressionModel(model_files)
    (tmp_path / "emotion.json").write_text('{"input": {}}')
    with pytest.raises(ModelMissingError, match="labels"):
        ExpressionModel(model_files)


def test_card_that_does_not_fit_the_model(monkeypatch, model_files, tmp_path):
    (tmp_path / "emotion.json").write_text(json.dumps({"labels": ["happy", "sad"]}))
    interpreter = FakeInterpreter(np.uint8, (1.0, 0), np.float32, (0.0, 0), [0] * 7)
    with pytest.raises(ModelMissingError, match="name 2 labels"):
        fake_model(monkeypatch, model_files, interpreter)


# --- the crop -----------------------------------------------------------------------


def textured_frame(seed=1):
    rng = np.random.default_rng(seed)
    grey = cv2.resize(rng.integers(0, 256, (15, 20), dtype=np.uint8), (640, 480),
                      interpolation=cv2.INTER_CUBIC)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)


def level_face(cx=320.0, cy=240.0, side=150.0):
    return Face(box=(round(cx - side / 2), round(cy - side / 2), round(side), round(side)),
                score=0.9, left_eye=(cx - 30, cy - 20), right_eye=(cx + 30, cy - 20))


def test_crop_is_the_fer_square_around_a_level_face():
    frame = textured_frame()
    face = level_face()
    crop = crop_face(frame, face, 48)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    side = infer.FER_CROP_SCALE * 150
    cx, cy = 320 + infer.FER_CROP_DX * 150, 240 + infer.FER_CROP_DY * 150
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    expected = cv2.cvtColor(frame[y0:y0 + round(side), x0:x0 + round(side)], cv2.COLOR_RGB2GRAY)
    expected = cv2.resize(expected, (48, 48), interpolation=cv2.INTER_AREA)
    assert np.abs(crop.astype(int) - expected).mean() < 4


@pytest.mark.parametrize("angle", [20.0, -35.0])
def test_crop_levels_a_tilted_face(angle):
    frame = textured_frame()
    upright = crop_face(frame, level_face(), 48)
    # tilt the whole scene about the face centre, and the eyes with it
    matrix = cv2.getRotationMatrix2D((320, 240), angle, 1.0)
    tilted = cv2.warpAffine(frame, matrix, (640, 480), borderMode=cv2.BORDER_REFLECT)
    face = level_face()

    def move(point):
        return tuple(matrix @ np.array([point[0], point[1], 1.0]))

    tilted_face = Face(face.box, face.score, move(face.left_eye), move(face.right_eye))
    levelled = crop_face(tilted, tilted_face, 48)
    unlevelled = crop_face(tilted, Face(face.box, 0.9, (0.0, 0.0), (1.0, 0.0)), 48)
    error = np.abs(levelled.astype(int) - upright).mean()
    assert error < 3
    assert error < 0.5 * np.abs(unlevelled.astype(int) - upright).mean()


def test_crop_of_a_face_at_the_edge_is_padded_not_broken():
    frame = textured_frame()
    crop = crop_face(frame, level_face(cx=10, cy=470, side=200), 48)
    assert crop.shape == (48, 48)


def test_crop_turns_colour_to_grey_once():
    red = np.zeros((480, 640, 3), np.uint8)
    red[..., 0] = 255  # pure red in RGB
    crop = crop_face(red, level_face(), 48)
    assert abs(int(crop[24, 24]) - round(0.299 * 255)) <= 1


# --- smoothing ---------------------------------------------------------------------


def expression(label, score=0.9):
    rest = (1 - score) / (len(EXPRESSIONS) - 1)
    scores = {name: (score if name == label else rest) for name in EXPRESSIONS}
    return Expression(label, score, scores)


def feed(smoother, label, start, seconds, fps=30.0):
    result = None
    for i in range(round(seconds * fps)):
        result = smoother.update(expression(label), start + i / fps)
    return result


def test_smoother_ignores_a_single_odd_frame():
    smoother = ExpressionSmoother(0.15)
    feed(smoother, "happy", 0.0, 1.0)
    assert smoother.update(expression("sad"), 1.0 + 1 / 30).label == "happy"


def test_smoother_follows_a_real_change_within_half_a_second():
    smoother = ExpressionSmoother(0.15)
    feed(smoother, "happy", 0.0, 1.0)
    after_quarter = feed(smoother, "surprise", 1.0, 0.25)
    assert after_quarter.label == "surprise"
    after_half = feed(smoother, "surprise", 1.25, 0.25)
    assert after_half.scores["surprise"] > 0.8


def test_smoother_does_not_depend_on_the_frame_rate():
    slow, fast = ExpressionSmoother(0.15), ExpressionSmoother(0.15)
    feed(slow, "happy", 0.0, 1.0, fps=10)
    feed(fast, "happy", 0.0, 1.0, fps=60)
    a = feed(slow, "sad", 1.0, 0.2, fps=10)
    b = feed(fast, "sad", 1.0, 0.2, fps=60)
    expected = 0.9 - 0.8 * math.exp(-0.2 / 0.15)  # analytic: from ~0.017 towards 0.9
    assert a.scores["sad"] == pytest.approx(b.scores["sad"], abs=0.06)
    assert b.scores["sad"] == pytest.approx(expected, abs=0.1)


def test_smoother_starts_afresh_after_the_face_was_lost():
    # A time constant longer than the gap, so a fresh start and a decayed blend differ:
    # with 0.15 s, 4 s of decay left exp(-27) of the old scores, and the test passed
    # with the reset taken out.
    smoother = ExpressionSmoother(2.0, reset_after_s=1.0)
    feed(smoother, "happy", 0.0, 1.0)
    result = smoother.update(expression("angry", 0.7), 1.0 + 1.5)
    assert result.label == "angry" and result.score == pytest.approx(0.7)
    assert result.scores["happy"] == pytest.approx(0.05)  # none of the old face is left
    within = ExpressionSmoother(2.0, reset_after_s=1.0)
    feed(within, "happy", 0.0, 1.0)
    assert within.update(expression("angry", 0.7), 1.0 + 0.5).label == "happy"  # still blended


# --- the shipped model -------------------------------------------------------------


def test_shipped_model_card_and_input(expression_model):
    assert expression_model.labels == EXPRESSIONS
    assert expression_model.input_size == (48, 48)


def test_shipped_model_recognises_clear_faces(face_detector, expression_model, clear_fer_faces):
    right = {}
    for i, (label, face48) in enumerate(clear_fer_faces):
        frame = make_frame(face48, seed=i)
        face = face_detector.detect(frame)[0]
        result = expression_model.classify(crop_face(frame, face, 48))
        assert sum(result.scores.values()) == pytest.approx(1.0, abs=0.05)
        right.setdefault(label, []).append(result.label == label)
    assert sum(right["happy"]) >= len(right["happy"]) - 1, right
    assert sum(right["surprise"]) >= len(right["surprise"]) - 2, right


def test_shipped_model_on_the_raw_fer_face_agrees_with_the_crop(expression_model, clear_fer_faces):
    """The 48x48 face straight from the data set is what the model was trained on."""
    hits = sum(expression_model.classify(face48).label == label
               for label, face48 in clear_fer_faces if label in ("happy", "surprise"))
    assert hits >= 10  # pixels fed wrongly (e.g. scaled to 0-1) give ~2
