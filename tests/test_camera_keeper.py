"""CameraKeeper on its own: what the loop may count on from read(now) and status(),
at times the test chooses (the booth's scenarios are in test_app.py)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from device.camera_keeper import (
    COMES_AND_GOES_ADVICE,
    LOST_BACKOFF_S,
    NO_CAMERA_RETRY_S,
    CameraKeeper,
    CameraState,
)
from device.capture import CameraError, CameraLost, NoCameraError
from device.recurring import REPEAT_LOG_S
from tests.test_app import FACE, FakeNotifier, InlineExecutor, ScriptedSource, frame_of

UNPLUGGED = CameraLost("webcam:0: unplugged")
CANNOT_OPEN = CameraError("webcam:0: cannot open /dev/video0")


class Opener:
    """Opens a fresh ScriptedSource per call from `steps` (the last one repeats); a step
    that is an exception is raised instead."""

    def __init__(self, *steps):
        self.steps = steps
        self.sources: list[ScriptedSource] = []
        self.calls = 0

    def __call__(self) -> ScriptedSource:
        self.calls += 1
        step = self.steps[min(self.calls, len(self.steps)) - 1]
        if isinstance(step, BaseException):
            raise step
        source = ScriptedSource(step)
        self.sources.append(source)
        return source


def keeper_of(source, settings_source="auto", notifier=None) -> CameraKeeper:
    keeper = CameraKeeper(source, name="camera", settings_source=settings_source,
                          notifier=notifier or FakeNotifier(), opener_pool=InlineExecutor())
    keeper.start(lambda: 0.0)
    return keeper


def read_until(keeper: CameraKeeper, now: float, *, state: CameraState) -> None:
    """Read at `now` (a reopen is picked up on the read after it started) until `state`."""
    for _ in range(3):
        if keeper.state is state:
            return
        keeper.read(now)
    assert keeper.state is state


def delays_between_reopens(keeper: CameraKeeper, start: float, count: int) -> list[float]:
    """Each reopen fails: how long the keeper waited before each of the next `count`."""
    delays, now = [], start
    for _ in range(count):
        retry_at = keeper.status().retry_at
        delays.append(retry_at - now)
        keeper.read(retry_at)  # starts the reopen
        keeper.read(retry_at)  # sees it fail: lost again, with the next delay
        now = retry_at
    return delays


def test_reopen_delays_double_up_to_the_cap_and_start_again_once_frames_flow():
    opener = Opener([FACE, UNPLUGGED], CANNOT_OPEN, CANNOT_OPEN, CANNOT_OPEN, CANNOT_OPEN,
                    CANNOT_OPEN, CANNOT_OPEN, [FACE, FACE, UNPLUGGED], CANNOT_OPEN)
    keeper = keeper_of(opener)
    assert keeper.read(10.0) is FACE
    assert keeper.read(11.0) is None and keeper.state is CameraState.LOST
    delays = delays_between_reopens(keeper, 11.0, 7)
    assert delays == [1, 2, 4, 8, 16, 30, 30]  # LOST_BACKOFF_S
    assert delays[-1] == LOST_BACKOFF_S[1]
    now = keeper.status().retry_at
    read_until(keeper, now, state=CameraState.OK)  # the eighth reopen works ...
    assert keeper.read(now) is FACE  # ... and frames flow
    keeper.read(now + 1)  # FACE
    keeper.read(now + 2)  # lost again: from the first delay
    assert keeper.state is CameraState.LOST
    assert keeper.status().retry_at - (now + 2) == LOST_BACKOFF_S[0]


def test_a_reopened_camera_that_stays_silent_keeps_the_backoff_and_the_loss():
    """Only a frame ends a loss: a camera that opens and then fails again is the same loss."""
    opener = Opener([FACE, UNPLUGGED], [UNPLUGGED])
    keeper = keeper_of(opener)
    keeper.read(10.0)
    keeper.read(11.0)  # lost: reopened 1 s later
    read_until(keeper, 12.0, state=CameraState.OK)
    keeper.read(12.5)  # its first read fails
    assert keeper.state is CameraState.LOST and keeper.lost_for(12.5) == 1.5
    assert keeper.status().retry_at == 12.5 + 2


def test_missing_at_start_is_looked_for_every_few_seconds_not_backed_off():
    nothing = NoCameraError(["picamera2", "webcam:0"], ["not installed", "no /dev/video0"])
    notifier = FakeNotifier()
    opener = Opener(nothing, nothing, nothing, [FACE])
    keeper = keeper_of(opener, notifier=notifier)
    status = keeper.status()
    assert status.state is CameraState.MISSING
    assert status.problem == "Tried picamera2 (not installed), webcam:0 (no /dev/video0)"
    assert notifier.statuses == ["no camera (tried picamera2, webcam:0)"]
    assert keeper.lost_for(100.0) is None  # missing is not lost: no restart is due
    assert keeper.read(NO_CAMERA_RETRY_S - 0.1) is None and opener.calls == 1
    assert delays_between_reopens(keeper, 0.0, 2) == [NO_CAMERA_RETRY_S] * 2
    assert keeper.state is CameraState.MISSING
    read_until(keeper, keeper.status().retry_at, state=CameraState.OK)
    assert keeper.status().problem == "" and notifier.statuses[-1] == "camera scripted"


def test_lost_means_it_worked_then_failed():
    notifier = FakeNotifier()
    opener = Opener([FACE, UNPLUGGED], CANNOT_OPEN)
    keeper = keeper_of(opener, notifier=notifier)
    assert keeper.state is CameraState.OK and keeper.lost_for(10.0) is None
    keeper.read(10.0)
    keeper.read(11.0)
    status = keeper.status()
    assert (status.state, status.problem) == (CameraState.LOST, "webcam:0: unplugged")
    assert keeper.lost_for(41.0) == 30.0
    assert opener.sources[0].closed  # on the pool, before the reopen
    assert notifier.statuses[-1] == "camera lost: webcam:0: unplugged"


@pytest.mark.parametrize("settings_source, stops_start_up", [
    ("webcam:3", False), ("/dev/v4l/by-id/usb-Fake_Camera_0001-video-index0", False),
    ("runs/no-such-replay", True),
])
def test_a_source_that_cannot_open_at_start_is_missing_unless_it_is_a_replay(
        settings_source, stops_start_up):
    opener = Opener(CameraError(f"{settings_source}: cannot open"))
    keeper = CameraKeeper(opener, name=settings_source, settings_source=settings_source,
                          notifier=FakeNotifier(), opener_pool=InlineExecutor())
    if stops_start_up:
        with pytest.raises(CameraError, match="cannot open"):
            keeper.start(lambda: 0.0)
    else:
        keeper.start(lambda: 0.0)
        assert keeper.status().state is CameraState.MISSING


def test_a_ready_made_source_is_read_again_not_reopened_or_closed():
    source = ScriptedSource([FACE, UNPLUGGED, FACE])
    keeper = keeper_of(source)
    assert keeper.read(10.0) is FACE
    assert keeper.read(11.0) is None and keeper.state is CameraState.LOST
    assert not source.closed  # it could not be opened again
    assert keeper.read(11.5) is None and keeper.state is CameraState.LOST  # not yet
    assert keeper.read(12.0) is None and keeper.state is CameraState.OK  # the same object
    assert keeper.read(12.1) is FACE


def drop_and_come_back(keeper: CameraKeeper, at: float) -> None:
    """The camera's read fails at `at`; a second later it is reopened and gives a frame."""
    keeper.read(at)
    assert keeper.state is CameraState.LOST
    read_until(keeper, at + 1, state=CameraState.OK)
    assert keeper.read(at + 1) is FACE


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "device.camera_keeper" and r.levelno >= logging.WARNING]


def test_a_camera_that_keeps_dropping_is_told_with_how_often(caplog):
    """A loose cable: lost, back a second later, lost again ... Losses within five minutes
    of the first one's line were DEBUG only: the journal showed one loss, then silence."""
    drops = [10.0 + 30 * n for n in range(7)]  # 10 ... 190 s
    keeper = keeper_of(Opener(*[[FACE, UNPLUGGED]] * len(drops), [FACE]))
    with caplog.at_level(logging.DEBUG, logger="device.camera_keeper"):
        assert keeper.read(0.0) is FACE
        for at in drops:
            drop_and_come_back(keeper, at)
        assert keeper.read(drops[0] + REPEAT_LOG_S - 1) is FACE  # within five minutes: no line
        assert len(warnings_of(caplog)) == 1
        assert keeper.read(drops[0] + REPEAT_LOG_S) is FACE
    lines = warnings_of(caplog)
    assert lines[0].startswith("camera lost (webcam:0: unplugged); reopening it in 1 s"), lines
    assert lines[1:] == [f"the camera scripted was lost again {len(drops) - 1} times in the "
                         f"last 5 min and came back; {COMES_AND_GOES_ADVICE}"], lines


@pytest.mark.parametrize("then", ["lost again", "still lost"])
def test_the_next_line_about_a_loss_says_how_often_it_was_lost_since_the_last(caplog, then):
    """Dropped at 10 s (logged), at 40 and 70 s (not: within five minutes of it); then lost
    once more at 310 s, or at 100 s and still not reopened at 310 s: three losses untold."""
    caplog.set_level(logging.WARNING, logger="device.camera_keeper")
    reopened = [FACE, UNPLUGGED] if then == "lost again" else CANNOT_OPEN
    keeper = keeper_of(Opener(*[[FACE, UNPLUGGED]] * 4, reopened))
    assert keeper.read(0.0) is FACE
    for at in (10.0, 40.0, 70.0):
        drop_and_come_back(keeper, at)
    now = 310.0 if then == "lost again" else 100.0
    while len(warnings_of(caplog)) < 2 and now < 400.0:  # each reopen fails, from 100 s
        keeper.read(now)  # lost, or a reopen starts
        keeper.read(now)  # the reopen fails
        now = keeper.status().retry_at
    lines = warnings_of(caplog)
    assert len(lines) == 2, lines
    expected = ("camera lost (webcam:0: unplugged), lost 3 times in the last 5 min; reopening it "
                "in 1 s" if then == "lost again" else "the camera is still lost after ")
    assert lines[1].startswith(expected), lines
    assert "lost 3 times in the last 5 min" in lines[1] and COMES_AND_GOES_ADVICE in lines[1]


def test_corrupt_frames_are_skipped_and_counted():
    keeper = keeper_of(ScriptedSource([FACE, frame_of(7, size=(4, 4)), frame_of(7, size=(4, 4)),
                                       FACE]))
    assert [keeper.read(t) is FACE for t in (1.0, 2.0, 3.0, 4.0)] == [True, False, False, True]
    assert keeper.status().bad_frames == 2 and keeper.state is CameraState.OK


class HungReopen:
    """A camera lost at 11 s whose reopen, started at 12 s on a real pool thread, hangs in
    the driver until `let_go` is set."""

    def __init__(self):
        self.opening, self.let_go = threading.Event(), threading.Event()
        self.opener = Opener([FACE, UNPLUGGED], [FACE])
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.keeper = CameraKeeper(self._open, name="camera", settings_source="auto",
                                   notifier=FakeNotifier(), opener_pool=self.pool)
        self.keeper.start(lambda: 0.0)
        self.keeper.read(10.0)
        self.keeper.read(11.0)  # lost
        assert self.keeper.reopening_for(12.0) == 0.0  # none under way yet
        self.keeper.read(12.0)  # the reopen starts
        assert self.opening.wait(timeout=10)

    def _open(self):
        if self.opener.calls:
            self.opening.set()
            assert self.let_go.wait(timeout=30)
        return self.opener()

    def finish(self) -> None:
        self.let_go.set()
        self.pool.shutdown(wait=True)


def test_a_reopen_under_way_is_timed_for_the_watchdog():
    hung = HungReopen()
    try:
        hung.keeper.read(70.0)
        assert hung.keeper.reopening_for(70.0) == 58.0
    finally:
        hung.finish()
        hung.keeper.close()


def test_a_reopen_that_finishes_after_close_closes_what_it_opened():
    hung = HungReopen()
    hung.keeper.close()  # the booth stops meanwhile
    hung.finish()  # then the driver lets go
    assert len(hung.opener.sources) == 2 and hung.opener.sources[1].closed
