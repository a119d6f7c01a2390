"""The blur estimate that matches sharp faces to the blurred Training faces."""

import cv2
import numpy as np
import pytest

from training.sharpness import blur, blur_profile, estimate_blur_sigma


def _textures(n, seed):
    """Face-sized images with a natural-image-like spectrum."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(128, 60, (n, 48, 48)).astype(np.float32)
    return np.clip(blur(noise, 0.8), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("sigma", [1.6, 2.4, 3.4])
def test_recovers_the_blur_between_two_sets(sigma):
    sharp = _textures(400, seed=1)
    blurred = blur(_textures(800, seed=2), sigma)
    assert estimate_blur_sigma(blurred, sharp, samples=400) == pytest.approx(sigma, abs=0.25)


def test_blur_profile_reads_the_sigma_of_a_gaussian_blur_at_every_frequency():
    sharp = _textures(400, seed=6)
    blurred = blur(_textures(800, seed=7), 2.0)
    profile = blur_profile(blurred, sharp, max_radius=8)
    assert [row["cycles_per_face"] for row in profile] == list(range(1, 9))
    # The window smears the lowest two radii a little; up to 8 the blur is still above the noise.
    for row in profile[2:]:
        assert row["implied_sigma"] == pytest.approx(2.0, abs=0.2)
    assert profile[0]["power_ratio"] > profile[5]["power_ratio"]


def test_blur_profile_of_equally_sharp_sets_is_flat():
    profile = blur_profile(_textures(800, seed=8), _textures(400, seed=9), max_radius=8)
    for row in profile:
        assert row["power_ratio"] == pytest.approx(1.0, abs=0.15)


def test_equally_sharp_sets_need_no_blur():
    assert estimate_blur_sigma(_textures(800, seed=3), _textures(400, seed=4), samples=400) == 0.0


def test_blur_layer_blurs_at_inference_only():
    pytest.importorskip("tensorflow", reason="the training extra is not installed")
    from training.models import MatchTrainingBlur

    faces = _textures(2, seed=5).astype(np.float32)[..., None]
    layer = MatchTrainingBlur(2.0)
    np.testing.assert_array_equal(np.asarray(layer(faces, training=True)), faces)
    inferred = np.asarray(layer(faces, training=False))[..., 0]
    expected = np.stack([cv2.GaussianBlur(f[..., 0], (13, 13), 2.0, borderType=cv2.BORDER_REFLECT_101)
                         for f in faces])
    assert inferred.shape == expected.shape
    assert np.abs(inferred - expected).max() < 1.0


def test_the_sharpness_command_matches_split_names_in_any_case(tmp_path, capsys):
    """Usage values written in lower case: the blur section was silently left out."""
    import json

    from training.__main__ import main

    sharp = _textures(40, 1)
    blurred = np.clip(blur(_textures(40, 2).astype(np.float32), 2.0), 0, 255).astype(np.uint8)
    rows = [f"3,{' '.join(map(str, face.ravel()))},training" for face in blurred]
    rows += [f"3,{' '.join(map(str, face.ravel()))},publictest" for face in sharp]
    path = tmp_path / "fer.csv"
    path.write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    assert main(["sharpness", "--data", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert 1.5 < report["blur_sigma_matching_publictest_to_training"] < 2.5
