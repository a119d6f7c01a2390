"""scripts/compare_peer.py: the rebuilt `fer` peer's geometry and scoring, and a short run.

The short run needs the `fer` package's files (installed without its heavy
dependencies) and a Haar cascade: this OpenCV's, or a helper Python with
OpenCV 4 named by COMPARE_PEER_CASCADE_PYTHON. Without them it is skipped
with the command that provides them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import load_script
from tests.fer_frames import FER_CSV

compare_peer = load_script("compare_peer")


def test_peer_square_lengthens_the_shorter_side_about_the_centre():
    assert compare_peer.peer_square((100, 50, 60, 80)) == (90, 50, 80, 80)
    assert compare_peer.peer_square((100, 50, 81, 60)) == (100, 40, 81, 81)
    assert compare_peer.peer_square((5, 6, 70, 70)) == (5, 6, 70, 70)


def test_peer_crop_takes_the_widened_box_from_the_padded_frame():
    grey = np.zeros((480, 640), np.uint8)
    grey[200:300, 300:400] = 255  # the "face"; the 10 px margin around it stays 0
    padded = compare_peer.peer_pad(grey)
    assert padded.shape == (480 + 80, 640 + 80)
    crop = compare_peer.peer_crop(padded, (300, 200, 100, 100))
    assert crop.shape == (64, 64)
    # 120 px (face + 2x10 margin) -> 64 px: the margin is ~5 px of black each side
    assert crop[32, 32] == 255 and crop[32, 1] == 0 and crop[1, 32] == 0
    assert crop[32, 62] == 0 and crop[62, 32] == 0


def test_peer_crop_at_the_frame_edge_uses_the_mean_border():
    grey = np.full((480, 640), 90, np.uint8)
    grey[-2:, :] = 30  # fer pads with the mean of the bottom two rows
    padded = compare_peer.peer_pad(grey)
    crop = compare_peer.peer_crop(padded, (-20, -20, 60, 60))
    assert crop is not None and crop[0, 0] == 30 and crop[40, 40] == 90


def test_peer_preprocess_maps_to_minus_one_one():
    x = compare_peer.peer_preprocess(np.array([[0, 255]], np.uint8))
    assert x.shape == (1, 1, 2, 1) and x.dtype == np.float32
    assert x.ravel().tolist() == [-1.0, 1.0]


def test_peer_label_rounds_then_takes_the_first_maximum():
    # angry 0.454 and sad 0.449 both round to 0.45: fer's top_emotion picks angry
    scores = np.array([0.454, 0.0, 0.0, 0.001, 0.449, 0.0, 0.096])
    assert compare_peer.peer_label(scores) == "angry"
    assert compare_peer.peer_label(np.eye(7)[5]) == "surprise"


def test_summarise_counts_a_missed_face_as_wrong():
    Outcome = compare_peer.Outcome
    truths = ["happy", "happy", "sad", "neutral"]
    outcomes = [Outcome("happy", 0.001), Outcome(None, 0.002), Outcome("sad", 0.003),
                Outcome("happy", 0.004)]
    summary = compare_peer.summarise(truths, outcomes)
    assert summary["accuracy"] == 0.5
    assert summary["accuracy_where_found"] == pytest.approx(2 / 3)
    assert summary["faces_found_rate"] == 0.75
    assert summary["per_class_recall"]["happy"] == 0.5
    assert summary["per_class_recall"]["neutral"] == 0.0
    assert summary["per_class_recall"]["fear"] is None
    assert summary["median_ms_per_frame"] == pytest.approx(2.5)


def test_missing_fer_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(compare_peer.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(compare_peer.PeerMissingError, match="pip install --no-deps fer=="):
        compare_peer.find_fer_files()


def test_missing_cascade_says_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.setattr(compare_peer, "has_cascade_classifier", lambda: False)
    with pytest.raises(compare_peer.PeerMissingError, match="--cascade-python"):
        compare_peer.detect_faces_haar(np.zeros((1, 48, 48), np.uint8), tmp_path / "x.xml")


def _peer_or_skip() -> None:
    try:
        compare_peer.find_fer_files()
    except compare_peer.PeerMissingError:
        pytest.skip(f"fer package not installed: {compare_peer.FER_INSTALL}")
    helper = compare_peer.cascade_python()
    if not compare_peer.has_cascade_classifier() and not (helper and Path(helper).is_file()):
        pytest.skip(f"no Haar cascade in this OpenCV and no helper Python at {helper}: "
                    f"{compare_peer.CASCADE_PYTHON_SETUP}, then set "
                    f"{compare_peer.CASCADE_PYTHON_ENV}=PATH/bin/python")
    if not FER_CSV.is_file():
        pytest.skip(f"FER-2013 CSV not found: {FER_CSV}")


def test_short_comparison_reports_both_pipelines(capsys):
    _peer_or_skip()
    code = compare_peer.main(["--data", str(FER_CSV), "--per-class", "2",
                              "--raw-per-class", "3", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"]["total"] == 14
    assert set(report["sets"]) == {"noise", "continued"}
    for name, edge in ((n, e) for n in ("ours", "peer") for e in report["sets"]):
        side = report["sets"][edge][name]
        assert side["frames"] == 14
        assert side["faces_found_rate"] >= 0.7, (name, edge)  # both detectors see most faces
        assert 0.0 <= side["accuracy"] <= side["accuracy_where_found"] <= 1.0
        assert set(side["per_class_recall"]) == set(compare_peer.PEER_LABELS)
        assert side["median_ms_per_frame"] > 0
    raw = report["peer"]["raw_48px_publictest"]
    assert raw["faces"] == 21 and 0.0 <= raw["accuracy"] <= 1.0
    assert report["ours"]["crop_scales"] == [1.05, 1.18, 1.32]


@pytest.mark.parametrize("scales", ["x", "1.18,", "3"])
def test_bad_crop_scales_are_refused_naming_the_option(capsys, scales):
    with pytest.raises(SystemExit) as exit_:
        compare_peer.main(["--crop-scales", scales])
    error = capsys.readouterr().err.splitlines()[-1]  # the usage line above names every option
    assert exit_.value.code == 2 and ": error: --crop-scales: " in error
