"""Distillation: teacher scores for the Training faces, and a student trained on them."""

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="the training extra (tensorflow-cpu) is not installed")
pytestmark = pytest.mark.training


def _training(path):
    from training import data as fer

    return fer.load(path, {"Training"}).split("Training")


@pytest.fixture(scope="module")
def scores_file(small_fer, trained, tmp_path_factory):
    from training.__main__ import main

    run, _ = trained
    out = tmp_path_factory.mktemp("teach") / "scores.npz"
    assert main(["teach", "--teacher", str(run / "best.keras"), "--teacher", str(run / "last.keras"),
                 "--data", str(small_fer), "--out", str(out)]) == 0
    return out


def test_teacher_scores_are_probabilities_for_each_training_face(small_fer, scores_file):
    from training import teach

    faces, labels = _training(small_fer)
    loaded = teach.load(scores_file, faces, labels)
    assert loaded.scores.shape == (len(labels), 7)
    assert np.allclose(loaded.scores.sum(axis=1), 1.0, atol=0.01)
    assert len(loaded.teachers) == 2 and "teach" in loaded.command


def test_training_faces_are_not_blurred_twice(small_fer, trained):
    """A teacher scores Training faces without its inference blur, even after
    Keras has traced a predict with the blur on."""
    import keras

    from training import teach

    run, _ = trained
    faces = _training(small_fer)[0][:32].astype(np.float32)[..., None]
    model = teach.load_teacher(run / "best.keras")
    with_blur = model.predict(faces, verbose=0)
    teach.for_training_faces(model)
    without_blur = model.predict(faces, verbose=0)

    unblurred = keras.models.load_model(run / "best.keras", compile=False)
    blur = next(i for i, layer in enumerate(unblurred.layers) if type(layer).__name__ == "MatchTrainingBlur")
    x = unblurred.layers[blur - 1].output  # what goes into the blur, sent on unblurred
    for layer in unblurred.layers[blur + 1:]:
        x = layer(x)
    skip = keras.Model(unblurred.inputs, x)
    np.testing.assert_allclose(without_blur, skip.predict(faces, verbose=0), atol=1e-5)
    assert not np.allclose(with_blur, without_blur, atol=1e-3)


def test_scores_are_the_same_for_a_face_and_its_mirror(small_fer, trained):
    from training import teach

    run, _ = trained
    faces = _training(small_fer)[0][:16]
    model = teach.for_training_faces(teach.load_teacher(run / "best.keras"))
    np.testing.assert_allclose(teach.predict_scores(model, faces),
                               teach.predict_scores(model, faces[:, :, ::-1]), atol=1e-5)


def test_scores_for_other_faces_are_refused(small_fer, scores_file):
    from training import teach

    faces, labels = _training(small_fer)
    other = labels.copy()
    other[0] = (other[0] + 1) % 7
    with pytest.raises(ValueError, match="made for other Training faces"):
        teach.load(scores_file, faces, other)
    with pytest.raises(FileNotFoundError, match="no such teacher-scores file"):
        teach.load(scores_file.with_name("missing.npz"), faces, labels)


def test_targets_mix_labels_with_teacher_scores():
    from training.batches import FaceBatches

    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (40, 48, 48), dtype=np.uint8)
    labels = rng.integers(0, 7, 40)
    scores = rng.dirichlet(np.ones(7), 40).astype(np.float32)
    plain = FaceBatches(faces, labels, 7, batch_size=8, augment=0.0, seed=1)
    mixed = FaceBatches(faces, labels, 7, batch_size=8, augment=0.0, seed=1,
                        teacher_scores=scores, distill=0.25)
    (x_plain, y_plain), (x_mixed, y_mixed) = plain[2], mixed[2]
    np.testing.assert_array_equal(x_plain, x_mixed)
    ids = plain._order[16:24]
    np.testing.assert_allclose(y_mixed, 0.75 * y_plain + 0.25 * scores[ids], atol=1e-6)
    with pytest.raises(ValueError, match="teacher scores of shape"):
        FaceBatches(faces, labels, 7, batch_size=8, augment=0.0, seed=1, distill=0.5)


def test_student_trains_on_teacher_scores(small_fer, scores_file, trained, tmp_path, monkeypatch):
    """The student's batches get each face's own teacher scores (also with --limit),
    and a resume with other scores is refused."""
    import training.batches
    from training import teach
    from training.__main__ import main

    seen = {}
    original = training.batches.FaceBatches.__init__

    def spy(self, faces, labels, *args, **kwargs):
        seen.update(faces=faces, scores=kwargs.get("teacher_scores"), distill=kwargs.get("distill"))
        original(self, faces, labels, *args, **kwargs)

    monkeypatch.setattr(training.batches.FaceBatches, "__init__", spy)
    args = ["train", "--data", str(small_fer), "--arch", "default", "--out", str(tmp_path),
            "--epochs", "1", "--limit", "140", "--teacher-scores", str(scores_file), "--set", "distill=0.7"]
    assert main(args) == 0
    state = json.loads((tmp_path / "run.json").read_text())
    assert state["recipe"]["distill"] == 0.7 and len(state["teacher_scores"]["teachers"]) == 2

    faces, labels = _training(small_fer)
    full = teach.load(scores_file, faces, labels).scores
    row_of = {face.tobytes(): i for i, face in enumerate(faces)}
    assert seen["distill"] == 0.7 and 0 < len(seen["faces"]) < len(faces)
    expected = full[[row_of[face.tobytes()] for face in seen["faces"]]]
    np.testing.assert_array_equal(seen["scores"], expected)

    other = tmp_path.parent / "not-yet" / "other-scores.npz"  # teach makes the folder
    run, _ = trained
    assert main(["teach", "--teacher", str(run / "best.keras"), "--data", str(small_fer),
                 "--out", str(other)]) == 0
    args[args.index(str(scores_file))] = str(other)
    with pytest.raises(SystemExit, match="distilled from other teacher scores"):
        main(args)


def test_a_file_that_is_not_teacher_scores_is_named(small_fer, tmp_path):
    from training import teach

    faces, labels = _training(small_fer)
    npy = tmp_path / "scores.npy"
    np.save(npy, np.zeros((len(labels), 7)))
    text = tmp_path / "scores.npz"
    text.write_text("not a zip")
    wrong_shape = tmp_path / "five.npz"
    teach.save(wrong_shape, teach.TeacherScores(np.zeros((len(labels), 5)), "x", ("t",), "c"))
    for path, message in ((npy, "not a teacher-scores file"), (text, "not a teacher-scores file"),
                          (wrong_shape, "expected \\(faces, 7\\)")):
        with pytest.raises(ValueError, match=message) as error:
            teach.load(path, faces, labels)
        assert str(path) in str(error.value)


@pytest.mark.parametrize("extra, message", [
    (["--set", "distill=0.5"], "needs --teacher-scores"),
    (["--teacher-scores", "SCORES"], "add --set distill=W"),
    (["--teacher-scores", "SCORES", "--set", "distill=1.5"], "between 0 and 1"),
])
def test_distillation_options_must_come_together(small_fer, scores_file, tmp_path, capsys, extra, message):
    from training.__main__ import main

    tmp_path = tmp_path / "run"
    extra = [str(scores_file) if part == "SCORES" else part for part in extra]
    assert main(["train", "--data", str(small_fer), "--out", str(tmp_path), "--epochs", "1", *extra]) == 2
    assert message in capsys.readouterr().err
    assert not tmp_path.exists()  # refused before anything was written
