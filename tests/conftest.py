"""Shared fixtures: real FER-2013 faces in camera-like frames, and the vision models.

Tests are headless: pygame gets SDL's dummy drivers before anything imports it, and
every test runs with them again, without the developer's own settings file.

Under CI=true a skipped test fails instead (see pytest_runtest_makereport): a missing
dataset, browser or tool must not let CI go green with whole files unrun. A skip that
is about the machine rather than a missing tool (a Pi, a screen) is marked skip_ok_in_ci.
"""

from __future__ import annotations

import csv
import errno
import gzip
import importlib.util
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

from tests.fer_frames import (  # noqa: E402
    CLEAR_FACES,
    FER_CSV,
    clear_faces,
    load_fer_faces,
    make_background,
    make_frame,
)

FER_PER_CLASS = 1 + max(max(v) for v in CLEAR_FACES.values())
SKIP_OK_IN_CI = "skip_ok_in_ci"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", f"{SKIP_OK_IN_CI}: this test may skip under CI=true (its skip is about the "
        "machine, e.g. a Raspberry Pi or a screen, not about a missing tool or dataset)")


def _in_ci() -> bool:
    return os.environ.get("CI") == "true"


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true a skip (a missing dataset, chromium, systemd-analyze, TensorFlow ...)
    is a failure, unless the test is marked skip_ok_in_ci."""
    outcome = yield
    report = outcome.get_result()
    if (report.skipped and not hasattr(report, "wasxfail") and _in_ci()
            and item.get_closest_marker(SKIP_OK_IN_CI) is None):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where every test must run: {_skip_reason(report)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """The same for a whole file skipped at import (pytest.skip(allow_module_level=True),
    pytest.importorskip): under CI=true it is a collection error."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _in_ci():
        report.outcome = "failed"
        report.longrepr = (f"{collector.nodeid} skipped under CI=true, where every test must "
                           f"run: {_skip_reason(report)}")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path):
    """Every test: no settings file of the developer's (MEMOJI_BOOTH_CONFIG or
    ~/.config/memoji-booth), and SDL's dummy drivers whatever the shell says."""
    monkeypatch.delenv("MEMOJI_BOOTH_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # not created: no file there
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")


@pytest.fixture
def no_such_user() -> str:
    """A user name this machine does not have: `~name` cannot be expanded."""
    import pwd

    name = "memoji-booth-test-nobody"
    with pytest.raises(KeyError):
        pwd.getpwnam(name)
    return name


def need_fer2013() -> None:
    """Skip (fail under CI=true) when the FER-2013 CSV is not in ../shared/datasets."""
    if not FER_CSV.is_file():
        pytest.skip(f"the FER-2013 dataset is not there: {FER_CSV}")


@pytest.fixture(scope="session")
def fer_faces() -> dict[str, list[np.ndarray]]:
    """The first PublicTest 48x48 faces of each expression (streamed once per session)."""
    need_fer2013()
    return load_fer_faces(per_class=FER_PER_CLASS)


@pytest.fixture(scope="session")
def clear_fer_faces(fer_faces) -> list[tuple[str, np.ndarray]]:
    """(label, face48) of faces whose expression is unmistakable (see CLEAR_FACES)."""
    return clear_faces(fer_faces)


def load_script(name: str) -> types.ModuleType:
    """scripts/<name>.py as the module ``name``: the scripts are files, not a package, and
    dataclasses look their module up in sys.modules."""
    script = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def ctrl_c_in_the_booth_at_step(monkeypatch, step: int) -> None:
    """Ctrl+C reaches the booth's loop at its `step`-th step (Booth.step raises it), as a
    person's would while a script runs the booth."""
    from device.app import Booth

    real_step = Booth.step
    steps = []

    def step_then_interrupt(self):
        steps.append(1)
        if len(steps) == step:
            raise KeyboardInterrupt
        return real_step(self)

    monkeypatch.setattr(Booth, "step", step_then_interrupt)


def card_refuses_to_remove(monkeypatch, refuses: Callable[[Path], bool],
                           code: int = errno.EROFS) -> None:
    """Removing a file `refuses` picks fails with `code`, as on a card the kernel made
    read-only (EROFS) or one failing (EIO); every other file goes as usual."""
    real_unlink = Path.unlink

    def unlink(path, missing_ok=False):
        if refuses(path):
            raise OSError(code, os.strerror(code), str(path))
        return real_unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)


def write_rgb_png(path: Path, rgb: np.ndarray) -> Path:
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return path


@pytest.fixture
def replay_dir(tmp_path, clear_fer_faces) -> Path:
    """A folder to replay: 640x480 PNG frames of clear faces named `NN_<label>.png`
    (2 happy, 2 surprise, 1 neutral, in that order), then `90_noface.png` (background
    only) and `95_corrupt.png` (not an image). Sorted by name, that is the replay order."""
    folder = tmp_path / "replay"
    folder.mkdir()
    picked = {"happy": 2, "surprise": 2, "neutral": 1}
    n = 0
    for label, face in clear_fer_faces:
        if picked.get(label, 0) > 0:
            picked[label] -= 1
            write_rgb_png(folder / f"{n:02d}_{label}.png", make_frame(face, seed=n))
            n += 1
    blank = cv2.cvtColor(make_background(seed=99), cv2.COLOR_GRAY2RGB)
    write_rgb_png(folder / "90_noface.png", blank)
    (folder / "95_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a picture")
    return folder


@pytest.fixture(scope="session")
def face_detector():
    from device.faces import FaceDetector

    return FaceDetector()


@pytest.fixture(scope="session")
def expression_model():
    """The shipped device/models/emotion.tflite (a missing model fails, on purpose)."""
    from device.infer import ExpressionModel

    return ExpressionModel()


@pytest.fixture
def mock_pins():
    """gpiozero's mock pins for one test (pin.drive_low() presses a button)."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    previous = Device.pin_factory
    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = previous


# --- training: a small real FER-2013 CSV and a short run on it (shared by the training tests)

TRAIN_ROWS, TEST_ROWS = 350, 140


@pytest.fixture(scope="session")
def small_fer(tmp_path_factory):
    """A small CSV of real FER-2013 rows: the first Training and PublicTest faces."""
    need_fer2013()
    out = tmp_path_factory.mktemp("fer") / "small.csv"
    kept = {"Training": 0, "PublicTest": 0}
    limit = {"Training": TRAIN_ROWS, "PublicTest": TEST_ROWS}
    with gzip.open(FER_CSV, "rt", newline="") as source, open(out, "w", newline="") as sink:
        reader, writer = csv.reader(source), csv.writer(sink)
        writer.writerow(next(reader))
        for row in reader:
            if kept[row[2]] < limit[row[2]]:
                writer.writerow(row)
                kept[row[2]] += 1
            if kept["PublicTest"] >= TEST_ROWS:
                break
    return out


@pytest.fixture(scope="session")
def trained(small_fer, tmp_path_factory):
    """A two-epoch run killed after epoch 1's checkpoint, then resumed."""
    pytest.importorskip("tensorflow", reason="the training extra (tensorflow-cpu) is not installed")
    import training.train as train_module
    from training.__main__ import main

    run = tmp_path_factory.mktemp("run")
    args = ["train", "--data", str(small_fer), "--arch", "default", "--out", str(run),
            "--seed", "3", "--epochs", "2"]
    log = train_module._log

    def log_then_die(message):
        log(message)
        if message.startswith("epoch 1/2"):  # printed once epoch 1 is saved
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_module, "_log", log_then_die)
        with pytest.raises(KeyboardInterrupt):
            main(args)
    first_history = (run / "history.csv").read_text()
    assert main(args) == 0  # resumes after epoch 1
    return run, first_history
