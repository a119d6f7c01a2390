"""Keeps a camera open for the loop: opens it, notices it lost or missing, reopens it
with backoff, and says so once.

The loop calls ``read(now)`` once a pass and gets a sound frame or None; everything
a failing camera brings (no camera at start, a read that raises, corrupt frames, a
reopen that fails or hangs) is handled here and never reaches the loop as an
exception. Closing a lost camera and reopening it run on a one-worker pool, off the
display thread: a stuck driver can hold either for seconds. The clock is the
caller's (``now``), so tests drive it.

The journal gets a loss when it starts, a reminder now and then, and the camera's
return, not a line for every try; a camera that drops and comes back again and again (a
loose cable) is told every few minutes with how often. systemd's status line says what
the camera is doing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from device.capture import CameraError, NoCameraError, names_a_camera
from device.recurring import RecurringFault

log = logging.getLogger(__name__)

__all__ = ["LOST_BACKOFF_S", "NO_CAMERA_RETRY_S", "CameraKeeper", "CameraState", "CameraStatus"]

NO_CAMERA_RETRY_S = 5.0  # auto found no camera: look again this often
LOST_BACKOFF_S = (1.0, 30.0)  # camera lost: reopen after 1, 2, 4 ... at most 30 s
# A camera lost again and again, back each time, is a connection that comes and goes.
COMES_AND_GOES_ADVICE = "check its cable and its power (a loose ribbon cable, a weak USB port or power supply)"


class CameraState(StrEnum):
    STARTING = "starting"
    OK = "ok"
    MISSING = "missing"  # auto found no camera
    LOST = "lost"  # it worked, then failed: reopening with backoff


@dataclass(frozen=True)
class CameraStatus:
    """The camera as the screen and the web page show it (plain values)."""

    name: str
    state: CameraState
    problem: str  # why it is missing or lost, in words; "" while it works
    retry_at: float  # when it is looked for, or reopened, next (while missing or lost)
    dropped: int  # frames captured but never read (webcam)
    bad_frames: int  # corrupt frames skipped, ever


def _is_image(image: object) -> bool:
    """Whether a frame's image is one the loop can use (uint8 RGB, at least 8x8), not the
    corrupt or empty array a failing driver may hand out."""
    return (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
            and image.shape[2] == 3 and image.shape[0] >= 8 and image.shape[1] >= 8)


class CameraKeeper:
    """One camera for the loop's thread; ``status()`` is safe from any thread.

    ``source``: an open FrameSource (read again as it is after a failure: it cannot be
    reopened) or a zero-argument callable that opens one (called again to reopen it).
    ``name``: what to call it until it is open. ``settings_source``: the settings'
    ``camera.source``, which decides whether a camera that cannot be opened at start
    may come later (a camera) or stops start-up (a replay). ``notifier.status(text)``
    gets systemd's status line. ``opener_pool``: where closing and reopening run (one
    worker, so a close finishes before the reopen starts; tests pass one that runs them
    at once, at their fake time).
    """

    def __init__(self, source: Any, *, name: str, settings_source: str, notifier: Any,
                 opener_pool: Executor | None = None) -> None:
        self._given = source
        # None for a ready-made source that cannot be reopened
        self._opener: Callable[[], Any] | None = (
            source if callable(source) and not hasattr(source, "read") else None)
        self._settings_source = settings_source
        self._notifier = notifier
        self._lock = threading.Lock()
        self._source: Any = None
        self._name = name
        self._state = CameraState.STARTING
        self._problem = ""
        self._retry_at = 0.0
        self._backoff = LOST_BACKOFF_S[0]
        self._reopen: Future | None = None
        self._reopen_started = 0.0
        self._lost_since: float | None = None  # when frames stopped, while the camera is lost
        self._losses = RecurringFault()  # a loss and its failed reopens: lines at most every 5 min
        self._losses_untold = 0  # losses since the last line about them: a camera that comes and goes
        self._missing_since: float | None = None  # when it was first not found
        self._bad_frames = RecurringFault()
        self._opener_pool = opener_pool if opener_pool is not None else ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="camera-open")

    # ------------------------------------------------------------ what the loop calls

    def start(self, clock: Callable[[], float]) -> None:
        """Open the camera at start-up. Raises CameraError only for a file or folder to
        replay that cannot be read; a camera that cannot be opened is looked for again.
        ``clock`` is read after a failed try (which may take seconds) to time the next."""
        if self._opener is None:
            self._opened(self._given)
            return
        try:
            source = self._opener()
        except NoCameraError as error:  # auto found nothing: start anyway and keep looking
            self._missing(error, clock())
            return
        except CameraError as error:
            # A camera device named in the settings may be plugged in later (or be free
            # again after a restart): say so on the screen and keep looking, as for auto.
            # A file to replay that cannot be read will not mend: it stops start-up.
            if not names_a_camera(self._settings_source):
                raise
            self._missing(error, clock())
            return
        self._opened(source)

    def read(self, now: float) -> Any:
        """The newest frame, or None (none yet, no camera, lost, or a corrupt frame)."""
        if self._source is None:
            self._try_reopen(now)
            return None
        try:
            frame = self._source.read()
        except Exception as error:  # CameraLost, or a driver error: a lost camera, never a crash
            self._lost(error, now)
            return None
        if frame is None:
            return None
        if not _is_image(getattr(frame, "image", None)) or (
                getattr(frame, "detect", None) is not None and not _is_image(frame.detect)):
            if self._bad_frames.failed(now):
                log.warning("skipping a corrupt frame from %s (%d so far)", self._name,
                            self._bad_frames.total)
            return None
        if ended := self._bad_frames.ended():
            log.info("frames from %s are sound again after %d corrupt ones", self._name, ended)
        self._backoff = LOST_BACKOFF_S[0]  # frames flow again
        if self._lost_since is not None and self._losses.ended():
            log.info("the camera %s works again, after %.0f s without a picture",
                     self._name, now - self._lost_since)
        self._lost_since = None  # only a frame ends a loss: a camera that opens but stays
        if self._losses_untold:  # silent is still lost
            self._tell_how_often_lost(now)
        return frame

    @property
    def state(self) -> CameraState:
        return self._state

    @property
    def down(self) -> bool:
        """No camera to read: none found, or lost (the loop's thread changes it, no other)."""
        return self._state in (CameraState.MISSING, CameraState.LOST)

    def status(self) -> CameraStatus:
        """A snapshot, from any thread."""
        with self._lock:
            return CameraStatus(self._name, self._state, self._problem, self._retry_at,
                                int(getattr(self._source, "dropped", 0) or 0),
                                self._bad_frames.total)

    def lost_for(self, now: float) -> float | None:
        """Seconds since frames stopped, while the camera is lost (reopens that open a
        camera which stays silent included); None otherwise."""
        if self._state is not CameraState.LOST or self._lost_since is None:
            return None
        return now - self._lost_since

    def reopening_for(self, now: float) -> float:
        """Seconds the reopen under way has taken so far (a hung driver), 0 if none is."""
        return now - self._reopen_started if self._reopen is not None else 0.0

    def close(self) -> None:
        """Close the camera; a reopen under way closes what it brings once it finishes."""
        if self._reopen is not None and not self._reopen.cancel():
            # Already opening (or opened): the camera it brings is closed, not leaked.
            self._reopen.add_done_callback(self._close_reopened)
        self._opener_pool.shutdown(wait=False)
        if self._source is not None:
            try:
                self._source.close()
            except Exception:
                log.warning("closing the camera failed", exc_info=True)

    # ------------------------------------------------------------ opening, losing, reopening

    def _opened(self, source: Any) -> None:
        with self._lock:
            self._source = source
            self._name = getattr(source, "name", self._name)
            self._state = CameraState.OK
            self._problem = ""
        if self._lost_since is not None:  # only its first frame says it is back
            log.debug("reopened the lost camera %s", self._name)
        elif self._missing_since is not None:
            log.info("found the camera %s", self._name)
        else:
            log.info("using the camera %s", self._name)
        self._missing_since = None
        self._notifier.status(f"camera {self._name}")

    def _missing(self, error: Exception, now: float) -> None:
        # NoCameraError: the sources auto tried and why each failed (as many of each)
        tried = getattr(error, "tried", [])
        attempts = [f"{name} ({why})" if why else name
                    for name, why in zip(tried, getattr(error, "reasons", []), strict=True)]
        with self._lock:
            self._state = CameraState.MISSING
            self._problem = f"Tried {', '.join(attempts)}" if attempts else str(error)
        self._retry_at = now + NO_CAMERA_RETRY_S
        self._missing_since = now
        log.warning("%s; plug one in, or check camera.source: the booth looks again every %.0f s",
                    error, NO_CAMERA_RETRY_S)
        # auto names what it tried; a camera named in the settings is the one tried
        self._notifier.status(f"no camera (tried {', '.join(tried) or self._name})")

    def _lost(self, error: Exception, now: float) -> None:
        old, self._source = self._source, None
        if old is not None and self._opener is not None:
            # Off the display thread: a stuck driver can hold close() for seconds. The
            # one-worker opener pool finishes it before it starts the reopen.
            self._opener_pool.submit(self._close_lost, old)
        with self._lock:
            self._state = CameraState.LOST
            self._problem = str(error)
        new_loss = self._lost_since is None  # frames stopped now, not a failed reopen
        if new_loss:
            self._lost_since = now
            self._losses_untold += 1
        self._retry_at = now + self._backoff
        since_last_line = now - self._losses.logged_at
        # Each failed reopen comes back here: the journal gets the loss, a reminder now and
        # then, and the camera's return, not a line for every try. Losses within minutes of
        # a line are counted, and the next line says how many.
        if not self._losses.failed(now):
            log.debug("camera %s (%s); next try in %.0f s", "lost again" if new_loss
                      else "still lost", error, self._backoff)
        else:
            self._log_loss(error, now, new_loss, since_last_line)
        self._notifier.status(f"camera lost: {error}")
        self._backoff = min(self._backoff * 2, LOST_BACKOFF_S[1])

    def _log_loss(self, error: Exception, now: float, new_loss: bool,
                  since_last_line: float) -> None:
        """The line for a loss, or a reminder while it lasts; with how often the camera was
        lost since the last line, when that was more than this once."""
        count, self._losses_untold = self._losses_untold, 0
        if count > 1:
            how_often = f"lost {count} times in the last {since_last_line / 60:.0f} min"
            if new_loss:
                log.warning("camera lost (%s), %s; reopening it in %.0f s; %s", error,
                            how_often, self._backoff, COMES_AND_GOES_ADVICE)
            else:
                log.warning("the camera is still lost after %.0f s (%s), %s; %s",
                            now - self._lost_since, error, how_often, COMES_AND_GOES_ADVICE)
        elif new_loss:
            log.warning("camera lost (%s); reopening it in %.0f s, then every %.0f s at most; "
                        "if it does not come back, check its cable", error, self._backoff,
                        LOST_BACKOFF_S[1])
        else:
            log.warning("the camera is still lost after %.0f s (%s); check its cable",
                        now - self._lost_since, error)

    def _tell_how_often_lost(self, now: float) -> None:
        """Back again after losses no line told: once minutes have passed since the last
        line, say how many, so a camera that keeps dropping does not go unseen."""
        since_last_line = now - self._losses.logged_at
        if self._losses.remind(now):
            count, self._losses_untold = self._losses_untold, 0
            log.warning("the camera %s was lost again %s in the last %.0f min and came back; %s",
                        self._name, "once" if count == 1 else f"{count} times",
                        since_last_line / 60, COMES_AND_GOES_ADVICE)

    @staticmethod
    def _close_lost(source: Any) -> None:
        """On the opener pool: close a lost camera (bounded by the source's own timeout)."""
        try:
            source.close()
        except Exception:
            log.debug("closing the lost camera failed", exc_info=True)

    @classmethod
    def _close_reopened(cls, future: Future) -> None:
        """A reopen that finished after close(): close what it opened."""
        if not future.cancelled() and future.exception() is None:
            cls._close_lost(future.result())

    def _try_reopen(self, now: float) -> None:
        """Reopen off the display thread; the result is picked up on a later frame."""
        if self._reopen is None:
            if now < self._retry_at:
                return
            if self._opener is None:  # a ready-made source: the same object is read again
                self._opened(self._given)
                return
            self._reopen = self._opener_pool.submit(self._opener)
            self._reopen_started = now
            return
        if not self._reopen.done():
            return
        future, self._reopen = self._reopen, None
        try:
            source = future.result()
        except Exception as error:  # CameraError, OSError, cv2.error ...: never fatal, retried
            if self._state is CameraState.MISSING:
                self._retry_at = now + NO_CAMERA_RETRY_S
            else:
                self._lost(error, now)
            return
        self._opened(source)
