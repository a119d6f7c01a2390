"""The figures `python -m training evaluate` and conversion report."""

from pathlib import Path

import numpy as np

from training.evaluate import metrics


def test_a_class_with_no_faces_does_not_count_against_the_model():
    """A test/ tree with an empty disgust/ folder: a model right on every face scored a
    macro-F1 of 85.71% (a 0 averaged in for disgust) and showed 'disgust 0.0' recall."""
    labels = np.array([0, 2, 3, 4, 5, 6, 3, 3])
    result = metrics(labels, labels.copy(), "PublicTest")
    assert result.accuracy == 1.0 and result.macro_f1 == 1.0
    assert "disgust" not in result.recall and result.recall["happy"] == 1.0
    assert "disgust" not in result.summary()


def test_predicting_a_class_the_split_lacks_still_counts():
    labels = np.array([0, 0, 3, 3])
    result = metrics(labels, np.array([0, 1, 3, 3]), "PublicTest")
    # angry F1 2/3, happy 1, disgust (predicted once, never right) 0
    assert abs(result.macro_f1 - (2 / 3 + 1 + 0) / 3) < 1e-9


def test_a_tflite_model_is_known_by_its_suffix_in_any_case(tmp_path):
    """EMOTION.TFLITE was taken for a Keras file: 'not a .keras file (Keras 3 saves
    models as zip archives)'."""
    import shutil

    import device
    from training.evaluate import predict

    shipped = Path(device.__file__).parent / "models" / "emotion.tflite"
    upper = shutil.copy(shipped, tmp_path / "EMOTION.TFLITE")
    faces = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    assert np.allclose(predict(upper, faces), predict(shipped, faces))
