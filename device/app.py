"""The booth loop: wires camera, analyser, memojis, screen, button and web page together.

One thread (the caller of ``run``) owns the screen and does, per frame:
read the newest frame, find and classify the face, smooth the scores, pick a
scene, show it, ping the systemd watchdog, handle events. Everything that
arrives from elsewhere (GPIO button, keyboard, web page, the saver) enters
through one queue. Slow work never runs here: the seven memojis render on the
AvatarCache's worker, saving (full-size render + atomic write) on a saver
thread, closing and reopening a lost camera on the CameraKeeper's pool, and the
LAN address for the on-screen URL (DNS may be slow) on netinfo's, and the Pi's
health (supply voltage, heat, free space) on health's; their results come back
as events or are picked up on the next frame.

A camera that is missing or lost (a named one included), a missing model and a
full disk are shown on screen and never end the process; only a file or folder
to replay that cannot be read at start-up stops it (the command line reports it).
"""

from __future__ import annotations

import collections
import logging
import math
import queue
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from device import display as screens
from device.avatar import AvatarCache, MemojiStore, prepare_renderer, render_png
from device.button import CaptureButton
from device.camera_keeper import CameraKeeper, CameraState
from device.capture import open_source
from device.gallery import SAVED_PX, Gallery, LookStore, StorageFullError
from device.health import HealthMonitor, PiSensors
from device.infer import ExpressionSmoother, ModelMissingError
from device.netinfo import LanAddress, is_wildcard, web_url
from device.pipeline import Analyser
from device.recurring import RecurringFault
from device.sdnotify import Notifier
from device.storage import (
    CARD_ADVICE,
    FULL_CARD_ADVICE,
    DataFolderError,
    card_fault_where,
    ensure_writable_folder,
    is_card_fault,
    remove_stale_temp_files,
)

log = logging.getLogger(__name__)

__all__ = ["Booth", "Event"]

SAVED_SCENE_S = 4.0  # how long the "saved" screen with its QR code stays up
ERROR_BANNER_S = 5.0  # storage full and other passing errors
FACE_HOLD_S = 0.5  # keep the live scene through a few frames without a detection
CAPTURE_FACE_MAX_AGE_S = 2.0  # a capture saves only an expression seen this recently
FRAME_FRESH_S = 5.0  # watchdog pings stop when no frame arrived for this long
REOPEN_STUCK_S = 60.0  # a reopen hanging this long stops the pings too (systemd restarts us)
LOST_RESTART_S = 300.0  # lost this long, every reopen failing: pings stop, systemd restarts us
LOOK_POLL_S = 1.0  # a standalone `memoji-booth web` may change the look file
URL_REFRESH_S = 30.0  # the LAN address may change (DHCP)
WEB_RETRY_S = 30.0  # the page could not start (port taken, address not up yet): try again this often
FPS_WINDOW_S = 2.0
# The signals that stop the booth, each with why it stopped in the journal's words.
_STOPPED_BY = {getattr(signal, name): words for name, words in (
    ("SIGTERM", "asked to by the system (SIGTERM: systemctl stop or restart, or a shutdown)"),
    ("SIGHUP", "its terminal closed (SIGHUP)"),
) if hasattr(signal, name)}  # Windows has no SIGHUP
STOP_SIGNALS = tuple(_STOPPED_BY)
IDLE_SLEEP_S = 0.005  # no new frame: wait this long before looking again
IDLE_REDRAW_TICKS = 20  # ... and redraw at least every this many idle ticks (~10 Hz)
MAX_AVATAR_PX = 640  # on-screen memojis are rendered no bigger (look change <= 1 s)
MEMOJI_STORE = ".cache/memojis"  # in the data folder: the current look's memojis, drawn


class Event(StrEnum):
    """What enters the loop's queue (display.CAPTURE / display.QUIT are the same strings)."""

    CAPTURE = screens.CAPTURE
    QUIT = screens.QUIT
    LOOK_CHANGED = "look_changed"
    SAVED = "saved"
    SAVE_FAILED = "save_failed"


@dataclass
class _Banner:
    """A scene that overrides the live view until ``until`` (saved, storage full)."""

    scene: Any
    until: float


def _configured_camera(camera: Any) -> Callable[[], Any]:
    """How to open (and reopen) the camera the settings name."""
    return lambda: open_source(camera.source, width=camera.width, height=camera.height,
                               detect_size=(camera.detect_width, camera.detect_height),
                               fps=camera.fps)


def _check_web_key(data_dir: Path) -> None:
    """The web page's login key must be readable: one left unreadable (say, made by a
    `sudo memoji-booth web`) otherwise costs the page, logged as if the port were taken."""
    from device.webui.security import load_or_create_secret_key

    try:
        load_or_create_secret_key(data_dir)
    except OSError as error:
        raise DataFolderError(
            f"cannot use the data folder {data_dir}: {error.strerror or error} "
            f"({error.filename or data_dir / 'secret_key'}); this user must be able to read "
            "and write it (or delete the file: operators then log in again)") from error


class Booth:
    """The kiosk. ``run()`` on the main thread; ``status``, ``request_capture`` and
    ``apply_look`` are safe to call from any thread (the web page's)."""

    def __init__(
        self,
        config: Any,
        *,
        source: Any = None,
        display: Any = None,
        button: Any = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
        analyser: Any = None,
        avatars: Any = None,
        notifier: Any = None,
        profiler: Any = None,
        health: Any = None,
    ) -> None:
        """``source``: None (open ``config.camera.source``), an open FrameSource, or a
        zero-argument callable that opens one (called again to reopen it).
        ``display``: a Display (default: from ``config.display``). ``button``: None
        (from ``config.button``), False (none), or a CaptureButton whose ``on_press``
        is rebound to this booth. ``analyser``/``avatars``/``notifier`` replace the
        real ones (tests, bench); ``profiler.record(stage, seconds)`` gets stage times;
        ``health`` a HealthMonitor (default: this Pi's sensors and the data folder).
        ``clock``/``sleep`` are the monotonic clock and the idle wait (tests fake both).
        """
        self.config = config
        self._clock = clock
        self._sleep = sleep
        self._events: queue.Queue[tuple[Event, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._profiler = profiler
        self._stop_requested = 0  # the signal (SIGTERM, SIGHUP) that asked the loop to stop

        data_dir = Path(config.storage.data_dir).expanduser()
        # Before a guest's memoji, the look or the web page's login key is lost to it.
        ensure_writable_folder(data_dir)
        ensure_writable_folder(data_dir / "gallery")
        remove_stale_temp_files(data_dir)  # the gallery tidies its own folder
        if config.web.enabled:
            _check_web_key(data_dir)
        self.gallery = Gallery(data_dir / "gallery", keep=config.storage.keep)
        self.look_store = LookStore(data_dir / "look.json")
        self.health = health if health is not None else HealthMonitor(PiSensors(data_dir))

        self.model_error: str | None = None
        self.analyser = analyser if analyser is not None else self._build_analyser(config)
        self._smoother = ExpressionSmoother(config.model.smoothing_s)

        self.display = display if display is not None else screens.Display(
            config.display.mode, (config.display.window_width, config.display.window_height),
            rotate=config.display.rotate)

        if avatars is None:
            size = min(int(getattr(self.display, "avatar_px", 512)), MAX_AVATAR_PX)
            avatars = AvatarCache(size, store=MemojiStore(data_dir / MEMOJI_STORE))
        self.avatars = avatars
        self._look = self.look_store.load()
        self._look_mtime = self.look_store.mtime()
        self._look_checked = -math.inf
        self.avatars.set_look(self._look)

        if notifier is None:
            notifier = Notifier.from_env()
        self.notifier = notifier
        interval = getattr(notifier, "watchdog_s", None)
        self._watchdog_every = min(1.0, interval / 2) if interval else 1.0

        self._camera = CameraKeeper(
            _configured_camera(config.camera) if source is None else source,
            name=str(config.camera.source) if source is None else getattr(source, "name", "camera"),
            settings_source=config.camera.source, notifier=notifier)

        # live state (written on the loop thread, read by status() under the lock)
        self._expression: Any = None  # smoothed infer.Expression
        self._face_box: tuple[int, int, int, int] | None = None
        self._face_seen = -math.inf
        self._active_at = clock()  # a guest was last here (face, capture, look change): sleep after
        self._last_frame: Any = None
        self._last_frame_at: float | None = None
        self._frame_times: collections.deque[float] = collections.deque()
        self._frames = 0
        self._analyse_failures = RecurringFault()
        self._scene_name = "starting"

        # capture
        self._countdown_end: float | None = None
        self._saving = False
        self._saving_label = "neutral"
        self._saving_memoji: tuple[Any, int] = (None, 0)  # its picture, in the look saved
        self._banner: _Banner | None = None
        self._saver = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memoji-save")
        self._save_failures = RecurringFault()

        self._web = None
        self._web_retry_at: float | None = None  # set while a failed page start waits to be retried
        self._lan: LanAddress | None = None  # started on first use, when web.host is a wildcard
        self._ready_sent = False  # READY=1 reached systemd (or there is none to tell)
        self._started = False  # the first frame is shown
        self._last_ping = -math.inf
        self._restart_asked = False  # logged once a loss: the watchdog is left to restart us
        self._idle_ticks = 0
        self._quit = False
        self.button = self._build_button(config, button)  # last: a press may come at once

    # ------------------------------------------------------------ building parts

    def _build_analyser(self, config: Any) -> Any:
        """The face detector + expression model; a missing model is shown, not fatal."""
        try:
            return Analyser.from_config(config)
        except ModelMissingError as error:  # faces.py raises the same class
            self.model_error = str(error)
            log.error("%s", error)
            return None

    def _build_button(self, config: Any, button: Any) -> Any:
        if button is False:
            return None
        if button is not None:
            button.on_press = self.request_capture
            return button
        if not config.button.enabled:
            return None
        return CaptureButton(config.button.pin, on_press=self.request_capture,
                             led_pin=config.button.led_pin or None,
                             bounce_s=config.button.bounce_s)

    # ------------------------------------------------------------ thread-safe API

    def request_capture(self) -> bool:
        """Start the countdown (GPIO thread, web thread, keyboard); returns at once.

        False when it cannot start now: a countdown or a save is under way, or
        there is no expression model.
        """
        if self._countdown_end is not None or self._saving:
            return False
        self._events.put((Event.CAPTURE, None))  # without a model it only wakes the screen
        return self.analyser is not None

    def apply_look(self, look: Any) -> None:
        """Use this look from now on (the web page saved it already); returns at once."""
        self._events.put((Event.LOOK_CHANGED, look))

    def stop(self) -> None:
        """Ask the loop to finish (from any thread)."""
        self._events.put((Event.QUIT, None))

    def status(self) -> dict[str, Any]:
        """A snapshot of the live state for the web page (plain values only)."""
        camera = self._camera.status()
        health = self.health.status()
        with self._lock:
            expression = self._expression
            face = self._face_box
            return {
                "state": self._scene_name,
                "expression": expression.label if expression is not None else None,
                "score": float(expression.score) if expression is not None else None,
                "scores": dict(expression.scores) if expression is not None else {},
                "face": list(face) if face is not None else None,
                "fps": round(self._fps(), 1),
                "camera": camera.name,
                "camera_state": str(camera.state),
                "camera_problem": camera.problem,
                "frames": self._frames,
                "frames_dropped": camera.dropped,
                "bad_frames": camera.bad_frames,
                "model_error": self.model_error,
                "saving": self._saving,
                "health": health,
            }

    # ------------------------------------------------------------ the loop

    def run(self, frames: int | None = None) -> int:
        """Run until quit, SIGTERM, SIGHUP or Ctrl+C, or for ``frames`` shown frames; returns 0.

        Raises CameraError when a file or folder to replay cannot be read at start; a
        camera that cannot be opened is shown on the screen and looked for again.
        """
        restore = self._install_stop_signals()
        why = "because of the error below"  # raised on, to the command line
        try:
            self._start_web()  # first: a Pi camera takes seconds to open, phones need not wait
            self._camera.start(self._clock)
            self.health.start()  # its own thread: a read may block on a failing card
            shown = 0
            while not self._quit and not self._stop_requested:
                if frames is not None and shown >= frames:
                    break
                shown += self.step()
            why = f"after {shown} frames" if not self._quit else "asked to quit"
        except KeyboardInterrupt:
            why = "interrupted (Ctrl+C)"
        finally:
            if self._stop_requested:
                why = _STOPPED_BY.get(self._stop_requested, signal.Signals(self._stop_requested).name)
            log.info("stopping: %s", why)
            self._shutdown()
            log.info("stopped")
            restore()
        return 0

    def step(self) -> int:
        """One pass of the loop; returns 1 when a frame was shown, else 0."""
        now = self._clock()
        self._handle_events(now)
        self._poll_look(now)
        if self._web_retry_at is not None and now >= self._web_retry_at:
            self._start_web()
        timer = time.perf_counter()
        frame = self._camera.read(now)
        if frame is not None:
            self._record("read", time.perf_counter() - timer)
            self._analyse(frame, now)
        self._finish_countdown(now)
        if frame is None and self._idle_ticks < IDLE_REDRAW_TICKS:
            self._idle_ticks += 1
            self._sleep(IDLE_SLEEP_S)
            return 0
        self._idle_ticks = 0
        timer = time.perf_counter()
        scene = self._pick_scene(now)
        self.display.draw(scene)
        rendered = time.perf_counter()
        self.display.present()
        # bench's stage names: drawing the scene is its "render", presenting it its "draw"
        self._record("render", rendered - timer)
        self._record("draw", time.perf_counter() - rendered)
        if not self._ready_sent:
            # Until it reaches systemd, or systemd stops the unit (TimeoutStartSec) and starts
            # it again: a send that failed (its queue full for a moment) goes again next frame.
            self._ready_sent = self.notifier.ready() or not getattr(self.notifier, "enabled", False)
        if not self._started:
            self._started = True
            # button.led_pin: lit while the booth is ready for a press (never without a model)
            self._led(self.analyser is not None)
            self._saver.submit(prepare_renderer)  # now, not in the first capture's save
        self._ping_watchdog(now)
        return 1

    def _record(self, stage: str, seconds: float) -> None:
        if self._profiler is not None:
            self._profiler.record(stage, seconds)

    # ------------------------------------------------------------ events

    def _handle_events(self, now: float) -> None:
        for name in self.display.poll_events():
            self._events.put((Event(name), None))
        while True:
            try:
                kind, payload = self._events.get_nowait()
            except queue.Empty:
                return
            if kind in (Event.CAPTURE, Event.LOOK_CHANGED):
                self._active_at = now  # someone is here: wake the screen
            if kind is Event.QUIT:
                self._quit = True
            elif kind is Event.CAPTURE:
                self._start_countdown(now)
            elif kind is Event.LOOK_CHANGED:
                self._set_look(payload)
            elif kind is Event.SAVED:
                self._on_saved(payload, now)
            elif kind is Event.SAVE_FAILED:
                self._on_save_failed(payload, now)

    def _set_look(self, look: Any) -> None:
        if look is None or look == self._look:
            return
        self._look = look
        self.avatars.set_look(look)  # re-rendered on the cache's worker thread
        log.info("the look was changed on the web page: the memojis are drawn in it now")

    def _poll_look(self, now: float) -> None:
        """Pick up a look saved by another process (`memoji-booth web`)."""
        if now - self._look_checked < LOOK_POLL_S:
            return
        self._look_checked = now
        mtime = self.look_store.mtime()
        if mtime != self._look_mtime:
            self._active_at = now  # someone chose a look on a phone: wake the screen
            self._look_mtime = mtime
            self._set_look(self.look_store.load())

    # ------------------------------------------------------------ analysis

    def _analyse(self, frame: Any, now: float) -> None:
        results = []
        if self.analyser is not None:
            try:
                if frame.detect is not None:
                    results = self.analyser.analyse(frame.image, frame.detect)
                else:
                    results = self.analyser.analyse(frame.image)
            except Exception:
                if self._analyse_failures.failed(now):
                    log.exception("analysing a frame failed (%d so far); skipping it",
                                  self._analyse_failures.total)
            else:
                if ended := self._analyse_failures.ended():
                    log.info("frames are analysed again after %d failures", ended)
        with self._lock:
            self._last_frame = frame
            self._last_frame_at = now
            self._frames += 1
            self._frame_times.append(now)
            while self._frame_times and now - self._frame_times[0] > FPS_WINDOW_S:
                self._frame_times.popleft()
            if results and results[0].expression is not None:
                self._expression = self._smoother.update(results[0].expression, now)
                self._face_box = tuple(int(v) for v in results[0].face.box)
                self._face_seen = self._active_at = now
            elif now - self._face_seen > FACE_HOLD_S:
                self._face_box = None

    def _fps(self) -> float:
        """Analysed frames per second over the last FPS_WINDOW_S (caller holds the lock)."""
        times = self._frame_times
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    # ------------------------------------------------------------ capture

    def _start_countdown(self, now: float) -> None:
        if self._countdown_end is not None or self._saving:
            log.debug("capture ignored: one is already under way")
            return
        if self.analyser is None:
            log.debug("capture ignored: no expression model")
            return
        self._countdown_end = now + float(self.config.booth.countdown_s)
        self._banner = None  # a press during "Saved!" or "No face" must show its own countdown
        if self.button is not None:
            self.button.blink()
        log.debug("capture: countdown %ss", self.config.booth.countdown_s)

    def _finish_countdown(self, now: float) -> None:
        if self._countdown_end is None or now < self._countdown_end:
            return
        # saving before the countdown ends: request_capture, on another thread, must never
        # find neither under way and answer True to a press that the save then swallows
        self._saving = True
        self._countdown_end = None
        self._led(False)  # busy saving
        expression = self._expression
        if expression is None or now - self._face_seen > CAPTURE_FACE_MAX_AGE_S:
            self._saving = False
            self._led(True)
            self._banner = _Banner(screens.ErrorScene(
                "No face to save", "Stand in front of the camera and try again.",
                self._web_url()), now + ERROR_BANNER_S)
            log.info("a capture saved nothing: no face was in front of the camera")
            return
        look = self.avatars.look or self._look
        # as the countdown showed it, in the look saved: not one chosen on a phone meanwhile
        self._saving_memoji = self._memoji(expression.label)
        photo = None
        if self.config.booth.save_photo and self._last_frame is not None:
            photo = self._last_frame.image.copy()  # the source may reuse its buffer
        self._saving_label = expression.label  # what is saved, shown until "Saved!"
        self._saver.submit(self._save, look, expression.label, float(expression.score), photo)

    def _save(self, look: Any, expression: str, score: float, photo: Any) -> None:
        """On the saver thread: render at full size, save atomically, report back."""
        try:
            png = render_png(look, expression, size=SAVED_PX)
            entry = self.gallery.save(png, expression=expression, score=score,
                                      look=look.to_dict(), photo=photo)
        except Exception as error:  # reported on screen by the loop; never lost silently
            if self._save_failures.failed(self._clock()):
                self._log_save_failure(error)
            self._events.put((Event.SAVE_FAILED, error))
            return
        if ended := self._save_failures.ended():
            log.info("memojis are saved again, after %d that could not be", ended)
        log.info("saved %s (%s %.2f)", entry.name, expression, score)
        self._events.put((Event.SAVED, entry))
        if self.config.web.enabled:
            self._draw_thumbnail(entry.name)

    def _log_save_failure(self, error: Exception) -> None:
        """A card fault is the operator's to fix: what happened and what to do, in one line.
        Anything else is a bug, with its traceback. Every guest's capture fails alike, so
        this comes when it starts and then every few minutes, with the count."""
        failed = self._save_failures.in_a_row
        what = "a memoji could not be saved" if failed == 1 else (
            f"memojis still cannot be saved ({failed} so far)")
        if isinstance(error, StorageFullError):
            folder, _ = card_fault_where(error, self.gallery.folder)
            log.error("%s: the memory card is full (%s). %s", what, folder, FULL_CARD_ADVICE)
        elif is_card_fault(error):
            log.error("%s: %s cannot be used (%s). %s", what,
                      *card_fault_where(error, self.gallery.folder), CARD_ADVICE)
        else:
            log.error("%s: %s", what, error, exc_info=error)

    def _draw_thumbnail(self, name: str) -> None:
        """On the saver thread, after "Saved!": the gallery's thumbnail, drawn now so that a
        phone opening the gallery does not wait for it. Only a cache: if it fails, the page
        draws it when asked."""
        try:
            self.gallery.thumb_of(name)
        except Exception as error:
            log.warning("no thumbnail drawn for %s yet: %s", name, error)

    def _on_saved(self, entry: Any, now: float) -> None:
        self._saving = False
        self._led(True)  # ready for the next press
        url = self._web_url(f"/gallery/{entry.name}") if self.config.web.enabled else ""
        scene = screens.SavedScene(url, entry.expression, *self._saving_memoji)
        self._saving_memoji = (None, 0)  # the banner has it now
        self._banner = _Banner(scene, now + SAVED_SCENE_S)

    def _on_save_failed(self, error: Exception, now: float) -> None:
        """What the guest reads: a card fault as one (the operator can mend it); a bug only
        as a failure, since its words mean nothing to a guest and the journal has them."""
        self._saving, self._saving_memoji = False, (None, 0)
        self._led(True)
        if isinstance(error, StorageFullError):
            title = "Storage full"
            detail = ("This memoji could not be saved: the memory card is full. "
                      "Delete some on the web page or lower storage.keep.")
        elif is_card_fault(error):  # as the journal decides (_log_save_failure)
            # Not "[Errno 30] ...: '<folder>/.memoji-...tmp'": the journal names the folder.
            title = "Could not save"
            detail = (f"This memoji was not saved: the memory card cannot be written "
                      f"({error.strerror}). Tell the operator.")
        else:  # a bug: not the card's fault, and its words are no guest's
            title = "Could not save"
            detail = "This memoji was not saved. Tell the operator: the booth's log says why."
        self._banner = _Banner(screens.ErrorScene(title, detail, self._web_url()),
                               now + ERROR_BANNER_S)

    # ------------------------------------------------------------ scenes

    def _pick_scene(self, now: float) -> Any:
        scene, name = self._choose_scene(now)
        with self._lock:
            self._scene_name = name
        return scene

    def _choose_scene(self, now: float) -> tuple[Any, str]:
        url = self._web_url()
        if self._banner is not None:
            if now < self._banner.until:
                kind = "saved" if isinstance(self._banner.scene, screens.SavedScene) else "error"
                return self._banner.scene, kind
            self._banner = None
        face_fresh = self._expression is not None and now - self._face_seen <= FACE_HOLD_S
        if self._countdown_end is not None:
            label = self._expression.label if face_fresh else "neutral"
            return screens.CountdownScene(math.ceil(self._countdown_end - now), label,
                                          *self._memoji(label)), "countdown"
        if self._saving:
            return screens.SavingScene(self._saving_label, *self._saving_memoji), "saving"
        sleep_after_s = 60 * self.config.display.sleep_after_min
        asleep = bool(sleep_after_s) and now - self._active_at > sleep_after_s and not face_fresh
        problem = self._problem_scene(now, url)
        if problem is not None:
            # a still screen all night is what sleep spares the panel: say what is wrong, small
            scene = problem[0]
            note = scene.message if isinstance(scene, screens.IdleScene) else scene.title
            return (screens.SleepScene(now, note), "asleep") if asleep else problem
        preview = self._last_frame.image if self._last_frame is not None else None
        if face_fresh:
            expression = self._expression
            return screens.LiveScene(
                expression.label, float(expression.score), expression.scores,
                *self._memoji(expression.label), preview=preview, face_box=self._face_box,
                hint=self._capture_hint(url), web_url=url), "live"
        if asleep:
            return screens.SleepScene(now), "asleep"
        return screens.NoFaceScene(*self._memoji("neutral"), preview=preview,
                                   web_url=url), "no_face"

    def _problem_scene(self, now: float, url: str) -> tuple[Any, str] | None:
        """What stops the live view (no model, no camera, a lost one), or None."""
        if self.model_error:
            return screens.ErrorScene("Model missing", self.model_error, url), "error"
        if not self._camera.down:
            return None  # every frame comes here: no snapshot while the camera works
        camera = self._camera.status()  # as it was just now: only this thread changes it
        if camera.state is CameraState.MISSING:
            return screens.IdleScene(
                url, "No camera found",
                f"{camera.problem}. Plug one in: the booth looks again every few seconds. "
                "Meanwhile, the web page turns an uploaded photo into a memoji."), "idle"
        wait = max(0, math.ceil(camera.retry_at - now))
        retry = f"Reconnecting in {wait}\u00a0s." if wait else "Reconnecting..."
        return screens.ErrorScene("Camera lost", f"{camera.problem}. {retry}", url), "error"

    def _capture_hint(self, url: str) -> str:
        """How a guest saves the memoji here: the button or a tap, else the page's capture
        button (not when it needs the operator's PIN)."""
        ways = []
        if self.button is not None and getattr(self.button, "enabled", True):  # a pin backs it
            ways.append("press the button")
        if getattr(self.display, "touchscreen", False):
            ways.append("tap the screen")
        if ways:
            return f"{' or '.join(ways).capitalize()} to save your memoji"
        if url and not self.config.web.pin:
            return "Save your memoji from the booth's page on your phone"
        return ""

    def _led(self, on: bool) -> None:
        """The button's LED (button.led_pin): on while a press would start a capture."""
        if self.button is None:
            return
        if on:
            self.button.led_on()
        else:
            self.button.led_off()

    def _memoji(self, expression: str) -> tuple[Any, int]:
        version = self.avatars.version  # read first: a newer image under an old key is re-made
        return self.avatars.get(expression), version

    def _web_url(self, path: str = "") -> str:
        """The page's URL for the screen, "" while unknown. Never looks anything up
        here: finding the LAN address may wait on DNS, so a LanAddress thread does it."""
        if not self.config.web.enabled or self._web is None:
            return ""  # never advertise a page that is not being served
        if self.config.web.public_url:
            return self.config.web.public_url.rstrip("/") + path
        host = self.config.web.host
        if is_wildcard(host):
            if self._lan is None:
                self._lan = LanAddress(URL_REFRESH_S)
            host = self._lan.current
            if not host:
                return ""
        return web_url(self.config.web.port, path, host=host)

    # ------------------------------------------------------------ watchdog, web, signals

    def _ping_watchdog(self, now: float) -> None:
        """WATCHDOG=1 only while frames really arrive, or while a camera problem is
        being handled. A camera lost for LOST_RESTART_S is beyond what this process
        can mend (a hung driver may still hold it): the pings stop and systemd
        restarts the booth, which then finds the camera or shows that none is there."""
        if now - self._last_ping < self._watchdog_every:
            return
        fresh = self._last_frame_at is not None and now - self._last_frame_at < FRAME_FRESH_S
        reopen_stuck = self._camera.reopening_for(now) > REOPEN_STUCK_S
        lost_for = self._camera.lost_for(now)
        lost_too_long = lost_for is not None and lost_for > LOST_RESTART_S
        handling = self._camera.down and not reopen_stuck and not lost_too_long
        if fresh:
            self._restart_asked = False  # back before systemd restarted us: tell the next loss too
        if fresh or handling:
            self._last_ping = now
            self.notifier.watchdog()
        elif lost_too_long and not self._restart_asked and getattr(self.notifier, "watchdog_s", None):
            self._restart_asked = True
            log.error("the camera has been lost for %.0f s; leaving it to systemd's watchdog "
                      "to restart the booth", lost_for)

    def _start_web(self) -> None:
        """Serve the LAN page on a thread; if it cannot start, the kiosk runs without it
        (and shows no address) and tries again every WEB_RETRY_S."""
        if not self.config.web.enabled:
            return
        first_try = self._web_retry_at is None
        try:
            from device.webui import create_app, listen_advice, start_in_thread

            app = create_app(self.config, booth=self)
            self._web = start_in_thread(app, self.config.web.host, self.config.web.port)
        except Exception as error:
            self._web = None
            self._web_retry_at = self._clock() + WEB_RETRY_S
            if first_try and isinstance(error, OSError) and error.filename:  # a file, not the port
                log.error("the web page cannot use %s (%s); the booth runs without it and "
                          "tries again every %.0f s", error.filename, error.strerror or error,
                          WEB_RETRY_S)
            elif first_try and isinstance(error, OSError):  # port taken, address not up yet
                log.error("the web page cannot serve on %s:%s (%s%s); the booth runs without it "
                          "and tries again every %.0f s", self.config.web.host,
                          self.config.web.port, error.strerror or error, listen_advice(error),
                          WEB_RETRY_S)
            elif first_try:
                log.exception("the web page could not start; the booth runs without it and "
                              "tries again every %.0f s", WEB_RETRY_S)
            else:
                log.debug("the web page still cannot start: %s", error)
            return
        self._web_retry_at = None
        # The LAN address phones use (what the screen shows), not the loopback one.
        url = self._web_url("/") or (
            f"port {self.config.web.port} of every address of this machine (its LAN address "
            "is not known yet)" if is_wildcard(self.config.web.host) else self._web.url)
        log.info("web page: %s", url)

    def _install_stop_signals(self) -> Callable[[], None]:
        """SIGTERM (systemctl stop) and SIGHUP (tty1, which the unit takes, hung up) end
        the loop cleanly, a memoji being saved included; only possible on the main thread.
        SIGHUP's default would kill the booth mid-save. A signal found ignored stays so, as
        Python leaves an ignored SIGINT: `nohup memoji-booth run` must outlive its terminal."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def on_signal(signum: int, frame: Any) -> None:
            self._stop_requested = signum  # a signal handler must not log (logging takes locks)

        previous = {number: signal.signal(number, on_signal) for number in STOP_SIGNALS
                    if signal.getsignal(number) is not signal.SIG_IGN}

        def restore() -> None:
            for number, handler in previous.items():
                signal.signal(number, handler)

        return restore

    def _shutdown(self) -> None:
        self.notifier.stopping()
        if self._web is not None:
            try:
                self._web.close()
            except Exception:
                log.warning("stopping the web page failed", exc_info=True)
        self._saver.shutdown(wait=True)  # a memoji being saved is finished, never cut
        while not self._events.empty():  # a last SAVED/SAVE_FAILED is just logged
            self._events.get_nowait()
        if self.button is not None:
            self._led(False)
            self.button.close()
        self._camera.close()
        self.health.close()
        if self._lan is not None:
            self._lan.close()
        self.avatars.close()
        self.display.close()
