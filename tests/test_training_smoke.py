"""Smoke run of the whole model pipeline on a few hundred real faces:
load -> train -> resume -> convert (int8) -> evaluate, in-process."""

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="the training extra (tensorflow-cpu) is not installed")
pytestmark = pytest.mark.training

TEST_ROWS = 140  # PublicTest rows in the `small_fer` fixture (conftest)


def test_train_checkpoints_resumes_and_reports(trained):
    run, first_history = trained
    for name in ("last.keras", "best.keras", "history.csv", "run.json", "curves.png"):
        assert (run / name).stat().st_size > 0, name
    state = json.loads((run / "run.json").read_text())
    assert state["epochs_done"] == 2 and state["arch"] == "default"
    rows = (run / "history.csv").read_text().splitlines()
    assert len(rows) == 3  # header + epoch 1 + epoch 2 (resumed, not restarted)
    assert len(first_history.splitlines()) == 2  # the killed run had saved epoch 1
    assert (run / "history.csv").read_text().startswith(first_history)


def test_same_seed_same_run_and_resume_changes_nothing(small_fer, trained, tmp_path):
    """Two epochs in one go give the very losses of one epoch, then a resumed second."""
    from training.__main__ import main

    run, _ = trained
    assert main(["train", "--data", str(small_fer), "--arch", "default", "--out", str(tmp_path),
                 "--seed", "3", "--epochs", "2"]) == 0
    def losses(text):
        return [row.split(",")[:5] for row in text.splitlines()]
    assert losses((tmp_path / "history.csv").read_text()) == losses((run / "history.csv").read_text())


def test_a_run_stopped_between_checkpoint_and_run_json_resumes_where_the_checkpoint_is(
        small_fer, tmp_path):
    """last.keras is written before run.json: a stop between the two must not train the
    checkpoint's epoch twice. The resumed run ends exactly as an uninterrupted one."""
    import keras

    import training.train as train_module
    from training.__main__ import main

    def run(out, stop_at=None):
        args = ["train", "--data", str(small_fer), "--arch", "default", "--out", str(out),
                "--seed", "4", "--epochs", "3", "--limit", "128"]  # 2 steps an epoch: quick
        if stop_at is None:
            return main(args)
        write = train_module.atomic_write_text

        def stop_before_bookkeeping(path, text):
            if f'"epochs_done": {stop_at}' in text:
                raise KeyboardInterrupt
            write(path, text)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(train_module, "atomic_write_text", stop_before_bookkeeping)
            with pytest.raises(KeyboardInterrupt):
                main(args)

    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    assert run(whole) == 0
    run(stopped, stop_at=2)
    assert json.loads((stopped / "run.json").read_text())["epochs_done"] == 1  # behind last.keras
    assert run(stopped) == 0
    epochs = [row.split(",")[0] for row in (stopped / "history.csv").read_text().splitlines()[1:]]
    assert epochs == ["1", "2", "3"]
    for name in ("last.keras", "best.keras"):
        ours = keras.models.load_model(stopped / name, compile=False).get_weights()
        theirs = keras.models.load_model(whole / name, compile=False).get_weights()
        assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True)), name
    state = json.loads((stopped / "run.json").read_text())
    assert state["epochs_done"] == 3 and state["best_epoch"] == json.loads(
        (whole / "run.json").read_text())["best_epoch"]


def test_convert_int8_and_evaluate_both_formats(small_fer, trained, tmp_path, capsys):
    from conversion.__main__ import main as convert_main
    from training.__main__ import main as training_main
    from training.reports import best_in_history

    run, _ = trained
    out = tmp_path / "models" / "emotion.tflite"
    # A one-epoch model is too unsettled for the 1-point gate; the gate is tested below.
    assert convert_main(["--keras", str(run / "best.keras"), "--data", str(small_fer),
                         "--out", str(out), "--calibration", "64", "--max-drop", "100"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["input"]["dtype"] == "uint8" and card["output"]["dtype"] == "uint8"
    assert card["input"]["quantization"] == {"scale": 1.0, "zero_point": 0}
    assert card["labels"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert card["file_bytes"] == out.stat().st_size
    assert card["publictest"]["faces"] == TEST_ROWS
    assert card["training"]["epochs_trained"] == 2 and card["training"]["teacher_scores"] is None
    assert card["training"]["best_epoch"] == best_in_history(run / "history.csv")[1]
    assert card["training"]["data"] == "FER-2013 (Kaggle CSV layout)"
    capsys.readouterr()

    for model in (run / "best.keras", out):
        assert training_main(["evaluate", "--model", str(model), "--data", str(small_fer),
                              "--split", "PublicTest", "--json", "--reports", str(tmp_path)]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["faces"] == TEST_ROWS
        assert 0.0 <= result["accuracy"] <= 1.0
        assert np.asarray(result["confusion"]).sum() == TEST_ROWS
        assert set(result["recall"]) == set(card["labels"])
    assert sorted(p.name for p in tmp_path.glob("*-confusion.png")) == [
        "best-keras-PublicTest-confusion.png", "emotion-tflite-PublicTest-confusion.png",
    ]


def test_parity_gate_fails_loudly_and_writes_nothing(small_fer, trained, tmp_path, capsys):
    from conversion.__main__ import main as convert_main

    run, _ = trained
    out = tmp_path / "emotion.tflite"
    # A negative allowance cannot be met: the gate must refuse and leave no file.
    assert convert_main(["--keras", str(run / "best.keras"), "--data", str(small_fer),
                         "--out", str(out), "--calibration", "32", "--max-drop", "-101"]) == 1
    assert "PARITY CHECK FAILED" in capsys.readouterr().err
    assert not out.exists() and not out.with_suffix(".json").exists()


@pytest.mark.parametrize("name", ["emotion.json", "emotion", "emotion.keras"])
def test_conversion_refuses_an_out_its_model_card_would_overwrite_or_evaluate_misread(
        tmp_path, capsys, name):
    """`--out emotion.json` wrote the model, then its card over it (the card is the out path
    with .json); `evaluate` reads a model without .tflite as Keras."""
    from conversion.__main__ import main as convert_main

    out = tmp_path / name
    out.write_text("kept")
    with pytest.raises(SystemExit) as stopped:
        convert_main(["--keras", str(tmp_path / "best.keras"), "--data", str(tmp_path),
                      "--out", str(out)])
    assert stopped.value.code == 2
    assert "name the model file with .tflite" in capsys.readouterr().err
    assert out.read_text() == "kept"


def test_evaluate_never_writes_reports_into_the_package(trained):
    """A model under device/ ships with the booth: its reports go to runs/reports/."""
    import device
    from training.__main__ import _default_reports

    shipped = Path(device.__file__).parent / "models" / "emotion.tflite"
    assert _default_reports(shipped) == Path("runs") / "reports"
    run, _ = trained
    assert _default_reports(run / "best.keras") == run


def test_evaluate_unknown_split_is_a_clear_error(small_fer, trained, capsys):
    from training.__main__ import main

    run, _ = trained
    assert main(["evaluate", "--model", str(run / "best.keras"), "--data", str(small_fer),
                 "--split", "PrivateTest"]) == 2
    assert "no rows with Usage 'PrivateTest'" in capsys.readouterr().err


def test_an_output_path_that_cannot_be_made_is_one_line_not_a_traceback(
        small_fer, trained, tmp_path, capsys):
    """--out or --reports under a file (or a folder it may not write): exit 2 naming the
    path, from every command that writes (a FileExistsError traceback before)."""
    from conversion.__main__ import main as convert_main
    from training.__main__ import main

    run, _ = trained
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    data = ["--data", str(small_fer)]
    for command in (
        lambda: main(["train", *data, "--out", str(blocker), "--epochs", "1"]),
        lambda: main(["evaluate", "--model", str(run / "best.keras"), *data,
                      "--reports", str(blocker)]),
        lambda: main(["teach", "--teacher", str(run / "best.keras"), *data,
                      "--out", str(blocker / "scores.npz")]),
        lambda: convert_main(["--keras", str(run / "best.keras"), *data, "--calibration", "32",
                              "--out", str(blocker / "emotion.tflite")]),
    ):
        assert command() == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and str(blocker) in err and "Traceback" not in err
    assert blocker.read_text() == "not a folder"


def test_resume_with_other_epochs_is_refused(small_fer, trained):
    """The learning-rate schedule was planned for the first --epochs: it cannot stretch."""
    from training.__main__ import main

    run, _ = trained
    with pytest.raises(SystemExit, match="planned for 2 epochs"):
        main(["train", "--data", str(small_fer), "--arch", "default", "--out", str(run),
              "--seed", "3", "--epochs", "4"])


def test_resume_with_another_recipe_is_refused(small_fer, trained):
    from training.__main__ import main
    from training.train import RECIPES

    run, _ = trained
    before = (run / "history.csv").read_text()
    other = RECIPES["default"].augment / 2
    with pytest.raises(SystemExit, match="augment differ"):
        main(["train", "--data", str(small_fer), "--arch", "default", "--out", str(run),
              "--seed", "3", "--epochs", "2", "--set", f"augment={other}"])
    assert (run / "history.csv").read_text() == before


def test_a_finished_run_without_last_keras_is_not_trained_over(small_fer, trained, tmp_path):
    """last.keras deleted to save space: the same command again retrained from scratch and
    replaced the run's best.keras, history and run.json after one epoch."""
    import shutil

    from training.__main__ import main

    run, _ = trained
    kept = {name: (run / name).read_bytes() for name in ("best.keras", "run.json", "history.csv")}
    for name in kept:
        shutil.copy(run / name, tmp_path / name)
    with pytest.raises(SystemExit, match="without last.keras to resume from"):
        main(["train", "--data", str(small_fer), "--arch", "default", "--out", str(tmp_path),
              "--seed", "3", "--epochs", "2"])
    assert {name: (tmp_path / name).read_bytes() for name in kept} == kept


def test_resume_with_another_limit_or_other_faces_is_refused(small_fer, trained, tmp_path):
    """The checkpoint's schedule, epoch count and best epoch belong to the faces it saw:
    going on with --limit (or other data) quietly restarted the schedule at the floor."""
    from training.__main__ import main

    run, _ = trained
    before = (run / "history.csv").read_text()
    args = ["train", "--arch", "default", "--out", str(run), "--seed", "3", "--epochs", "2"]
    with pytest.raises(SystemExit, match="trained on --limit None faces, not 140"):
        main([*args, "--data", str(small_fer), "--limit", "140"])
    other = tmp_path / "other.csv"
    lines = small_fer.read_text().splitlines(keepends=True)
    other.write_text("".join([lines[0], *lines[2:]]))  # one Training face fewer
    with pytest.raises(SystemExit, match="was trained on other faces"):
        main([*args, "--data", str(other)])
    assert (run / "history.csv").read_text() == before
    moved = tmp_path / "moved.csv"
    moved.write_text(small_fer.read_text())
    assert main([*args, "--data", str(moved)]) == 0  # the same faces under another name
    assert (run / "history.csv").read_text() == before


def test_zero_epochs_is_refused_before_anything_is_written(small_fer, tmp_path, capsys):
    from training.__main__ import main

    assert main(["train", "--data", str(small_fer), "--out", str(tmp_path / "run"),
                 "--epochs", "0"]) == 2
    assert "--epochs 0: train for at least 1 epoch" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_model_that_is_not_an_expression_model_is_named_not_crashed_on(small_fer, tmp_path, capsys):
    """Eight scores out, or a colour input: one line saying what the file holds, from
    evaluate and from conversion alike (an IndexError or reshape error before)."""
    import keras

    from conversion.__main__ import main as convert_main
    from training.__main__ import main

    for name, shape, outputs, says in (
        ("eight.keras", (48, 48, 1), 8, "gives 8 scores"),
        ("colour.keras", (48, 48, 3), 7, "takes (48, 48, 3)"),
    ):
        inputs = keras.Input(shape)
        model = keras.Model(inputs, keras.layers.Dense(outputs, activation="softmax")(
            keras.layers.Flatten()(inputs)))
        model.save(tmp_path / name)
        assert main(["evaluate", "--model", str(tmp_path / name), "--data", str(small_fer)]) == 2
        assert says in capsys.readouterr().err
        assert convert_main(["--keras", str(tmp_path / name), "--data", str(small_fer),
                             "--out", str(tmp_path / "out.tflite")]) == 2
        assert says in capsys.readouterr().err
        assert not (tmp_path / "out.tflite").exists()
    import zipfile

    with zipfile.ZipFile(tmp_path / "zipped.keras", "w") as archive:
        archive.writestr("notes.txt", "a zip, not a model")
    assert main(["evaluate", "--model", str(tmp_path / "zipped.keras"), "--data", str(small_fer)]) == 2
    assert "not a Keras model Keras can load" in capsys.readouterr().err
    (tmp_path / "notes.keras").write_text("not a model")
    assert main(["evaluate", "--model", str(tmp_path / "notes.keras"), "--data", str(small_fer)]) == 2
    assert "not a .keras file" in capsys.readouterr().err
    (tmp_path / "cut.tflite").write_bytes(b"TFL3" + bytes(100))
    assert main(["evaluate", "--model", str(tmp_path / "cut.tflite"), "--data", str(small_fer)]) == 2
    assert "cut.tflite" in capsys.readouterr().err


def test_best_model_is_kept_without_optimizer_state(trained):
    import zipfile

    run, _ = trained
    best = zipfile.ZipFile(run / "best.keras").namelist()
    last = zipfile.ZipFile(run / "last.keras").namelist()
    assert (run / "best.keras").stat().st_size < (run / "last.keras").stat().st_size / 2
    assert set(best) <= set(last)


def test_blur_sweep_at_the_models_own_sigma_matches_evaluate(small_fer, trained):
    """scripts/blur_sweep.py rebuilds the model at other blurs: at its own it is the model."""
    import importlib.util

    import keras

    from training.evaluate import evaluate
    from training.models import MatchTrainingBlur

    spec = importlib.util.spec_from_file_location(
        "blur_sweep", Path(__file__).resolve().parents[1] / "scripts" / "blur_sweep.py")
    blur_sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(blur_sweep)

    run, _ = trained
    model = keras.models.load_model(run / "best.keras", compile=False)
    own = next(layer.sigma for layer in model.layers if isinstance(layer, MatchTrainingBlur))
    results = blur_sweep.sweep(run / "best.keras", small_fer, (0.0, own))
    faces, labels = _publictest(small_fer)
    assert results[own] == pytest.approx(
        evaluate(run / "best.keras", faces, labels, "PublicTest").accuracy)
    assert set(results) == {0.0, own} and 0.0 <= results[0.0] <= 1.0


def _publictest(path):
    from training import data as fer

    return fer.load(path, {"PublicTest"}).split("PublicTest")
