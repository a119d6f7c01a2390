"""The booth loop, headless: real FER-2013 faces through the real models, and fakes
for the edges (camera failures, a full disk, the clock, systemd)."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import threading
import time
from concurrent.futures import Executor, Future
from pathlib import Path

import numpy as np
import pytest

from device import app
from device import display as screens
from device.app import Booth
from device.avatar import MemojiStore, render_svg
from device.capture import CameraError, CameraLost, Frame, NoCameraError
from device.config import load_config
from device.faces import Face
from device.gallery import LookStore, StorageFullError, read_png_text
from device.health import HealthMonitor, PiSensors
from device.infer import DEFAULT_MODEL_PATH, Expression
from device.labels import EXPRESSIONS
from device.pipeline import Analyser, FaceResult
from device.recurring import REPEAT_LOG_S
from tests.test_health import FakeSensors
from tests.threads import join_threads


def make_config(tmp_path: Path, **overrides):
    settings = {
        "storage.data_dir": str(tmp_path / "data"),
        "display.mode": "none",
        "web.enabled": False,
        "button.enabled": False,
        "booth.countdown_s": 0,
    }
    settings.update({key.replace("__", "."): value for key, value in overrides.items()})
    empty = tmp_path / "config.toml"
    empty.write_text("")
    return load_config(empty, settings)


class FakeClock:
    """Monotonic time that moves 1/30 s per reading: a 30 fps camera, however fast the test runs."""

    def __init__(self, step: float = 1 / 30):
        self.t = 1000.0
        self.step = step
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.t += self.step
            return self.t

    def sleep(self, seconds: float) -> None:
        time.sleep(0)  # let other threads (saver, camera reopen) run




class FakeNotifier:
    def __init__(self):
        self.calls: list[tuple[str, float | None]] = []
        self.statuses: list[str] = []
        self.clock = None
        self.watchdog_s = None

    def _add(self, name):
        self.calls.append((name, self.clock.t if self.clock else None))
        return True

    def ready(self):
        return self._add("ready")

    def watchdog(self):
        return self._add("watchdog")

    def stopping(self):
        return self._add("stopping")

    def status(self, text):
        self.statuses.append(text)
        return True

    def names(self):
        return [name for name, _ in self.calls]


class RecordingDisplay(screens.Display):
    """A headless Display that remembers every scene and can act on one (stop the booth)."""

    def __init__(self, on_scene=None):
        super().__init__("none", (512, 300))
        self.scenes: list = []
        self.on_scene = on_scene

    def draw(self, scene):
        self.scenes.append(scene)
        surface = super().draw(scene)
        if self.on_scene is not None:
            self.on_scene(scene)
        return surface

    def kinds(self) -> list[str]:
        return [type(s).__name__ for s in self.scenes]


class FakeAnalyser:
    """'happy' for bright frames, no face for black ones, an exception for red ones."""

    def __init__(self):
        self.calls = 0

    def analyse(self, rgb, detect_image=None):
        self.calls += 1
        if rgb[..., 0].mean() > 200 and rgb[..., 1].mean() < 50:
            raise RuntimeError("a frame the model chokes on")
        if rgb.mean() < 10:
            return []
        scores = {label: 0.01 for label in EXPRESSIONS}
        scores["happy"] = 0.94
        return [FaceResult(Face((200, 120, 200, 200), 0.9, (260.0, 190.0), (340.0, 190.0)),
                           Expression("happy", 0.94, scores))]


def frame_of(value: int | tuple[int, int, int], size=(160, 120)) -> Frame:
    image = np.zeros((size[1], size[0], 3), np.uint8)
    image[...] = value
    return Frame(image=image, detect=None, t=0.0)


EPS = 1e-6  # float rounding of FakeClock's 1/30 s steps

FACE = frame_of(180)
NO_FACE = frame_of(0)
CHOKES = frame_of((255, 0, 0))


class ScriptedSource:
    """Plays a list of frames, None (no new frame) and exceptions, then repeats its last item."""

    name = "scripted"
    dropped = 0

    def __init__(self, script):
        self.script = list(script)
        self.closed = False

    def read(self):
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self):
        self.closed = True


class ScriptedOpener:
    """Opens the camera for the booth from a script, one step per call (the last one
    repeats): a list of frames and exceptions is played by a fresh ScriptedSource, an
    exception is raised. `opened` holds the fake time of each call, `sources` what it gave."""

    def __init__(self, clock: FakeClock, *steps):
        self.clock, self.steps = clock, steps
        self.opened: list[float] = []
        self.sources: list[ScriptedSource] = []

    def __call__(self) -> ScriptedSource:
        self.opened.append(self.clock.t)
        step = self.steps[min(len(self.opened), len(self.steps)) - 1]
        if isinstance(step, BaseException):
            raise step
        source = ScriptedSource(step)
        self.sources.append(source)
        return source


class InlineExecutor(Executor):
    """Runs each job as it is submitted: the camera opens at the fake time the booth
    chose, however late a real pool thread would have been scheduled."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # handed to the booth, as a pool would
            future.set_exception(error)
        return future


def make_booth(config, **parts):
    notifier = parts.pop("notifier", FakeNotifier())
    parts.setdefault("display", RecordingDisplay())
    parts.setdefault("analyser", FakeAnalyser())
    clock = parts.setdefault("clock", FakeClock())
    parts.setdefault("sleep", clock.sleep)
    booth = Booth(config, notifier=notifier, **parts)
    if isinstance(parts.get("source"), ScriptedOpener):  # its times must be the booth's
        booth._camera._opener_pool.shutdown()
        booth._camera._opener_pool = InlineExecutor()
    return booth


# ------------------------------------------------------------------ real faces, real models


class RecordingAnalyser:
    """The real Analyser, remembering the raw label it found in each frame."""

    def __init__(self, analyser):
        self.analyser = analyser
        self.labels: list[str | None] = []

    def analyse(self, rgb, detect_image=None):
        results = self.analyser.analyse(rgb, detect_image)
        self.labels.append(results[0].expression.label if results else None)
        return results


def test_start_removes_what_unfinished_writes_left_in_the_data_folder(tmp_path):
    from tests.test_storage import _unfinished_write

    config = make_config(tmp_path)
    (tmp_path / "data").mkdir()
    left = _unfinished_write(tmp_path / "data", "look.json", age_s=7200)
    make_booth(config)
    assert not left.exists()


def test_camera_is_opened_with_the_camera_settings(tmp_path, monkeypatch):
    config = make_config(tmp_path, camera__source="webcam:1", camera__width=800, camera__height=600,
                         camera__detect_width=400, camera__detect_height=300, camera__fps=20)
    opened = []
    monkeypatch.setattr(app, "open_source", lambda spec, **options: opened.append((spec, options)))
    make_booth(config)._camera._opener()
    assert opened == [("webcam:1", {"width": 800, "height": 600, "detect_size": (400, 300), "fps": 20})]


def test_loop_on_real_faces_finds_the_expected_labels(tmp_path, replay_dir, face_detector,
                                                      expression_model, caplog):
    config = make_config(tmp_path, camera__source=str(replay_dir))
    analyser = RecordingAnalyser(Analyser(face_detector, expression_model))
    notifier = FakeNotifier()
    booth = make_booth(config, analyser=analyser, notifier=notifier, clock=FakeClock())
    with caplog.at_level(logging.WARNING, logger="device.capture"):
        assert booth.run(frames=12) == 0
    order = sorted(p.name for p in replay_dir.iterdir() if p.name != "95_corrupt.png")
    expected = [name.split("_", 1)[1].removesuffix(".png") for name in order]
    assert len(analyser.labels) == 12
    for i, found in enumerate(analyser.labels):
        want = expected[i % len(expected)]
        if want == "noface":
            assert found is None
        elif want in ("happy", "surprise"):
            assert found == want, f"frame {i}: {want} face classified {found}"
    # the corrupt file was met and skipped by the replay, and the loop went on
    assert "skipping unreadable image" in caplog.text and "95_corrupt.png" in caplog.text
    status = booth.status()
    assert status["frames"] == 12 and status["camera_state"] == "ok"
    assert notifier.names()[0] == "ready" and notifier.names()[-1] == "stopping"


def test_button_press_on_real_happy_faces_saves_a_happy_memoji(tmp_path, clear_fer_faces,
                                                               face_detector, expression_model,
                                                               mock_pins):
    from tests.conftest import write_rgb_png
    from tests.fer_frames import make_frame

    folder = tmp_path / "happy"
    folder.mkdir()
    happy = [face for label, face in clear_fer_faces if label == "happy"][:2]
    for i, face in enumerate(happy):
        write_rgb_png(folder / f"{i}.png", make_frame(face, seed=i))
    config = make_config(tmp_path, camera__source=str(folder), button__enabled=True,
                         booth__countdown_s=1)
    display = RecordingDisplay(
        on_scene=lambda s: isinstance(s, screens.SavedScene) and booth.stop())
    booth = make_booth(config, display=display, analyser=Analyser(face_detector, expression_model))
    mock_pins.pin(17).drive_low()
    booth.run(frames=3000)
    entries = booth.gallery.entries()
    assert len(entries) == 1 and entries[0].expression == "happy"
    meta = read_png_text(booth.gallery.path_of(entries[0].name).read_bytes())
    assert meta["expression"] == "happy" and float(meta["score"]) > 0.5


# ------------------------------------------------------------------ capture


def test_button_press_counts_down_and_saves_png_with_metadata(tmp_path, mock_pins):
    config = make_config(tmp_path, button__enabled=True, button__pin=17, button__led_pin=22,
                         booth__countdown_s=1)
    booth_ref = []
    display = RecordingDisplay(
        on_scene=lambda s: isinstance(s, screens.SavedScene) and booth_ref[0].stop())
    booth = make_booth(config, display=display, source=ScriptedSource([FACE]), clock=FakeClock())
    booth_ref.append(booth)
    assert booth.button.enabled
    mock_pins.pin(17).drive_low()  # the guest presses the button (gpiozero's thread posts it)
    mock_pins.pin(17).drive_high()
    booth.run(frames=3000)

    countdown = [s.n for s in display.scenes if isinstance(s, screens.CountdownScene)]
    assert countdown and countdown[0] == 1 and len(countdown) >= 25  # ~1 s at 30 fps
    saved = [s for s in display.scenes if isinstance(s, screens.SavedScene)]
    assert saved, "the saved screen never came"
    entries = booth.gallery.entries()
    assert len(entries) == 1
    entry = entries[0]
    assert entry.expression == "happy" and entry.score == pytest.approx(0.94, abs=0.01)
    assert saved[0].expression == "happy"
    meta = read_png_text(booth.gallery.path_of(entry.name).read_bytes())
    assert meta["expression"] == "happy"
    assert json.loads(meta["look"]) == LookStore(tmp_path / "data" / "look.json").load().to_dict()
    assert mock_pins.pin(22).state == 0  # LED off after the capture


def test_a_press_during_the_saved_screen_shows_its_own_countdown(tmp_path):
    """The next guest presses while "Saved!" is still up: they must see the countdown."""
    config = make_config(tmp_path, booth__countdown_s=1)
    pressed = []

    def on_scene(scene):
        if isinstance(scene, screens.SavedScene) and not pressed:
            pressed.append(True)
            booth.request_capture()
        if len(booth.gallery.entries()) == 2:
            booth.stop()

    booth = make_booth(config, display=RecordingDisplay(on_scene), source=ScriptedSource([FACE]),
                       clock=FakeClock())
    booth.request_capture()
    booth.run(frames=3000)
    kinds = booth.display.kinds()
    first_saved = kinds.index("SavedScene")
    assert "CountdownScene" in kinds[first_saved:]  # not hidden behind the 4 s banner
    assert kinds[first_saved + 1] == "CountdownScene"


def test_a_second_press_during_the_countdown_neither_restarts_it_nor_saves_twice(tmp_path):
    config = make_config(tmp_path, booth__countdown_s=2)
    answers = []

    def on_scene(scene):
        if isinstance(scene, screens.CountdownScene) and scene.n == 1 and not answers:
            answers.append(booth.request_capture())  # half-way: "1" is showing
        if isinstance(scene, screens.SavedScene):
            booth.stop()

    booth = make_booth(config, display=RecordingDisplay(on_scene), source=ScriptedSource([FACE]))
    booth.request_capture()
    booth.run(frames=3000)
    assert answers == [False]  # refused: the countdown is under way
    countdown = [s.n for s in booth.display.scenes if isinstance(s, screens.CountdownScene)]
    assert countdown == sorted(countdown, reverse=True) and countdown[0] == 2  # never back to 2
    assert 55 <= len(countdown) <= 65  # one 2 s countdown at 30 fps, not a second one
    assert "SavedScene" in booth.display.kinds() and len(booth.gallery.entries()) == 1


def test_a_key_press_during_the_countdown_neither_restarts_it_nor_saves_twice(tmp_path):
    """Space, Enter or a tap reach the loop from the display, not through request_capture,
    so the loop itself must ignore one while the countdown runs."""
    config = make_config(tmp_path, booth__countdown_s=2)
    pressed = []

    class Keyboard(RecordingDisplay):
        def poll_events(self):
            shown = self.scenes[-1] if self.scenes else None
            if isinstance(shown, screens.CountdownScene) and shown.n == 1 and not pressed:
                pressed.append(True)  # half-way: "1" is showing
                return [screens.CAPTURE]
            return []

    def on_scene(scene):
        if isinstance(scene, screens.SavedScene):
            booth.stop()

    booth = make_booth(config, display=Keyboard(on_scene), source=ScriptedSource([FACE]))
    booth.request_capture()
    booth.run(frames=3000)
    assert pressed
    countdown = [s.n for s in booth.display.scenes if isinstance(s, screens.CountdownScene)]
    assert countdown == sorted(countdown, reverse=True) and countdown[0] == 2  # never back to 2
    assert 55 <= len(countdown) <= 65  # one 2 s countdown at 30 fps, not a second one
    assert len(booth.gallery.entries()) == 1


def hold_saves(monkeypatch) -> threading.Event:
    """Gallery.save waits (on the saver thread) until the returned event is set: 60 s at
    most, only so that a test that never sets it ends."""
    release = threading.Event()
    real_save = app.Gallery.save

    def slow_save(self, *args, **kwargs):
        release.wait(60)
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(app.Gallery, "save", slow_save)
    return release


def test_a_press_while_the_memoji_is_saved_is_refused_and_starts_nothing(tmp_path, monkeypatch):
    """request_capture answers False during a save (the page says busy), and a key press
    then, which comes straight from the display, is ignored by the loop itself."""
    release = hold_saves(monkeypatch)
    answers, keys = [], []

    class Keyboard(RecordingDisplay):
        def poll_events(self):
            shown = self.scenes[-1] if self.scenes else None
            if isinstance(shown, screens.SavingScene) and not keys:
                keys.append(True)
                return [screens.CAPTURE]
            return []

    def on_scene(scene):
        if isinstance(scene, screens.SavingScene):
            if not answers:
                answers.append(booth.request_capture())  # the page or the GPIO button
            if booth.display.kinds().count("SavingScene") == 5:
                release.set()
        if isinstance(scene, screens.SavedScene):
            booth.stop()

    booth = make_booth(make_config(tmp_path, booth__countdown_s=1), display=Keyboard(on_scene),
                       source=ScriptedSource([FACE]))
    booth.request_capture()
    booth.run(frames=3000)
    release.set()
    kinds = booth.display.kinds()
    assert answers == [False] and keys
    assert "CountdownScene" not in kinds[kinds.index("SavingScene"):]
    assert kinds[-1] == "SavedScene" and len(booth.gallery.entries()) == 1


def test_the_led_goes_dark_when_the_countdown_ends_while_the_memoji_is_saved(tmp_path,
                                                                            mock_pins):
    config = make_config(tmp_path, button__enabled=True, button__pin=17, button__led_pin=22,
                         booth__countdown_s=1)
    seen: list[tuple[str, bool, bool]] = []  # (scene, LED lit, saving) at each frame

    def on_scene(scene):
        seen.append((type(scene).__name__, bool(mock_pins.pin(22).state),
                     booth.status()["saving"]))
        if len(seen) == 3:
            booth.request_capture()
        if isinstance(scene, screens.SavedScene):
            booth.stop()

    booth = make_booth(config, display=RecordingDisplay(on_scene), source=ScriptedSource([FACE]))
    booth.run(frames=3000)
    kinds = [kind for kind, _, _ in seen]
    after_countdown = seen[len(kinds) - kinds[::-1].index("CountdownScene")]
    # saving: a press would do nothing, and the screen says so rather than flick back to live
    assert after_countdown == ("SavingScene", False, True)
    assert seen[-1][:2] == ("SavedScene", True)  # saved: lit for the next guest


class PressedAsTheCountdownEnds:
    """A button pressed (the page's capture, the GPIO thread) just as the countdown ends:
    while the loop switches its LED off there. Keeps each answer request_capture gave."""

    enabled = True

    def __init__(self):
        self.on_press, self.answers, self.countdowns = None, [], 0

    def blink(self):
        self.countdowns += 1

    def led_off(self):
        if self.countdowns and not self.answers:
            self.answers.append(self.on_press())

    def led_on(self):
        pass

    def close(self):
        pass


@pytest.mark.parametrize("face", [True, False], ids=["saved", "no face"])
def test_a_press_as_the_countdown_ends_is_refused_or_counted_never_lost(tmp_path, face):
    """A press that request_capture answers True for (the page then says "Countdown
    started") must start a countdown; with a memoji to save it is refused instead."""
    button = PressedAsTheCountdownEnds()

    def on_scene(scene):
        if len(booth.display.scenes) == 2:
            booth.request_capture()
        kinds = booth.display.kinds()
        if kinds[-1] in ("SavedScene", "ErrorScene") and len(kinds) > 40:
            booth.stop()

    booth = make_booth(make_config(tmp_path, booth__countdown_s=1), button=button,
                       source=ScriptedSource([FACE if face else NO_FACE]),
                       display=RecordingDisplay(on_scene))
    booth.run(frames=3000)
    assert len(button.answers) == 1
    assert button.countdowns == 1 + button.answers.count(True)
    assert len(booth.gallery.entries()) == (1 if face else 0)


def test_the_live_hint_names_a_way_to_save_that_this_booth_has(tmp_path, mock_pins, monkeypatch):
    """Without a GPIO button (off a Pi, or button.enabled = false) the screen told guests to
    press one. The ways this booth has: the button, a tap (a touchscreen, fullscreen), else
    the page's capture button, unless that needs the operator's PIN; else none."""
    url = "http://booth.lan:8000/"
    cases = {  # name: (settings, touchscreen, page address)
        "button": ({"button__enabled": True}, False, url),
        # set, but its pin cannot be used (busy, no permission): the page, as with none
        "button without its pin": ({"button__enabled": True}, False, url),
        "button and touch": ({"button__enabled": True}, True, url),
        "touch": ({}, True, url),
        "page": ({}, False, url),
        "page with a PIN": ({"web__pin": "4821"}, False, url),
        "nothing": ({}, False, ""),
    }
    hints = {}
    for name, (overrides, touch, address) in cases.items():
        monkeypatch.setattr(app.Booth, "_web_url", lambda self, path="/", a=address: a)
        display = type("Shown", (RecordingDisplay,), {"touchscreen": touch})()
        (tmp_path / name).mkdir()
        parts = {}
        if name == "button without its pin":
            from device.button import CaptureButton
            from tests.test_button import FailingPins

            parts["button"] = CaptureButton(17, on_press=lambda: None,
                                            pin_factory=FailingPins(OSError("GPIO busy")))
        booth = make_booth(make_config(tmp_path / name, **overrides), display=display,
                           source=ScriptedSource([FACE]), **parts)
        booth.run(frames=3)
        hints[name] = booth.display.scenes[-1].hint
    assert hints == {
        "button": "Press the button to save your memoji",
        "button without its pin": "Save your memoji from the booth's page on your phone",
        "button and touch": "Press the button or tap the screen to save your memoji",
        "touch": "Tap the screen to save your memoji",
        "page": "Save your memoji from the booth's page on your phone",
        "page with a PIN": "",
        "nothing": "",
    }


def test_the_screen_sleeps_after_a_while_without_guests_and_wakes_for_one(tmp_path):
    """display.sleep_after_min: no face, capture or look change for that long -> the dark
    screen; a face or a look change from a phone wakes it."""
    from device.avatar import PRESETS

    kinds: list[str] = []
    booth_ref = []

    def on_scene(scene):
        kinds.append(type(scene).__name__)
        if kinds.count("SleepScene") == 1 and kinds[-1] == "SleepScene":
            booth_ref[0].apply_look(PRESETS["female"])  # the operator picks a look: wake

    config = make_config(tmp_path, display__sleep_after_min=1)
    source = ScriptedSource([FACE] * 2 + [NO_FACE] * 80 + [FACE] * 3)
    booth = make_booth(config, source=source, display=RecordingDisplay(on_scene),
                       clock=FakeClock(step=5.0))
    booth_ref.append(booth)
    booth.run(frames=85)
    first_sleep = kinds.index("SleepScene")
    assert kinds[0] == "LiveScene" and "NoFaceScene" in kinds[:first_sleep]
    assert kinds[first_sleep + 1] == "NoFaceScene"  # the look change woke it
    assert kinds.count("SleepScene") > 1  # and it slept again, still nobody there
    assert kinds[-1] == "LiveScene"  # a face wakes it
    assert booth.status()["state"] == "live"

    never = make_config(tmp_path, display__sleep_after_min=0)
    booth = make_booth(never, source=ScriptedSource([NO_FACE]), clock=FakeClock(step=60.0))
    booth.run(frames=30)
    assert "SleepScene" not in booth.display.kinds()


def test_the_saving_screen_shows_the_expression_being_saved(tmp_path, monkeypatch):
    """The guest's face keeps changing while the memoji is written; the screen shows the
    expression the countdown ended on, which is the one saved."""
    from tests.webui_fakes import FakeAnalyser as LabelledAnalyser

    analyser = LabelledAnalyser("happy")
    release = hold_saves(monkeypatch)
    saving: list[str] = []

    def on_scene(scene):
        if len(booth.display.scenes) == 2:
            booth.request_capture()
        if isinstance(scene, screens.SavingScene):
            saving.append(scene.expression)
            analyser.label = "sad"  # the face changes meanwhile
            if len(saving) == 10:
                release.set()
        if isinstance(scene, screens.SavedScene):
            booth.stop()

    booth = make_booth(make_config(tmp_path), source=ScriptedSource([FACE]), analyser=analyser,
                       display=RecordingDisplay(on_scene))
    booth.run(frames=3000)
    assert len(saving) >= 10 and set(saving) == {"happy"}
    assert booth.gallery.entries()[0].expression == "happy"


class OneColourAvatars:
    """Memojis drawn at once, each look's in a colour of its own: the red channel tells
    which look a scene's memoji is in."""

    def __init__(self):
        self.look, self.version, self.red = None, 0, {}

    def set_look(self, look):
        self.look, self.version = look, self.version + 1
        self.red.setdefault(look, 40 * len(self.red))

    def get(self, expression):
        image = np.zeros((8, 8, 4), np.uint8)
        image[..., 0], image[..., 3] = self.red[self.look], 255
        return image

    def close(self):
        pass


def test_a_look_chosen_while_the_memoji_is_saved_is_not_shown_as_the_saved_one(
        tmp_path, monkeypatch):
    """A phone saves a new look while the guest's memoji is written: "Saved!" (and its QR
    code) is of the memoji in the look the countdown showed, which is the one saved."""
    from device.avatar import DEFAULT_LOOK, PRESETS

    release = hold_saves(monkeypatch)
    avatars = OneColourAvatars()

    def on_scene(scene):
        if len(booth.display.scenes) == 2:
            booth.request_capture()
        saving = booth.display.kinds().count("SavingScene")
        if isinstance(scene, screens.SavingScene) and saving == 2:
            booth.apply_look(PRESETS["female"])  # drawn at once, by the fake
        if isinstance(scene, screens.SavingScene) and saving == 5:
            release.set()
        if isinstance(scene, screens.SavedScene):
            booth.stop()

    booth = make_booth(make_config(tmp_path), avatars=avatars, source=ScriptedSource([FACE]),
                       display=RecordingDisplay(on_scene))
    booth.run(frames=3000)
    release.set()
    assert booth.gallery.entries()[0].look == DEFAULT_LOOK.to_dict()
    assert avatars.look == PRESETS["female"]  # the new look is drawn by now
    old = avatars.red[DEFAULT_LOOK]
    shown = [s for s in booth.display.scenes
             if isinstance(s, screens.SavingScene | screens.SavedScene)]
    assert shown and isinstance(shown[-1], screens.SavedScene)
    assert {int(s.avatar[0, 0, 0]) for s in shown} == {old}


def test_a_booth_without_a_camera_sleeps_too_and_says_why(tmp_path):
    """The no-camera screen (a QR code) and the error screens are still pictures too: they
    sleep like the waiting one, naming the problem in small letters."""
    config = make_config(tmp_path, display__sleep_after_min=1)
    clock = FakeClock(step=0.5)
    nothing = NoCameraError(["picamera2", "webcam:0"], ["not installed", "no /dev/video0"])
    booth = make_booth(config, source=ScriptedOpener(clock, nothing), clock=clock)
    booth.run(frames=200)
    kinds = booth.display.kinds()
    assert kinds[0] == "IdleScene" and kinds[-1] == "SleepScene"
    assert booth.display.scenes[-1].note == "No camera found"
    assert booth.status()["state"] == "asleep"


def test_a_press_wakes_a_booth_without_its_model_and_is_still_refused(tmp_path, mock_pins):
    """The operator comes to a dark screen whose small note says "Model missing": the
    button wakes it, as the README says a press does, though it captures nothing."""
    config = make_config(tmp_path, model__path=str(tmp_path / "missing.tflite"),
                         button__enabled=True, button__pin=17, display__sleep_after_min=1)
    answers: list[bool] = []

    def on_scene(scene):
        kinds = booth.display.kinds()
        if kinds.count("SleepScene") == 1 and kinds[-1] == "SleepScene":
            answers.append(booth.request_capture())  # as the GPIO thread does
        if "SleepScene" in kinds and kinds[-1] == "ErrorScene":
            booth.stop()

    booth = Booth(config, display=RecordingDisplay(on_scene), source=ScriptedSource([NO_FACE]),
                  notifier=FakeNotifier(), clock=FakeClock(step=5.0))
    booth.run(frames=100)
    kinds = booth.display.kinds()
    assert answers == [False]  # no countdown: the page still says why (model_error)
    assert kinds[kinds.index("SleepScene") + 1] == "ErrorScene"  # awake, saying what is wrong
    assert "CountdownScene" not in kinds and not booth.gallery.entries()


def test_a_look_saved_by_the_separate_web_process_wakes_the_screen(tmp_path):
    from device.avatar import PRESETS

    config = make_config(tmp_path, display__sleep_after_min=1)
    kinds: list[str] = []
    booth_ref = []

    def on_scene(scene):
        kinds.append(type(scene).__name__)
        if kinds.count("SleepScene") == 1 and kinds[-1] == "SleepScene":
            booth_ref[0].look_store.save(PRESETS["male"])  # as `memoji-booth web` does

    booth = make_booth(config, source=ScriptedSource([NO_FACE]), display=RecordingDisplay(on_scene),
                       clock=FakeClock(step=5.0))
    booth_ref.append(booth)
    booth.run(frames=60)
    first_sleep = kinds.index("SleepScene")
    assert "NoFaceScene" in kinds[first_sleep:]  # woken by the look file's change


def test_the_led_is_lit_while_the_booth_is_ready_and_off_when_it_stops(tmp_path, mock_pins):
    """button.led_pin: "an LED lit while the booth is ready" (config help, README)."""
    config = make_config(tmp_path, button__enabled=True, button__pin=17, button__led_pin=22,
                         booth__countdown_s=0)
    led_states: list[tuple[str, bool]] = []
    booth_ref = []

    def on_scene(scene):
        led_states.append((type(scene).__name__, bool(mock_pins.pin(22).state)))
        if len(led_states) == 3:
            booth_ref[0].request_capture()
        if isinstance(scene, screens.SavedScene):
            booth_ref[0].stop()

    booth = make_booth(config, display=RecordingDisplay(on_scene), source=ScriptedSource([FACE]))
    booth_ref.append(booth)
    booth.run(frames=3000)
    assert led_states[1] == ("LiveScene", True)  # lit once frames show: a press would capture
    saved = [lit for kind, lit in led_states if kind == "SavedScene"]
    assert saved and saved[0]  # the save finished: ready for the next press
    assert not mock_pins.pin(22).state  # the booth stopped: dark


def test_the_led_stays_dark_on_a_booth_without_its_model(tmp_path, mock_pins):
    """No expression model: a press can never capture, so the LED must not invite one."""
    config = make_config(tmp_path, model__path=str(tmp_path / "missing.tflite"),
                         button__enabled=True, button__pin=17, button__led_pin=22)
    lit: list[bool] = []
    booth = Booth(config, display=RecordingDisplay(lambda scene: lit.append(
        bool(mock_pins.pin(22).state))), source=ScriptedSource([FACE]),
        notifier=FakeNotifier(), clock=FakeClock())
    assert booth.analyser is None and booth.button.enabled
    booth.run(frames=5)
    assert booth.display.kinds()[-1] == "ErrorScene" and lit == [False] * 5


class StartedPage:
    """Stands in for the page's server: the booth advertises only a page that started."""

    url = "http://127.0.0.1:0"

    def close(self) -> None:
        pass


def pretend_the_page_started(booth, monkeypatch):
    monkeypatch.setattr(booth, "_start_web", lambda: setattr(booth, "_web", StartedPage()))


@pytest.mark.parametrize("settings, page", [
    ({"web__port": 8123}, "http://192.168.1.20:8123"),  # the LAN address
    ({"web__public_url": "https://booth.example.org/"}, "https://booth.example.org"),
])
def test_the_screens_link_to_the_page_and_the_saved_one_to_its_gallery_entry(
        tmp_path, monkeypatch, settings, page):
    from device import netinfo

    monkeypatch.setattr(netinfo, "routed_lan_address", lambda: "192.168.1.20")
    config = make_config(tmp_path, web__enabled=True, **settings)
    booth_ref = []

    def on_scene(scene):
        if len(display.scenes) == 2:
            booth_ref[0].request_capture()  # after the live screen showed its address
        if isinstance(scene, screens.SavedScene):
            booth_ref[0].stop()

    display = RecordingDisplay(on_scene=on_scene)
    booth = make_booth(config, display=display, source=ScriptedSource([FACE]), clock=FakeClock())
    booth_ref.append(booth)
    pretend_the_page_started(booth, monkeypatch)
    booth.run(frames=3000)
    saved = [s for s in display.scenes if isinstance(s, screens.SavedScene)]
    name = booth.gallery.entries()[0].name
    assert saved[0].url == f"{page}/gallery/{name}"
    assert display.scenes[0].web_url == page


@pytest.mark.parametrize("web", [True, False])
def test_a_capture_draws_its_gallery_thumbnail_ahead_of_the_page(tmp_path, monkeypatch, web):
    """With the page on, the saver thread draws the new memoji's thumbnail after "Saved!",
    so a phone opening the gallery finds it ready; without the page there is none."""
    from PIL import Image

    from device.gallery import THUMB_PX

    config = make_config(tmp_path, web__enabled=web, web__port=8123)
    booth_ref = []

    def on_scene(scene):
        if len(display.scenes) == 2:
            booth_ref[0].request_capture()
        if isinstance(scene, screens.SavedScene):
            booth_ref[0].stop()

    display = RecordingDisplay(on_scene=on_scene)
    booth = make_booth(config, display=display, source=ScriptedSource([FACE]), clock=FakeClock())
    booth_ref.append(booth)
    if web:
        pretend_the_page_started(booth, monkeypatch)
    booth.run(frames=3000)  # waits for the saver on the way out
    (entry,) = booth.gallery.entries()
    thumbs = booth.gallery.folder / ".thumbs"
    if web:
        with Image.open(thumbs / entry.name) as thumb:
            assert thumb.size == (THUMB_PX, THUMB_PX)
    else:
        assert not thumbs.exists()


def test_the_screen_never_waits_for_dns_to_show_the_web_address(tmp_path, monkeypatch):
    """web.host 0.0.0.0 shows the LAN address; without a route it comes from DNS,
    which can hang for seconds: the display thread must never be the one waiting."""
    from device import netinfo

    display_thread = threading.current_thread()
    asked, answer = threading.Event(), threading.Event()

    def hanging_dns(name):
        if threading.current_thread() is display_thread:
            raise AssertionError("DNS lookup on the display thread")
        asked.set()
        answer.wait(timeout=30)  # a bound only in case the test itself fails
        return "10.0.0.7"

    monkeypatch.setattr(netinfo, "_routed_address", lambda target: None)  # no route: DNS it is
    monkeypatch.setattr(netinfo.socket, "gethostbyname", hanging_dns)
    urls = []

    def on_scene(scene):
        if not hasattr(scene, "web_url"):
            return
        urls.append(scene.web_url)
        if len(urls) == 1:
            assert asked.wait(timeout=10)  # the lookup hangs on its own thread ...
            answer.set()  # ... while this frame is drawn; now DNS answers
            assert booth._lan.wait(timeout=10) == "10.0.0.7"
        elif len(urls) == 3:
            booth.stop()

    config = make_config(tmp_path, web__enabled=True, web__port=8123)  # web.host: 0.0.0.0
    booth = make_booth(config, display=RecordingDisplay(on_scene), source=ScriptedSource([FACE]))
    pretend_the_page_started(booth, monkeypatch)
    booth.run(frames=100)
    answer.set()
    assert urls[0] == ""  # not known yet: no URL rather than a frozen screen
    assert urls[-1] == "http://10.0.0.7:8123"


def test_storage_full_is_shown_and_the_loop_goes_on(tmp_path, caplog):
    config = make_config(tmp_path)
    seen = []

    def on_scene(scene):
        seen.append(type(scene).__name__)
        if "ErrorScene" in seen and seen[-1] == "LiveScene":
            booth.stop()

    booth = make_booth(config, display=RecordingDisplay(on_scene), source=ScriptedSource([FACE]),
                       clock=FakeClock())

    def full(*args, **kwargs):
        raise StorageFullError(booth.gallery.folder)

    booth.gallery.save = full
    booth.request_capture()
    booth.run(frames=3000)
    errors = [s for s in booth.display.scenes if isinstance(s, screens.ErrorScene)]
    assert errors and errors[0].title == "Storage full"
    assert seen[-1] == "LiveScene"  # back to the live view afterwards
    failed = [r.getMessage() for r in caplog.records if "could not be saved" in r.getMessage()]
    assert failed and f"({booth.gallery.folder})" in failed[0]  # the journal names the folder
    assert booth.gallery.entries() == []


def test_capture_without_a_face_saves_nothing(tmp_path):
    config = make_config(tmp_path)
    booth = make_booth(config, source=ScriptedSource([NO_FACE]), clock=FakeClock())
    booth.request_capture()
    booth.run(frames=10)
    titles = [s.title for s in booth.display.scenes if isinstance(s, screens.ErrorScene)]
    assert titles and titles[0] == "No face to save"
    assert booth.gallery.entries() == []


@pytest.mark.parametrize("save_photo", [False, True])
def test_a_capture_keeps_the_camera_photo_only_with_save_photo(tmp_path, monkeypatch, save_photo):
    """What a capture leaves on the card (the README's "Privacy"): the memoji alone; the
    guest's camera frame only with booth.save_photo, beside it, deleted with it."""
    import tempfile

    import cv2

    spare = tmp_path / "tmp"  # where Python's temporary files would go
    spare.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spare))
    config = make_config(tmp_path, booth__save_photo=save_photo)
    booth = make_booth(config, source=ScriptedSource([FACE]), clock=FakeClock())
    assert booth.avatars.wait_ready(timeout=60)  # the look's memojis, kept (below)
    booth.request_capture()
    booth.run(frames=10)  # and its end waits for the save
    (entry,) = booth.gallery.entries()
    data = tmp_path / "data"
    files = sorted(str(p.relative_to(data)) for p in data.rglob("*") if p.is_file())
    photo = f"gallery/{entry.name.removesuffix('.png')}-photo.jpg"
    store = MemojiStore(data / app.MEMOJI_STORE)  # drawings of the look, nothing of the guest
    keys = [store.key(render_svg(booth.avatars.look, expression), booth.avatars.size)
            for expression in EXPRESSIONS]
    look = [f"{app.MEMOJI_STORE}/{key}.png" for key in keys]
    assert files == sorted([f"gallery/{entry.name}", *([photo] if save_photo else []), *look])
    assert list(spare.iterdir()) == []
    if save_photo:
        kept = cv2.cvtColor(cv2.imread(str(data / photo)), cv2.COLOR_BGR2RGB)
        assert kept.shape == FACE.image.shape
        assert np.abs(kept.astype(int) - FACE.image.astype(int)).max() < 8  # the frame, as JPEG
        booth.gallery.delete(entry.name)
        assert not (data / photo).exists()


# ------------------------------------------------------------------ frames and cameras


def test_corrupt_frames_and_faceless_frames_are_survived(tmp_path):
    config = make_config(tmp_path)
    corrupt = [Frame(image=np.zeros((0,), np.uint8), detect=None, t=0.0),
               Frame(image=np.zeros((120, 160), np.uint8), detect=None, t=0.0),
               Frame(image=None, detect=None, t=0.0)]
    source = ScriptedSource([FACE, *corrupt, CHOKES, NO_FACE, NO_FACE] + [NO_FACE] * 30 + [FACE])
    analyser = FakeAnalyser()
    booth = make_booth(config, source=source, analyser=analyser, clock=FakeClock())
    booth.run(frames=45)
    kinds = booth.display.kinds()
    assert "LiveScene" in kinds and "NoFaceScene" in kinds
    assert kinds[-1] == "LiveScene"  # a face again at the end
    status = booth.status()
    assert status["bad_frames"] == 3
    assert analyser.calls >= 34  # the frame that made the analyser raise did not stop the loop


def test_camera_lost_mid_run_is_reopened_with_backoff(tmp_path):
    config = make_config(tmp_path)
    clock = FakeClock()
    cannot_open = CameraError("webcam:0: cannot open /dev/video0")
    opener = ScriptedOpener(clock, [FACE, FACE, CameraLost("webcam:0: unplugged")],
                            cannot_open, cannot_open, [FACE])
    opened, sources = opener.opened, opener.sources

    def on_scene(scene):
        if len(opened) >= 4 and isinstance(scene, screens.LiveScene):
            booth.stop()

    booth = make_booth(config, source=opener, display=RecordingDisplay(on_scene), clock=clock)
    booth.run(frames=5000)
    assert len(opened) == 4
    waits = [b - a for a, b in zip(opened, opened[1:], strict=False)]
    # LOST_BACKOFF_S: reopened after 1, 2, 4 s, each plus the few frames a reopen takes
    assert 1 <= waits[0] < 1.5 and 2 - EPS <= waits[1] < 2.5 and 4 - EPS <= waits[2] < 4.5, waits
    lost = [s for s in booth.display.scenes if isinstance(s, screens.ErrorScene)]
    assert lost and lost[0].title == "Camera lost" and "unplugged" in lost[0].detail
    assert any("Reconnecting in 1\u00a0s." in s.detail for s in lost)  # never "1" / "s."
    assert sources[0].closed
    assert booth.status()["camera_state"] == "ok"


def test_reopen_delays_double_up_to_half_a_minute(tmp_path):
    """A camera gone for good is tried every 30 s, not ever more rarely."""
    clock = FakeClock()
    opener = ScriptedOpener(clock, [FACE, CameraLost("webcam:0: unplugged")],
                            CameraError("webcam:0: cannot open /dev/video0"))
    opened = opener.opened

    def on_scene(scene):
        if len(opened) >= 9:
            booth.stop()

    booth = make_booth(make_config(tmp_path), source=opener, clock=clock,
                       display=RecordingDisplay(on_scene))
    booth.run(frames=50000)
    waits = [b - a for a, b in zip(opened[1:], opened[2:], strict=False)]
    expected = [2, 4, 8, 16, 30, 30, 30]  # after the first 1 s
    assert [round(w) for w in waits] == expected, waits


def test_closing_a_lost_camera_never_holds_up_the_screen(tmp_path):
    """A stuck driver can hold a camera's close() for seconds: the screen goes on
    meanwhile, and the camera is reopened only once the old one is closed."""
    display_thread = threading.current_thread()
    closing, let_go = threading.Event(), threading.Event()
    order: list[str] = []
    sources = []

    class StuckOnClose(ScriptedSource):
        closed_on = None

        def close(self):
            self.closed_on = threading.current_thread()
            closing.set()
            if self.closed_on is not display_thread:  # never hang the test itself
                let_go.wait(timeout=30)
            order.append("closed")
            self.closed = True

    def opener():
        order.append("opened")
        source = StuckOnClose([FACE, CameraLost("webcam:0: unplugged")]) if not sources \
            else ScriptedSource([FACE])
        sources.append(source)
        return source

    lost_frames = []

    def on_scene(scene):
        if isinstance(scene, screens.ErrorScene):
            lost_frames.append(closing.is_set() and not let_go.is_set())
            if len(lost_frames) == 5:
                assert closing.wait(timeout=10)
            if len(lost_frames) == 10:
                let_go.set()  # the driver lets go, after frames drawn meanwhile
        elif isinstance(scene, screens.LiveScene) and len(sources) == 2:
            booth.stop()

    booth = make_booth(make_config(tmp_path), source=opener, display=RecordingDisplay(on_scene))
    booth.run(frames=5000)
    let_go.set()
    assert sources[0].closed_on is not display_thread
    assert order == ["opened", "closed", "opened"]  # reopened only after the close finished
    assert lost_frames[5:10] == [True] * 5  # drawn while the close was stuck in the driver
    assert booth.status()["camera_state"] == "ok"


def test_a_reopen_failing_in_an_unexpected_way_is_retried_not_fatal(tmp_path):
    """A driver may raise anything while reopening (cv2.error, ValueError): the booth lives on."""
    config = make_config(tmp_path)
    clock = FakeClock()
    opener = ScriptedOpener(clock, [FACE, CameraLost("webcam:0: unplugged")],
                            ValueError("a driver error that is not a CameraError"), [FACE])
    opened = opener.opened

    def on_scene(scene):
        if len(opened) >= 3 and isinstance(scene, screens.LiveScene):
            booth.stop()

    booth = make_booth(config, source=opener, display=RecordingDisplay(on_scene), clock=clock)
    booth.run(frames=5000)
    assert len(opened) == 3
    lost = [s for s in booth.display.scenes if isinstance(s, screens.ErrorScene)]
    assert any("driver error" in s.detail for s in lost)
    assert booth.status()["camera_state"] == "ok"


def test_no_camera_at_start_shows_what_was_tried_and_keeps_looking(tmp_path):
    config = make_config(tmp_path)
    clock = FakeClock()
    nothing = NoCameraError(["picamera2", "webcam:0"], ["not installed", "no /dev/video0"])
    opener = ScriptedOpener(clock, nothing, nothing, [FACE])
    attempts = opener.opened
    notifier = FakeNotifier()

    def on_scene(scene):
        if isinstance(scene, screens.LiveScene):
            booth.stop()

    booth = make_booth(config, source=opener, display=RecordingDisplay(on_scene),
                       notifier=notifier, clock=clock)
    booth.run(frames=5000)
    idle = [s for s in booth.display.scenes if isinstance(s, screens.IdleScene)]
    assert idle and "picamera2" in idle[0].detail and "webcam:0" in idle[0].detail
    assert isinstance(booth.display.scenes[0], screens.IdleScene)
    assert notifier.names()[0] == "ready"  # ready once the no-camera screen is up
    assert len(attempts) == 3
    waits = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    assert all(5 - EPS <= wait < 5.5 for wait in waits), waits  # NO_CAMERA_RETRY_S


@pytest.mark.parametrize("source, why", [
    ("webcam:3", "cannot open video device 3"),
    # by the link udev makes when it is plugged in: not there at start
    ("/dev/v4l/by-id/usb-Fake_Camera_0001-video-index0", "not plugged in"),
])
def test_a_camera_named_in_the_settings_that_cannot_open_is_looked_for(tmp_path, monkeypatch,
                                                                       source, why):
    """It may be plugged in later, or be free again once a restarted booth has it:
    the screen says why, systemd's watchdog keeps being fed, and it is tried again."""
    config = make_config(tmp_path, camera__source=source)
    clock = FakeClock()
    cannot_open = CameraError(f"{source}: {why}")
    opener = ScriptedOpener(clock, cannot_open, cannot_open, [FACE])
    attempts = opener.opened
    monkeypatch.setattr(app, "open_source",
                        lambda spec, **options: opener() if spec == source else None)

    def on_scene(scene):
        if isinstance(scene, screens.LiveScene):
            booth.stop()

    notifier = watched_by_systemd(clock)
    booth = make_booth(config, display=RecordingDisplay(on_scene), notifier=notifier, clock=clock)
    booth._camera._opener_pool.shutdown()  # the reopens at the booth's fake times, as make_booth does
    booth._camera._opener_pool = InlineExecutor()
    assert booth.run(frames=5000) == 0
    idle = [s for s in booth.display.scenes if isinstance(s, screens.IdleScene)]
    assert idle and f"{source}: {why}" in idle[0].detail
    assert len(attempts) == 3 and 5 <= attempts[2] - attempts[1] < 5.5
    assert f"no camera (tried {source})" in notifier.statuses  # systemctl status: not "auto"
    pings = [t for name, t in notifier.calls if name == "watchdog"]
    assert max(b - a for a, b in zip(pings, pings[1:], strict=False)) < 2


def test_a_replay_that_cannot_be_read_stops_start_up(tmp_path):
    folder = tmp_path / "replay"
    folder.mkdir()
    config = make_config(tmp_path, camera__source=str(folder))

    def opener():
        raise CameraError(f"{folder}: no readable image in the folder")

    booth = make_booth(config, source=opener)
    with pytest.raises(CameraError, match="no readable image"):
        booth.run(frames=1)


def test_a_start_that_stops_at_the_camera_closes_the_page_it_had_started(tmp_path):
    """The page now starts before the camera opens: a replay that cannot be read must not
    leave it serving (systemd restarts the booth, which then finds its port taken)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path / "replay"
    folder.mkdir()
    config = make_config(tmp_path, camera__source=str(folder), web__enabled=True,
                         web__host="127.0.0.1", web__port=port)

    def opener():
        assert booth._web is not None  # serving already
        raise CameraError(f"{folder}: no readable image in the folder")

    booth = make_booth(config, source=opener)
    with pytest.raises(CameraError, match="no readable image"):
        booth.run(frames=1)
    booth._web.thread.join(30)  # the booth's end waits 5 s at most for the page's own loop
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))  # free: the page was closed


def test_watchdog_pings_stop_when_the_camera_hangs(tmp_path):
    config = make_config(tmp_path)
    clock = FakeClock()
    notifier = FakeNotifier()
    notifier.clock = clock
    booth = make_booth(config, source=ScriptedSource([FACE] * 90 + [None]), notifier=notifier,
                       clock=clock)
    booth.run(frames=120)
    pings = [t for name, t in notifier.calls if name == "watchdog"]
    assert len(pings) >= 2  # while frames flowed (about 3 s)
    last_frame_time = booth._last_frame_at
    assert clock.t - last_frame_time > 8  # the camera hung for a while ...
    assert pings[-1] - last_frame_time <= 5.2  # ... and the pings stopped within 5 s


def test_a_ready_that_did_not_reach_systemd_is_sent_again(tmp_path):
    """systemd stops a unit whose READY=1 never came (TimeoutStartSec) and starts it again:
    a send that failed (its queue full for a moment) is tried again at the next frame."""

    class LosesTheFirstReady(FakeNotifier):
        enabled = True

        def ready(self):
            super().ready()
            return self.names().count("ready") > 1

    notifier = LosesTheFirstReady()
    booth = make_booth(make_config(tmp_path), source=ScriptedSource([FACE]), notifier=notifier)
    booth.run(frames=5)
    assert notifier.names().count("ready") == 2


def watched_by_systemd(clock: FakeClock) -> FakeNotifier:
    """A notifier as under the unit's WatchdogSec=30, stamping each call with the fake time."""
    notifier = FakeNotifier()
    notifier.clock, notifier.watchdog_s = clock, 30.0
    return notifier


BUSY = CameraError("picamera2: cannot open the camera: Device or resource busy")
SILENT = [CameraLost("picamera2 delivered no frame within 2 s")]


@pytest.mark.parametrize("reopen", [BUSY, SILENT], ids=["reopens-fail", "reopens-stay-silent"])
def test_a_camera_lost_for_minutes_stops_the_pings_so_systemd_restarts_us(
        tmp_path, monkeypatch, caplog, reopen):
    """A hung driver can keep holding the camera, so every reopen fails as busy; or
    each reopen works and its first read times out (one loss, not many short ones):
    pings go on while the reopens are tried, then stop so systemd restarts us."""
    monkeypatch.setattr(app, "LOST_RESTART_S", 20.0)
    clock = FakeClock()
    notifier = watched_by_systemd(clock)
    opener = ScriptedOpener(clock, [FACE] * 30 + [CameraLost("picamera2 delivered no frame")],
                            reopen)
    opened = opener.opened

    def on_scene(scene):
        if booth._camera._lost_since is not None and clock.t - booth._camera._lost_since > 40:
            booth.stop()

    booth = make_booth(make_config(tmp_path), source=opener, notifier=notifier, clock=clock,
                       display=RecordingDisplay(on_scene))
    with caplog.at_level(logging.ERROR, logger="device.app"):
        booth.run(frames=20000)
    lost_at = booth._camera._lost_since
    pings = [t for name, t in notifier.calls if name == "watchdog"]
    assert len(opened) >= 4  # reopens were tried meanwhile
    assert any(lost_at + 15 < t <= lost_at + 20 for t in pings)  # handled: pings go on
    assert pings[-1] <= lost_at + 21 and clock.t > lost_at + 40  # then they stop
    assert [r.message for r in caplog.records].count(
        next(r.message for r in caplog.records if "lost for" in r.message)) == 1


def test_a_camera_back_before_systemd_restarted_us_is_told_again_when_lost_again(
        tmp_path, monkeypatch, caplog):
    """The pings stopped, but the camera came back before WatchdogSec ran out (a reopen
    is tried every 30 s): no restart came. The next loss as long is logged again, not
    left to systemd's watchdog in silence."""
    monkeypatch.setattr(app, "LOST_RESTART_S", 12.0)
    clock = FakeClock()
    notifier = watched_by_systemd(clock)
    # Lost twice: reopens 1, 3 and 7 s later fail; the one 15 s later works the first time.
    flowing_then_lost = [FACE] * 600 + [CameraLost("picamera2 delivered no frame")]
    opener = ScriptedOpener(clock, flowing_then_lost, BUSY, BUSY, BUSY, flowing_then_lost, BUSY)
    opened = opener.opened

    def on_scene(scene):
        if len(opened) >= 8 and clock.t - booth._camera._lost_since > 14:
            booth.stop()

    booth = make_booth(make_config(tmp_path), source=opener, notifier=notifier, clock=clock,
                       display=RecordingDisplay(on_scene))
    with caplog.at_level(logging.ERROR, logger="device.app"):
        booth.run(frames=20000)
    pings = [t for name, t in notifier.calls if name == "watchdog"]
    assert any(opened[4] < t < opened[5] for t in pings)  # back: pinged again in between
    assert sum("has been lost for" in r.message for r in caplog.records) == 2


def test_a_camera_back_within_the_limit_keeps_the_pings(tmp_path, monkeypatch):
    """Each loss is timed from its own start: two losses far apart never add up."""
    monkeypatch.setattr(app, "LOST_RESTART_S", 12.0)
    clock = FakeClock()
    notifier = watched_by_systemd(clock)
    # Lost twice, each time back after about 7 s: reopens 1 s and 2 s later fail, 4 s later work.
    flowing_then_lost = [FACE] * 600 + [CameraLost("picamera2 delivered no frame")]
    opener = ScriptedOpener(clock, flowing_then_lost, BUSY, BUSY, flowing_then_lost, BUSY, BUSY,
                            [FACE])
    opened = opener.opened

    def on_scene(scene):
        if len(opened) == 7 and clock.t - opened[-1] > 3:
            booth.stop()

    booth = make_booth(make_config(tmp_path), source=opener, notifier=notifier, clock=clock,
                       display=RecordingDisplay(on_scene))
    booth.run(frames=20000)
    pings = [t for name, t in notifier.calls if name == "watchdog"]
    assert len(opened) == 7
    assert opened[3] - opened[0] > 12 and opened[6] - opened[4] > 5  # far apart, each > fresh
    gaps = [b - a for a, b in zip(pings, pings[1:], strict=False)]
    assert max(gaps) < 2  # each loss was mended in time: the pings never stopped


def test_a_camera_reopened_while_stopping_is_closed(tmp_path):
    opening, let_go = threading.Event(), threading.Event()
    sources = []

    def opener():
        if sources:
            opening.set()
            let_go.wait(timeout=30)
        source = ScriptedSource([FACE, CameraLost("webcam:0: unplugged")] if not sources
                                else [FACE])
        sources.append(source)
        return source

    def on_scene(scene):
        if opening.is_set():
            booth.stop()

    booth = make_booth(make_config(tmp_path), source=opener, display=RecordingDisplay(on_scene))
    booth.run(frames=5000)
    assert opening.is_set()
    let_go.set()  # the reopen finishes after the booth stopped
    booth._camera._opener_pool.shutdown(wait=True)
    assert len(sources) == 2 and sources[1].closed


# ------------------------------------------------------------------ look, status, signals


class FakeAvatars:
    def __init__(self):
        self.looks = []
        self.version = 0

    def set_look(self, look):
        self.looks.append(look)
        self.version += 1

    @property
    def look(self):
        return self.looks[-1] if self.looks else None

    def get(self, expression):
        return None

    def close(self):
        pass


def test_look_changes_from_the_web_and_from_the_look_file(tmp_path):
    from device.avatar import PRESETS

    config = make_config(tmp_path)
    avatars = FakeAvatars()
    clock = FakeClock()
    other_process = LookStore(tmp_path / "data" / "look.json")
    female, male = PRESETS["female"], PRESETS["male"]
    step = {"n": 0}

    def on_scene(scene):
        step["n"] += 1
        if step["n"] == 5:
            booth.apply_look(female)  # the web thread, inside `memoji-booth run`
        if step["n"] == 10:
            other_process.save(male)  # a standalone `memoji-booth web`
            os.utime(other_process.path, (1, 1))  # a distinct mtime, whatever the fs resolution

    booth = make_booth(config, avatars=avatars, display=RecordingDisplay(on_scene),
                       source=ScriptedSource([FACE]), clock=clock)
    booth.run(frames=60)  # 2 s of fake time: the file is polled once a second
    assert avatars.looks[1:] == [female, male]


def test_status_is_plain_json_for_the_web_page(tmp_path):
    config = make_config(tmp_path)
    booth = make_booth(config, source=ScriptedSource([FACE]), clock=FakeClock())
    booth.run(frames=40)
    status = booth.status()
    json.dumps(status)
    assert status["expression"] == "happy"
    assert set(status["scores"]) == set(EXPRESSIONS)
    assert status["face"] == [200, 120, 200, 200]
    assert status["fps"] == pytest.approx(30, rel=0.1)  # 1/30 s per clock reading
    assert status["camera"] == "scripted" and status["state"] == "live"


def test_sigterm_ends_the_loop_cleanly(tmp_path):
    config = make_config(tmp_path)
    notifier = FakeNotifier()
    shown, handlers = [], []
    before = signal.getsignal(signal.SIGTERM)

    def on_scene(scene):
        shown.append(scene)
        if len(shown) == 3:  # systemctl stop: what Python runs when SIGTERM arrives
            handlers.append(signal.getsignal(signal.SIGTERM))
            handlers[0](signal.SIGTERM, None)

    booth = make_booth(config, display=RecordingDisplay(on_scene), notifier=notifier,
                       source=ScriptedSource([FACE]), clock=FakeClock())
    assert booth.run(frames=1000) == 0
    assert handlers[0] is not before and callable(handlers[0])  # the booth's own handler
    assert len(shown) == 3  # the loop ended right after the signal
    assert notifier.names()[-1] == "stopping"
    assert signal.getsignal(signal.SIGTERM) is before  # restored as it was found


@pytest.mark.parametrize("damage", [None, "garbage", "garbage, no card"])
def test_a_missing_or_damaged_model_is_shown_with_its_message(tmp_path, damage):
    model = tmp_path / "emotion.tflite"
    if damage:  # the model file is not a model (a bad copy): the runtime refuses it
        model.write_bytes(b"\0" * 1000)
    if damage == "garbage":  # and its card is fine; without one, the file is still what is wrong
        model.with_suffix(".json").write_bytes(DEFAULT_MODEL_PATH.with_suffix(".json").read_bytes())
    config = make_config(tmp_path, model__path=str(model))
    booth = Booth(config, display=RecordingDisplay(), source=ScriptedSource([FACE]),
                  notifier=FakeNotifier(), clock=FakeClock())
    assert booth.analyser is None and "emotion.tflite" in booth.model_error
    assert ("cannot be loaded" if damage else "not found") in booth.model_error
    booth.request_capture()  # nothing to classify with: ignored, no crash
    booth.run(frames=3)
    errors = [s for s in booth.display.scenes if isinstance(s, screens.ErrorScene)]
    assert errors and errors[0].title == "Model missing" and "emotion.tflite" in errors[0].detail


def test_a_web_page_that_cannot_start_does_not_stop_the_booth(tmp_path, monkeypatch):
    import device.webui

    def broken(*args, **kwargs):
        raise OSError("address already in use")

    monkeypatch.setattr(device.webui, "create_app", broken)
    config = make_config(tmp_path, web__enabled=True, web__host="127.0.0.1")
    booth = make_booth(config, source=ScriptedSource([FACE]), clock=FakeClock())
    assert booth.run(frames=5) == 0
    assert booth.display.kinds()[-1] == "LiveScene"
    assert booth.display.scenes[-1].web_url == ""  # no address for a page that is not there


def test_a_port_in_use_is_one_log_line_not_a_traceback(tmp_path, caplog):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = make_config(tmp_path, web__enabled=True, web__host="127.0.0.1", web__port=port)
        booth = make_booth(config, source=ScriptedSource([FACE]), clock=FakeClock())
        with caplog.at_level(logging.ERROR, logger="device.app"):
            assert booth.run(frames=5) == 0
    [record] = [r for r in caplog.records if r.name == "device.app"]
    assert f"cannot serve on 127.0.0.1:{port}" in record.getMessage()
    assert "another program uses that port" in record.getMessage()  # and what to do about it
    assert record.exc_info is None  # one line in the journal, no traceback


def test_a_file_the_page_cannot_use_is_named_not_blamed_on_the_port(tmp_path, monkeypatch, caplog):
    import device.webui

    def unreadable(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "secret_key"))

    monkeypatch.setattr(device.webui, "create_app", unreadable)
    config = make_config(tmp_path, web__enabled=True, web__host="127.0.0.1")
    booth = make_booth(config, source=ScriptedSource([FACE]), clock=FakeClock())
    with caplog.at_level(logging.ERROR, logger="device.app"):
        assert booth.run(frames=5) == 0
    [record] = [r for r in caplog.records if r.name == "device.app"]
    assert f"cannot use {tmp_path / 'secret_key'} (Permission denied)" in record.getMessage()
    assert "serve on" not in record.getMessage()


def test_the_log_gives_the_pages_lan_address_not_the_loopback(tmp_path, monkeypatch, caplog):
    class FixedLan:
        current = "192.168.1.20"

        def __init__(self, refresh_s):
            pass

        def close(self):
            pass

    import socket

    monkeypatch.setattr(app, "LanAddress", FixedLan)
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        port = probe.getsockname()[1]
    config = make_config(tmp_path, web__enabled=True, web__host="0.0.0.0", web__port=port)
    booth = make_booth(config, source=ScriptedSource([FACE]), clock=FakeClock())
    with caplog.at_level(logging.DEBUG):
        booth.run(frames=3)
    about_the_page = [r for r in caplog.records if "web page" in r.getMessage()]
    # At INFO, once: the address the screen shows; the socket's, for a developer, at DEBUG.
    assert [r.getMessage() for r in about_the_page if r.levelno >= logging.INFO] == [
        f"web page: http://192.168.1.20:{port}/"]
    assert any(r.getMessage().startswith("web page listening on port ") and
               "every address" in r.getMessage() for r in about_the_page)


def test_a_web_page_that_could_not_start_is_tried_again(tmp_path, monkeypatch):
    import device.webui

    attempts = []

    def first_fails(*args, **kwargs):
        attempts.append(booth._clock.t)
        if len(attempts) == 1:
            raise OSError("address already in use")
        return object()

    monkeypatch.setattr(device.webui, "create_app", first_fails)
    monkeypatch.setattr(device.webui, "start_in_thread", lambda *a: StartedPage())
    config = make_config(tmp_path, web__enabled=True, web__host="127.0.0.1", web__port=8123)
    clock = FakeClock(step=1.0)  # a second per reading: the retry comes within the run
    booth = make_booth(config, source=ScriptedSource([FACE]), clock=clock)
    booth._clock = clock
    booth.run(frames=60)
    assert len(attempts) == 2 and 29 <= attempts[1] - attempts[0] <= 40
    assert booth.display.scenes[-1].web_url == "http://127.0.0.1:8123"


def test_the_web_page_runs_inside_the_booth_and_sees_it_live(tmp_path):
    import socket
    import urllib.request

    with socket.socket() as probe:  # a free port for this test
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = make_config(tmp_path, web__enabled=True, web__host="127.0.0.1", web__port=port)
    answers = {}

    def on_scene(scene):
        if len(booth.display.scenes) == 20:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=10) as r:
                answers["status"] = json.loads(r.read())
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/capture", method="POST")
            with urllib.request.urlopen(request, timeout=10) as r:
                answers["capture"] = r.status
        if isinstance(scene, screens.SavedScene):
            booth.stop()

    booth = make_booth(config, display=RecordingDisplay(on_scene), source=ScriptedSource([FACE]))
    booth.run(frames=3000)
    assert answers["status"]["expression"] == "happy" and answers["status"]["state"] == "live"
    assert answers["capture"] == 202
    assert len(booth.gallery.entries()) == 1
    with pytest.raises(OSError):  # the server stopped with the booth
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2)


def test_the_page_answers_while_the_camera_is_still_opening(tmp_path):
    """A Pi camera takes seconds to open at start; the page must not wait for it."""
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = make_config(tmp_path, web__enabled=True, web__host="127.0.0.1", web__port=port)
    seen_while_opening = {}

    def slow_camera():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5) as r:
                seen_while_opening.update(json.loads(r.read()))
        except OSError as error:
            seen_while_opening["error"] = str(error)
        return ScriptedSource([FACE])

    booth = make_booth(config, source=slow_camera)
    booth.run(frames=3)
    assert "error" not in seen_while_opening
    assert seen_while_opening["state"] == "starting"
    assert seen_while_opening["camera_state"] == "starting"


def test_the_memojis_are_kept_in_the_data_folder_and_cairosvg_loaded_once_frames_show(
        tmp_path, monkeypatch):
    """A restart reads the look's memojis instead of drawing them; what draws them is
    imported after READY=1, off the loop, not before the first frame nor in the first save."""
    notifier = FakeNotifier()
    prepared = []
    monkeypatch.setattr(app, "prepare_renderer",
                        lambda: prepared.append((threading.current_thread(), notifier.names())))
    booth = make_booth(make_config(tmp_path), source=ScriptedSource([FACE]), notifier=notifier)
    assert booth.avatars.wait_ready(timeout=20)
    booth.run(frames=3)
    [(thread, told_systemd)] = prepared
    assert told_systemd[0] == "ready" and thread is not threading.main_thread()
    assert len(list((tmp_path / "data" / ".cache" / "memojis").glob("*.png"))) == 7


def test_sighup_finishes_the_memoji_being_saved_and_stops(tmp_path):
    """tty1, which the unit takes, hung up: SIGHUP's default action killed the booth
    at once, and the memoji being saved with it."""
    config = make_config(tmp_path)
    # SIGHUP's default, as under systemd; the suite itself may run under nohup (ignored).
    outside = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    handlers = []

    def on_scene(scene):
        if isinstance(scene, screens.SavingScene) and not handlers:
            handlers.append(signal.getsignal(signal.SIGHUP))
            handlers[0](signal.SIGHUP, None)

    try:
        booth = make_booth(config, display=RecordingDisplay(on_scene), source=ScriptedSource([FACE]),
                           clock=FakeClock())
        booth.request_capture()
        assert booth.run(frames=1000) == 0
        assert callable(handlers[0])  # the booth's own handler, not the default (terminate)
        assert [e.expression for e in booth.gallery.entries()] == ["happy"]
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGHUP, outside)


def test_an_ignored_sighup_stays_ignored(tmp_path):
    """`nohup memoji-booth run &` from an SSH session: the hang-up at logout must not stop
    the booth, as it did not before SIGHUP ended the loop."""
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # what nohup does
    during = []
    try:
        booth = make_booth(make_config(tmp_path), source=ScriptedSource([FACE]), clock=FakeClock(),
                           display=RecordingDisplay(
                               lambda scene: during.append(signal.getsignal(signal.SIGHUP))))
        assert booth.run(frames=3) == 0
        assert during and all(handler is signal.SIG_IGN for handler in during)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)


@pytest.mark.parametrize("fault", ["corrupt frames", "analyser fails"])
def test_a_fault_on_every_frame_is_logged_when_it_starts_now_and_then_and_when_it_ends(
        tmp_path, caplog, fault):
    """Ten minutes of it at 30 fps: a few lines, not one every hundred frames (a traceback
    every 3 s, 26,000 a day, pushing everything else out of the journal)."""
    bad = CHOKES if fault == "analyser fails" else frame_of(7, size=(4, 4))
    source = ScriptedSource([FACE] + [bad] * 18_000 + [FACE])
    booth = make_booth(make_config(tmp_path), source=source, clock=FakeClock())
    booth.display.draw = lambda scene: None  # only the log matters here
    with caplog.at_level(logging.INFO, logger="device"):
        booth.run(frames=18_010)
    lines = [r.getMessage() for r in caplog.records
             if "corrupt" in r.getMessage() or "analys" in r.getMessage()]
    assert 2 <= len(lines) <= 5, lines  # 18,000 / 30 / REPEAT_LOG_S: first, one or two more, the end
    assert "again after 18000" in lines[-1], lines
    assert booth.status()["bad_frames"] == (18_000 if fault == "corrupt frames" else 0)


def test_the_pis_health_is_checked_on_its_own_thread_while_the_booth_runs(tmp_path, caplog):
    """A weak supply and heat reach the journal and the status; the reads never run on the
    screen's thread, and the checking stops with the booth."""
    sensors = FakeSensors(under_voltage=True, temperature_c=82.0, card_free_mb=9000.0)
    monitor = HealthMonitor(sensors, sample_every_s=0.01)
    display = RecordingDisplay(lambda scene: sensors.checked.wait(10))
    booth = make_booth(make_config(tmp_path), source=ScriptedSource([FACE]), health=monitor,
                       display=display)
    with caplog.at_level(logging.WARNING, logger="device.health"):
        assert booth.run(frames=3) == 0
        join_threads("pi-health")
    health = booth.status()["health"]
    assert health["under_voltage"] is True and health["throttled"] is True
    assert health["temperature_c"] == 82.0 and health["card_free_mb"] == 9000
    assert len(health["warnings"]) == 2
    assert sensors.threads == {"pi-health"}
    assert not any(t.name == "pi-health" for t in threading.enumerate())
    assert [r.getMessage()[:14] for r in caplog.records] == ["Under-voltage:", "The processor "]


def test_the_booth_watches_its_own_data_folders_card(tmp_path):
    booth = make_booth(make_config(tmp_path), source=ScriptedSource([FACE]))
    assert isinstance(booth.health.sensors, PiSensors)
    assert booth.health.sensors.data_dir == tmp_path / "data"
    assert booth.status()["health"]["card_free_mb"] is None  # not checked before it runs
    assert booth.run(frames=1) == 0  # and stopped with it
    join_threads("pi-health")
    assert not any(t.name == "pi-health" for t in threading.enumerate())


SAVE_BUGS = [
    TypeError("save() got an unexpected keyword argument 'photo'"),
    # an OSError that is no card fault: it was told as one, on screen and in the journal
    # ("may be full, failing or read-only", without its traceback)
    OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), "memoji-" + "x" * 300),
]


def _capture_failing_with(tmp_path, error: Exception) -> Booth:
    """A booth whose one capture fails with ``error``, run until the screen says so."""
    booth = make_booth(make_config(tmp_path), source=ScriptedSource([FACE]), clock=FakeClock(),
                       display=RecordingDisplay(lambda scene: isinstance(
                           scene, screens.ErrorScene) and booth.stop()))

    def failing(*args, **kwargs):
        raise error

    booth.gallery.save = failing
    booth.request_capture()
    booth.run(frames=3000)
    return booth


def test_a_card_that_cannot_be_written_is_said_in_words_not_as_an_errno(tmp_path):
    """A card the kernel remounted read-only: the screen said "[Errno 30] Read-only file
    system: '.../gallery/.memoji-....png.1f2e3d.tmp'"."""
    temp = tmp_path / "gallery" / ".memoji-20260101-000000-000000-happy.png.1f2e3d.tmp"
    booth = _capture_failing_with(tmp_path, OSError(errno.EROFS, os.strerror(errno.EROFS), str(temp)))
    error = next(s for s in booth.display.scenes if isinstance(s, screens.ErrorScene))
    assert error.title == "Could not save"
    assert "memory card cannot be written (Read-only file system)" in error.detail
    assert "Errno" not in error.detail and ".tmp" not in error.detail


@pytest.mark.parametrize("bug", SAVE_BUGS)
def test_a_save_that_fails_by_a_bug_logs_its_traceback(tmp_path, caplog, bug):
    """A card fault is one line (the operator's to fix); any other failure is a bug, and
    the journal must say where it happened, not only its message."""
    _capture_failing_with(tmp_path, bug)
    failed = [r for r in caplog.records if r.getMessage().startswith("a memoji could not be saved")]
    assert failed and failed[0].exc_info and failed[0].exc_info[1] is bug
    assert "memory card" not in failed[0].getMessage()


# What the journal names when a capture cannot be saved: the folder the write was refused
# in, as the page names it (tests/test_webui.py).
REFUSED_IN = {  # what failed -> the folder named, under the data folder
    "a file in the gallery": ("data/gallery/.memoji-1.png.1f2e3d4c5b6a.tmp", "data/gallery"),
    "the gallery folder, not made": ("data/gallery", "data"),
}


@pytest.mark.parametrize("refused", REFUSED_IN)
def test_a_card_fault_names_the_folder_the_write_was_refused_in(tmp_path, caplog, refused):
    """It named the gallery folder, whatever failed: one that could not be made (its parent
    read-only, or someone else's) sent the operator to a folder that is not there."""
    path, folder = (tmp_path / part for part in REFUSED_IN[refused])
    with caplog.at_level(logging.ERROR, logger="device.app"):
        _capture_failing_with(tmp_path, PermissionError(errno.EACCES, "Permission denied", str(path)))
    [line] = _booth_lines(caplog, logging.ERROR)
    assert line.startswith(f"a memoji could not be saved: {folder} cannot be used "
                           "(Permission denied). The memory card may be"), line


@pytest.mark.parametrize("bug", SAVE_BUGS)
def test_a_save_that_fails_by_a_bug_is_not_blamed_on_the_card_on_screen(tmp_path, bug):
    """The journal calls it a bug; the screen said "the memory card cannot be written (File
    name too long)", sending the operator to a card that is fine, or showed the bug's own words."""
    booth = _capture_failing_with(tmp_path, bug)
    error = next(s for s in booth.display.scenes if isinstance(s, screens.ErrorScene))
    assert error.title == "Could not save"
    assert error.detail == "This memoji was not saved. Tell the operator: the booth's log says why."


# ------------------------------------------------------------------ the journal, as the operator reads it


BOOTH_LOGGERS = ("device.app", "device.camera_keeper")  # under logger "device"


def _booth_lines(caplog, level=logging.INFO):
    return [r.getMessage() for r in caplog.records if r.name in BOOTH_LOGGERS and r.levelno >= level]


def test_a_stop_is_one_line_saying_why_then_one_when_done(tmp_path, caplog):
    """It was "SIGTERM received" and "stopping": a signal's name, and no word that the
    memoji being saved was finished."""
    booth = make_booth(make_config(tmp_path), source=ScriptedSource([FACE]), clock=FakeClock(),
                       display=RecordingDisplay(lambda scene: setattr(
                           booth, "_stop_requested", signal.SIGTERM)))
    with caplog.at_level(logging.INFO, logger="device.app"):
        booth.run(frames=100)
    lines = _booth_lines(caplog)
    assert lines[-2].startswith("stopping: asked to by the system (SIGTERM: systemctl stop")
    assert lines[-1] == "stopped"
    assert sum("SIGTERM" in line for line in lines) == 1


def test_a_capture_is_one_line_in_the_journal(tmp_path, caplog):
    """The countdown starting, and a guest pressing again meanwhile, are no news to the
    operator: the saved memoji is."""
    booth = make_booth(make_config(tmp_path), source=ScriptedSource([FACE]), clock=FakeClock(),
                       display=RecordingDisplay(lambda scene: isinstance(
                           scene, screens.SavedScene) and booth.stop()))
    booth.request_capture()
    booth.request_capture()  # pressed twice before the loop took the first
    with caplog.at_level(logging.INFO, logger="device.app"):
        booth.run(frames=3000)
    [saved] = [line for line in _booth_lines(caplog) if "capture" in line or "saved" in line]
    assert saved.startswith("saved memoji-") and "(happy 0.94)" in saved


def test_a_lost_camera_is_logged_when_lost_not_at_every_try_and_when_back(tmp_path, caplog):
    """Each failed reopen logged a warning of its own (1, 2, 4, 8, 16, 30, 30 ... s apart),
    and its return only as "camera: NAME"."""
    clock = FakeClock()
    cannot_open = CameraError("webcam:0: cannot open /dev/video0")
    opener = ScriptedOpener(clock, [FACE, CameraLost("webcam:0: unplugged")], *[cannot_open] * 6,
                            [FACE])

    def on_scene(scene):
        if len(opener.opened) == 8 and isinstance(scene, screens.LiveScene):
            booth.stop()

    booth = make_booth(make_config(tmp_path), source=opener, clock=clock,
                       display=RecordingDisplay(on_scene))
    with caplog.at_level(logging.INFO, logger="device"):
        booth.run(frames=50000)
    lines = _booth_lines(caplog)
    lost = [line for line in lines if "lost" in line]
    assert len(lost) == 1 and lost[0].startswith("camera lost (webcam:0: unplugged)"), lines
    back = [line for line in lines if "works again" in line]
    assert len(back) == 1 and 85 < float(back[0].split("after ")[1].split(" s")[0]) < 95, back


def test_a_camera_still_lost_after_minutes_is_said_again(tmp_path, caplog):
    clock = FakeClock()
    opener = ScriptedOpener(clock, [FACE, CameraLost("webcam:0: unplugged")],
                            CameraError("webcam:0: cannot open /dev/video0"))

    def on_scene(scene):
        if clock.t - opener.opened[0] > REPEAT_LOG_S + 60:
            booth.stop()

    booth = make_booth(make_config(tmp_path), source=opener, clock=clock,
                       display=RecordingDisplay(on_scene))
    with caplog.at_level(logging.WARNING, logger="device"):
        booth.run(frames=50000)
    lines = _booth_lines(caplog, logging.WARNING)
    assert len(lines) == 2 and lines[1].startswith("the camera is still lost after "), lines


def test_a_camera_found_after_none_was_is_said_so(tmp_path, caplog):
    clock = FakeClock()
    nothing = NoCameraError(["picamera2", "webcam:0"], ["not installed", "no /dev/video0"])
    opener = ScriptedOpener(clock, nothing, nothing, [FACE])
    booth = make_booth(make_config(tmp_path), source=opener, clock=clock,
                       display=RecordingDisplay(lambda scene: isinstance(
                           scene, screens.LiveScene) and booth.stop()))
    with caplog.at_level(logging.INFO, logger="device"):
        booth.run(frames=5000)
    lines = _booth_lines(caplog)
    assert lines[0].startswith("No camera found: tried picamera2 (not installed)")
    assert "plug one in" in lines[0]
    assert "found the camera scripted" in lines


def test_saves_failing_on_a_full_card_are_logged_once_and_when_they_work_again(tmp_path, caplog):
    """A full or read-only card fails every guest's capture alike: it was an error line
    each, with the card's errno and a temporary file's name."""
    saved = []

    def on_scene(scene):
        if isinstance(scene, (screens.SavedScene, screens.ErrorScene)):
            saved.append(type(scene).__name__)
            if len(saved) < 4:
                booth.request_capture()
            else:
                booth.stop()

    booth = make_booth(make_config(tmp_path), source=ScriptedSource([FACE]), clock=FakeClock(),
                       display=RecordingDisplay(on_scene))
    real_save, failures = booth.gallery.save, []

    def full_three_times(*args, **kwargs):
        if len(failures) < 3:
            failures.append(1)
            raise StorageFullError(booth.gallery.folder)
        return real_save(*args, **kwargs)

    booth.gallery.save = full_three_times
    booth.request_capture()
    with caplog.at_level(logging.INFO, logger="device.app"):
        booth.run(frames=20000)
    assert len(failures) == 3 and len(booth.gallery.entries()) == 1
    errors = _booth_lines(caplog, logging.ERROR)
    assert errors == [f"a memoji could not be saved: the memory card is full "
                      f"({booth.gallery.folder}). Delete memojis on the web page, lower "
                      "storage.keep, or free space on the card"]
    assert "memojis are saved again, after 3 that could not be" in _booth_lines(caplog)
