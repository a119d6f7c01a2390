"""Analyser: faces found, largest classified, detection on a smaller image."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from device.infer import FER_CROP_SCALES, Expression
from device.labels import EXPRESSIONS
from device.pipeline import Analyser, FaceResult
from tests.fer_frames import face_square_in_frame, make_background, make_frame


class RecordingModel:
    """Stands in for ExpressionModel: remembers the crops, answers 'neutral'."""

    input_size = (48, 48)
    labels = EXPRESSIONS

    def __init__(self):
        self.crops = []

    def classify_views(self, crops):
        self.crops.append(list(crops))
        scores = {label: (1.0 if label == "neutral" else 0.0) for label in EXPRESSIONS}
        return Expression("neutral", 1.0, scores)


@pytest.fixture
def two_face_frame(clear_fer_faces):
    (_, big), (_, small) = clear_fer_faces[0], clear_fer_faces[8]
    frame = make_frame(small, face_px=130, center=(480, 200))
    frame[140:380, 40:280] = make_frame(big, size=(240, 240), face_px=200)
    return frame


def test_only_the_largest_face_is_classified_by_default(face_detector, two_face_frame):
    model = RecordingModel()
    results = Analyser(face_detector, model).analyse(two_face_frame)
    assert [type(r) for r in results] == [FaceResult, FaceResult]
    assert results[0].face.area > results[1].face.area
    assert results[0].expression.label == "neutral" and results[1].expression is None
    assert len(model.crops) == 1  # one face, seen at every crop scale
    assert [crop.shape for crop in model.crops[0]] == [(48, 48)] * len(FER_CROP_SCALES)
    # a larger scale shows more around the face: its centre is a smaller part of it
    assert not np.array_equal(model.crops[0][0], model.crops[0][-1])


def test_the_crops_follow_crop_scales(face_detector, two_face_frame):
    """scripts/compare_peer.py --crop-scales measures one crop against three this way."""
    three, one = RecordingModel(), RecordingModel()
    Analyser(face_detector, three).analyse(two_face_frame)
    Analyser(face_detector, one, crop_scales=(1.18,)).analyse(two_face_frame)
    assert len(one.crops[0]) == 1
    assert np.array_equal(one.crops[0][0], three.crops[0][FER_CROP_SCALES.index(1.18)])


def test_all_faces_are_classified_on_request(face_detector, two_face_frame):
    model = RecordingModel()
    results = Analyser(face_detector, model).analyse(two_face_frame, all_faces=True)
    assert all(r.expression is not None for r in results) and len(model.crops) == 2


def test_no_face_gives_an_empty_list(face_detector):
    model = RecordingModel()
    empty = cv2.cvtColor(make_background(), cv2.COLOR_GRAY2RGB)
    assert Analyser(face_detector, model).analyse(empty) == []
    assert model.crops == []


def test_detection_on_the_small_image_is_scaled_to_the_main_one(face_detector, clear_fer_faces):
    _, face48 = clear_fer_faces[2]
    main = make_frame(face48, center=(400, 260))
    lores = cv2.resize(main, (320, 240), interpolation=cv2.INTER_AREA)
    analyser = Analyser(face_detector, RecordingModel())
    direct = analyser.analyse(main)[0].face
    scaled = analyser.analyse(main, detect_image=lores)[0].face
    assert np.allclose(scaled.box, direct.box, atol=8), (scaled.box, direct.box)
    assert np.allclose(scaled.left_eye, direct.left_eye, atol=6)
    x, y, w, h = face_square_in_frame(center=(400, 260))
    assert x <= scaled.box[0] + scaled.box[2] / 2 <= x + w


def test_from_config_reads_the_detector_and_model_settings(expression_model):
    config = SimpleNamespace(detector=SimpleNamespace(min_score=0.7),
                             model=SimpleNamespace(path=""))
    analyser = Analyser.from_config(config)
    assert analyser.detector.min_score == 0.7
    assert analyser.model.path == expression_model.path


def test_clear_faces_get_their_labels(face_detector, expression_model, clear_fer_faces):
    analyser = Analyser(face_detector, expression_model)
    labels = {}
    for i, (label, face48) in enumerate(clear_fer_faces):
        results = analyser.analyse(make_frame(face48, seed=i))
        labels.setdefault(label, []).append(results[0].expression.label if results else None)
    assert labels["happy"].count("happy") >= len(labels["happy"]) - 1, labels
    assert labels["surprise"].count("surprise") >= len(labels["surprise"]) - 2, labels
