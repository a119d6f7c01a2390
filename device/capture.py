"""Frame sources: the Pi camera, a USB webcam, or a replay of images or a video.

Every source hands out `Frame`s whose images are RGB uint8: pixel order is
converted here, at the edge, and nowhere else (`_to_rgb`).

    with open_source("auto") as source:
        frame = source.read()   # None: no new frame yet
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from device.config import CAMERA_NAME, DEVICE_FOLDER

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
REPLAY_CACHE_FRAMES = 16  # a folder this small is decoded once and kept (~15 MB at 640x480)
WEBCAM_FIRST_FRAME_S = 3.0  # how long a webcam may take to deliver its first frame
WEBCAM_FAILED_READS = 10  # consecutive failed reads that mean the webcam is gone
WEBCAM_CLOSE_S = 2.0  # how long close() waits for the grabber to let go of the webcam
PICAMERA_FRAME_TIMEOUT_S = 2.0  # a Pi camera frame later than this means the camera hung
# The slowest frame picamera2's preview allows by default (12 fps), kept so that a dim room
# still gets long exposures; only the fastest is capped, by `camera.fps`.
PICAMERA_LONGEST_FRAME_US = 83333


class CameraError(RuntimeError):
    """A named source cannot be opened; the message names it and says why."""


class NoCameraError(CameraError):
    """`auto` found no camera. `tried` names each source tried, `reasons` says why each failed."""

    def __init__(self, tried: list[str], reasons: list[str]):
        self.tried = tried
        self.reasons = reasons
        details = ", ".join(f"{name} ({why})" for name, why in zip(tried, reasons, strict=True))
        super().__init__(f"No camera found: tried {details}")


class CameraLost(CameraError):
    """A source that was working failed mid-run (unplugged, driver error)."""


@dataclass(frozen=True)
class Frame:
    """One captured frame: the display image, an optional smaller detection image
    from the same sensor readout, and the monotonic time it was captured."""

    image: np.ndarray
    detect: np.ndarray | None
    t: float


def _to_rgb(array: np.ndarray, layout: str, width: int | None = None) -> np.ndarray:
    """The one place pixel order is converted: a source's native layout -> RGB uint8.

    layout: "BGR" (OpenCV, and libcamera's "RGB888", which is B, G, R in
    memory), "XBGR" (libcamera "XRGB8888": B, G, R, X in memory), "I420"
    (libcamera "YUV420": planar, rows possibly padded to a stride; `width`
    crops the padding), "GRAY" or "RGB".
    """
    if layout == "BGR":
        return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    if layout == "XBGR":
        return cv2.cvtColor(array, cv2.COLOR_BGRA2RGB)
    if layout == "I420":
        rgb = cv2.cvtColor(array, cv2.COLOR_YUV2RGB_I420)
        return np.ascontiguousarray(rgb[:, :width]) if width and rgb.shape[1] != width else rgb
    if layout == "GRAY":
        return cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    if layout == "RGB":
        return array
    raise ValueError(f"unknown pixel layout {layout!r}")


def fit_to_size(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Letterbox an image into size=(width, height): aspect ratio kept, black bars."""
    width, height = size
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    if (new_w, new_h) == (width, height):
        return resized
    out = np.zeros((height, width, 3), np.uint8)
    x, y = (width - new_w) // 2, (height - new_h) // 2
    out[y:y + new_h, x:x + new_w] = resized
    return out


class FrameSource:
    """A camera or replay. `read()` returns the newest Frame, or None if there is
    no new one yet; it raises CameraLost when the source has failed."""

    name: str = "source"
    dropped: int = 0  # frames the source captured that nobody read (webcam)

    def read(self, timeout: float = 0.0) -> Frame | None:
        """The newest frame. `timeout`: how long a webcam may wait for a new one;
        the Pi camera always waits for its next frame, a replay never waits."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the device; safe to call twice."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


# --- Raspberry Pi camera (picamera2) -----------------------------------------


LIBCAMERA_LOG_LEVELS = "LIBCAMERA_LOG_LEVELS"  # libcamera's Documentation/environment_variables.rst
LIBCAMERA_QUIET = "*:WARN"  # every category, warnings and worse


def _import_picamera2() -> Any:
    """The Picamera2 class, imported only when the Pi camera is asked for.

    picamera2 comes from apt (python3-picamera2), not pip: the venv must be
    made with --system-site-packages to see it. libcamera writes INFO lines of its own
    to stderr, the journal under systemd, at every start and camera configuration; it
    is held to warnings and errors unless the operator set LIBCAMERA_LOG_LEVELS or
    asked for -v.
    """
    if not log.isEnabledFor(logging.DEBUG):
        os.environ.setdefault(LIBCAMERA_LOG_LEVELS, LIBCAMERA_QUIET)  # read as libcamera starts
    from picamera2 import Picamera2

    return Picamera2


PICAMERA2_MINIMUM = "picamera2 0.3.17"  # the first whose wait(job, timeout) times out


def _wait_takes_timeout(camera: Any) -> bool:
    """Older picamera2 has wait(job) only: every read would fail with a TypeError."""
    try:
        return "timeout" in inspect.signature(camera.wait).parameters
    except (TypeError, ValueError):  # no signature to read (a C function): assume current
        return True


def _is_usb_camera(info: dict) -> bool:
    """A USB webcam in global_camera_info(), told apart the way picamera2 does it: by its Id."""
    return "/usb" in str(info.get("Id", ""))


def _with_reason(error: BaseException) -> str:
    """The error, with the one it was raised from. picamera2 turns every failure to open
    a camera into "Camera __init__ sequence did not complete.", raised while handling
    the reason (libcamera's "Failed to acquire camera: Device or resource busy")."""
    root, seen = error, {id(error)}
    while (inner := root.__cause__ or root.__context__) is not None and id(inner) not in seen:
        root = inner
        seen.add(id(root))
    return str(error) if root is error else f"{error} ({root})"


# Half-open cameras whose pipe was left open because picamera2's camera manager held them
# (picamera2 before 2026 registers a camera before it opens it): closed once a later open
# has taken its place there, so at most one stays open.
_half_open_held: list[Any] = []
_half_open_lock = threading.Lock()


def _close_half_open(picamera2_class: Any, error: BaseException | None = None) -> None:
    """Close the notification pipe of a Picamera2 whose constructor failed (`error`), and
    of those left before that its camera manager has since let go.

    picamera2 makes the pipe before it opens the camera and closes it only in close() of
    an open camera: every failed open (the camera busy in another program, or still held
    by a hung earlier open) kept a descriptor, and the booth tries again every few seconds
    until the process has none left. Left alone where picamera2 closed it itself, and while
    its camera manager holds the half-open camera: its event thread may write to the pipe.
    """
    camera = _constructed(error, picamera2_class) if error is not None else None
    manager = getattr(picamera2_class, "_cm", None)
    with _half_open_lock:
        held = {id(c) for c in (getattr(manager, "cameras", None) or {}).values()}
        left = _half_open_held + ([camera] if camera is not None else [])
        _half_open_held[:] = [c for c in left if id(c) in held]
    for half_open in left:
        if id(half_open) not in held:
            _close_pipe(half_open)


def _constructed(error: BaseException, picamera2_class: Any) -> Any:
    """The Picamera2 that `error` stopped in its constructor, whose frame holds it as `self`."""
    tb = error.__traceback__
    while tb is not None:
        candidate = tb.tb_frame.f_locals.get("self")
        if isinstance(candidate, picamera2_class):
            return candidate
        tb = tb.tb_next
    return None


def _close_pipe(camera: Any) -> None:
    """Close a half-open camera's pipe, unless picamera2 will: its close() (and __del__)
    closes it once the camera was acquired (`is_open`), though the constructor failed after."""
    reader, writer = getattr(camera, "notifymeread", None), getattr(camera, "notifyme_w", None)
    if (getattr(camera, "is_open", False) or reader is None or getattr(reader, "closed", True)
            or not isinstance(writer, int)):
        return
    try:  # the number still names that pipe's write end, not a file opened since
        write_end, read_end = os.fstat(writer), os.fstat(reader.fileno())
    except OSError:
        return
    if (write_end.st_dev, write_end.st_ino) == (read_end.st_dev, read_end.st_ino):
        os.close(writer)
        reader.close()


def _frame_rate_controls(fps: int) -> dict:
    """At most `fps` frames a second. picamera2's preview lets a sensor run as fast as it
    can (a Camera Module 2 at 640x480 can send over 200 a second), and every frame costs
    CPU in its event loop while the booth reads only the newest."""
    shortest = round(1_000_000 / fps)
    return {"FrameDurationLimits": (shortest, max(shortest, PICAMERA_LONGEST_FRAME_US))}


def _autofocus_controls(camera: Any) -> dict:
    """Continuous autofocus on a camera with a focus motor (Camera Module 3), none on one
    without (a control a camera does not advertise fails its configuration). picamera2,
    unlike rpicam-apps, starts such a camera in manual focus, the lens at its default
    distance, whoever stands in front of it."""
    if "AfMode" not in camera.camera_controls:
        return {}
    from libcamera import controls  # apt's python3-libcamera, which picamera2 itself uses

    return {"AfMode": controls.AfModeEnum.Continuous}


# libcamera format name -> the layout `_to_rgb` expects
_PICAMERA_LAYOUTS = {"RGB888": "BGR", "BGR888": "RGB", "XRGB8888": "XBGR", "YUV420": "I420"}


class PiCameraSource(FrameSource):
    """Two streams from one sensor readout: `main` for the screen, `lores` for
    face detection, so detection never pays for display resolution."""

    MAIN_FORMAT = "RGB888"
    LORES_FORMAT = "YUV420"  # the only lores format a Pi 4 offers

    def __init__(self, camera_num: int = 0, size: tuple[int, int] = (640, 480),
                 detect_size: tuple[int, int] | None = (320, 240),
                 frame_timeout: float = PICAMERA_FRAME_TIMEOUT_S, fps: int = 30):
        """frame_timeout: seconds a read (and close) may wait on the camera before
        it counts as hung (cable pulled, driver stall); fps: the most frames a second."""
        self.name = "picamera2" if camera_num == 0 else f"picamera2:{camera_num}"
        self.frame_timeout = frame_timeout
        try:
            picamera2_class = _import_picamera2()
        except ImportError as error:
            raise CameraError(
                f"{self.name}: picamera2 is not installed (sudo apt install python3-picamera2, "
                "and make the venv with --system-site-packages)"
            ) from error
        except Exception as error:  # installed but broken (libcamera mismatch)
            raise CameraError(f"{self.name}: picamera2 cannot be loaded: {error}") from error
        try:
            cameras = picamera2_class.global_camera_info()
        except Exception as error:
            raise CameraError(f"{self.name}: libcamera cannot list cameras: {error}") from error
        # libcamera lists USB webcams too (picamera2 sorts them last). One gives a single
        # stream, and picamera2 reading a lores stream from it is undefined behaviour in
        # libcamera: picamera2:N counts Pi cameras only, and webcams are WebcamSource's.
        pi_cameras = [index for index, info in enumerate(cameras) if not _is_usb_camera(info)]
        if len(pi_cameras) <= camera_num:
            webcams = len(cameras) - len(pi_cameras)
            also = f", and {webcams} USB webcam(s): use webcam:N for those" if webcams else ""
            raise CameraError(f"{self.name}: no Raspberry Pi camera connected "
                              f"(libcamera sees {len(pi_cameras)}{also})")
        self.size = size
        if detect_size is not None:  # picamera2 refuses a lores stream bigger than main
            detect_size = (min(detect_size[0], size[0]), min(detect_size[1], size[1]))
        self.detect_size = detect_size
        self._camera = None
        try:
            camera = picamera2_class(pi_cameras[camera_num])  # an index into that list
        except Exception as error:  # libcamera reports busy/broken cameras as RuntimeError
            _close_half_open(picamera2_class, error)
            raise CameraError(f"{self.name}: cannot open the camera: "
                              f"{_with_reason(error)}") from error
        _close_half_open(picamera2_class)  # this one took the place of any left before
        if not _wait_takes_timeout(camera):
            camera.close()
            raise CameraError(f"{self.name}: this picamera2 is too old (its wait() takes no "
                              f"timeout; {PICAMERA2_MINIMUM} or newer is needed): "
                              "sudo apt update && sudo apt full-upgrade")
        try:
            streams = {"main": {"size": tuple(size), "format": self.MAIN_FORMAT}}
            if detect_size is not None:
                streams["lores"] = {"size": tuple(detect_size), "format": self.LORES_FORMAT}
            # queue=False: a capture waits for a frame that starts after it, so the
            # loop never gets a buffered frame from before it last looked.
            config = camera.create_preview_configuration(
                **streams, queue=False,
                controls=_frame_rate_controls(fps) | _autofocus_controls(camera))
            camera.configure(config)
            if detect_size is not None:  # as picamera2 made it (even) and libcamera took it
                self.detect_size = tuple(camera.stream_configuration("lores")["size"])
            camera.start()
        except Exception as error:
            camera.close()
            raise CameraError(f"{self.name}: cannot start the camera: {error}") from error
        self._camera = camera
        self._streams = list(streams)

    def read(self, timeout: float = 0.0) -> Frame:
        """Blocks until the camera's next frame (the camera paces the loop), at
        most `frame_timeout` seconds: a hung camera must not freeze the booth."""
        if self._camera is None:
            raise CameraLost(f"{self.name} is closed")
        try:
            # wait=False hands back a job at once; picamera2's wait(job, timeout)
            # raises TimeoutError when the frame does not arrive in time.
            job = self._camera.capture_arrays(self._streams, wait=False)
            arrays, _metadata = self._camera.wait(job, timeout=self.frame_timeout)
        except TimeoutError as error:
            raise CameraLost(f"{self.name} delivered no frame within {self.frame_timeout:g} s "
                             "(camera hung or cable loose)") from error
        except Exception as error:
            raise CameraLost(f"{self.name} stopped delivering frames: {error}") from error
        t = time.monotonic()
        image = _to_rgb(arrays[0], _PICAMERA_LAYOUTS[self.MAIN_FORMAT])
        detect = None
        if len(arrays) > 1:
            detect = _to_rgb(arrays[1], _PICAMERA_LAYOUTS[self.LORES_FORMAT],
                             width=self.detect_size[0])
        return Frame(image=image, detect=detect, t=t)

    def close(self) -> None:
        """Stops and closes the camera in a helper thread, waiting at most
        `frame_timeout`: a hung driver can block stop() forever, and the booth
        must still get on to reopening it."""
        camera, self._camera = self._camera, None
        if camera is None:
            return
        closer = threading.Thread(target=self._stop_and_close, args=(camera,),
                                  name=f"close-{self.name}", daemon=True)
        closer.start()
        closer.join(timeout=self.frame_timeout)
        if closer.is_alive():
            log.warning("%s: the camera did not close within %g s; left to the driver",
                        self.name, self.frame_timeout)

    def _stop_and_close(self, camera: Any) -> None:
        # A capture that timed out is still queued in picamera2, and stop() queues
        # behind it: without the flush a hung camera is never stopped, never closed,
        # and every reopen finds it busy. cancel_all_and_flush is picamera2's own
        # tidy-up "after an operation has unexpectedly timed out".
        steps = [getattr(camera, "cancel_all_and_flush", None), camera.stop, camera.close]
        for step in filter(None, steps):
            try:
                step()
            except Exception as error:  # an unplugged camera may fail to stop: still close
                log.debug("%s: %s failed: %s", self.name, step.__name__, error)


# --- USB webcam (OpenCV) ------------------------------------------------------


OPENCV_LOG_LEVEL_ERROR = 2  # cv::utils::logging::LOG_LEVEL_ERROR, the same in every version


def opencv_logging() -> Any:
    """Where OpenCV's log level is got and set: `cv2.utils.logging` in newer releases (the
    only place in 5), `cv2` itself in older ones, such as the 4.11 that pip gives a Pi on
    Bookworm (the newest OpenCV built for its numpy 1.24)."""
    return getattr(cv2.utils, "logging", cv2)


def _open_video_capture(target: int | str, api: int = cv2.CAP_ANY) -> Any:
    """cv2.VideoCapture; a seam for tests. OpenCV's own warnings about a device that
    is not there are held back: the booth says so in its own words, and `auto`
    looks again every few seconds, which would fill the journal."""
    opencv_log = opencv_logging()
    previous = opencv_log.getLogLevel()
    opencv_log.setLogLevel(OPENCV_LOG_LEVEL_ERROR)
    try:
        return cv2.VideoCapture(target, api)
    finally:
        opencv_log.setLogLevel(previous)


def _why_not_open(device: int | str) -> str:
    """Why a webcam did not open, in words: a device file not there is a camera unplugged."""
    if isinstance(device, int):
        return f"cannot open video device {device}"
    if not os.path.exists(device):
        return "not plugged in (`ls -l /dev/v4l/by-id` lists the webcams that are)"
    return "cannot open this video device (busy in another program, or not a camera)"


class WebcamSource(FrameSource):
    """A USB webcam. A grabber thread keeps only the newest frame: when the loop
    falls behind, older frames are dropped (and counted), never queued.

    The grabber thread owns the cv2.VideoCapture and releases it itself when it
    stops: a read() can block inside the driver, and releasing the capture under
    it is undefined behaviour in OpenCV.
    """

    def __init__(self, device: int | str = 0, size: tuple[int, int] = (640, 480),
                 close_timeout: float = WEBCAM_CLOSE_S, fps: int = 30):
        """device: a number (webcam:N, /dev/videoN) or a device file, such as the
        /dev/v4l/by-id link that names one camera whatever number it gets;
        close_timeout: how long close() waits for a grabber stuck in the driver;
        fps: the most frames a second to ask for (a webcam may offer only fewer)."""
        self.name = f"webcam:{device}" if isinstance(device, int) else device
        self.size = size
        self.close_timeout = close_timeout
        self.dropped = 0
        if isinstance(device, int):
            capture = _open_video_capture(device)
        else:  # to OpenCV's V4L2 backend, which opens the file (links followed) as /dev/videoN
            capture = _open_video_capture(device, cv2.CAP_V4L2)  # not first as a video file
        if not capture.isOpened():
            capture.release()
            raise CameraError(f"{self.name}: {_why_not_open(device)}")
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        capture.set(cv2.CAP_PROP_FPS, fps)
        self._lock = threading.Condition()
        self._latest: tuple[np.ndarray, float] | None = None
        self._fresh = False
        self._error: str | None = None
        self._stop = threading.Event()
        # The capture goes to the thread, not to self: nothing else may touch it.
        self._thread = threading.Thread(target=self._grab, args=(capture,),
                                        name=f"grab-{self.name}", daemon=True)
        self._thread.start()
        with self._lock:
            self._lock.wait_for(lambda: self._latest is not None or self._error is not None,
                                timeout=WEBCAM_FIRST_FRAME_S)
            failed = self._latest is None
            why = self._error or f"no frame within {WEBCAM_FIRST_FRAME_S:.0f} s"
        if failed:
            self.close()
            raise CameraError(f"{self.name}: opened but delivers no frames ({why})")

    def _grab(self, capture: Any) -> None:
        """The grabber thread: reads until stopped or failed, then releases the capture."""
        try:
            self._grab_until_stopped(capture)
        finally:
            try:
                capture.release()
            except Exception as error:  # an unplugged camera may fail to release
                log.debug("%s: release failed: %s", self.name, error)

    def _grab_until_stopped(self, capture: Any) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                ok, image = capture.read()
            except Exception as error:  # a driver error: the camera is gone
                self._give_up(f"the driver said: {error}")
                return
            t = time.monotonic()
            if not ok or image is None:
                failures += 1
                if failures >= WEBCAM_FAILED_READS:
                    self._give_up(f"{failures} reads failed in a row")
                    return
                self._stop.wait(0.01)
                continue
            failures = 0
            with self._lock:
                if self._stop.is_set():  # closed while the driver had us: publish nothing
                    return
                if self._fresh:
                    self.dropped += 1  # the previous frame was never read
                self._latest, self._fresh = (image, t), True
                self._lock.notify_all()

    def _give_up(self, why: str) -> None:
        """On the grabber thread: the webcam is gone; the next read raises CameraLost(why)."""
        with self._lock:
            self._error = why
            self._lock.notify_all()

    def read(self, timeout: float = 0.0) -> Frame | None:
        """The newest frame not yet read, or None; waits up to `timeout` seconds for one."""
        with self._lock:
            if timeout and not self._fresh and self._error is None and not self._stop.is_set():
                self._lock.wait_for(
                    lambda: self._fresh or self._error is not None or self._stop.is_set(),
                    timeout)
            if self._stop.is_set():
                raise CameraLost(f"{self.name} is closed")
            if self._fresh:
                image, t = self._latest
                self._fresh = False
            elif self._error is not None:
                raise CameraLost(f"{self.name} stopped delivering frames: {self._error}")
            else:
                return None
        layout = "GRAY" if image.ndim == 2 else "BGR"
        return Frame(image=fit_to_size(_to_rgb(image, layout), self.size), detect=None, t=t)

    def close(self) -> None:
        """Stops the grabber, which releases the webcam; waits at most `close_timeout`.

        A grabber stuck in the driver is left to finish on its own (it releases
        the webcam when the driver lets go): the booth must get on to reopening.
        """
        with self._lock:
            self._stop.set()  # under the lock: no frame is published after this
            self._lock.notify_all()
        thread = self._thread
        if thread is threading.current_thread():
            return
        thread.join(timeout=self.close_timeout)
        if thread.is_alive():
            log.warning("%s: the webcam did not stop within %g s; it is released when "
                        "the driver returns", self.name, self.close_timeout)


# --- Replay: an image, a folder of images, or a video ------------------------


class ImageReplaySource(FrameSource):
    """An image file, or a folder of images in name order, looping forever.

    Every read returns the next frame at once (benchmarks want no pacing).
    Unreadable files are skipped with one warning each; small folders are
    decoded once and kept in memory.
    """

    def __init__(self, path: Path, size: tuple[int, int] = (640, 480)):
        self.name = str(path)
        self.size = size
        if path.is_dir():
            try:
                files = sorted(p for p in path.iterdir()
                               if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            except OSError as error:  # a folder this user may enter but not list (0711)
                raise CameraError(f"{self.name}: cannot list the folder to replay: "
                                  f"{error.strerror or error}") from error
        else:
            files = [path]
        self._files = files
        self._warned: set[Path] = set()
        self._cache: list[np.ndarray] | None = None
        self._next = 0
        self._closed = False
        if len(files) <= REPLAY_CACHE_FRAMES:
            self._cache = [image for f in files if (image := self._load(f)) is not None]
            if not self._cache:  # an empty folder too
                raise CameraError(f"{self.name}: no readable image to replay")

    def _load(self, path: Path) -> np.ndarray | None:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            if path not in self._warned:
                self._warned.add(path)
                log.warning("replay: skipping unreadable image %s", path)
            return None
        return fit_to_size(_to_rgb(image, "BGR"), self.size)

    def read(self, timeout: float = 0.0) -> Frame:
        if self._closed:  # as a camera's: a closed source gives no frames
            raise CameraLost(f"{self.name} is closed")
        if self._cache is not None:
            image = self._cache[self._next % len(self._cache)]
            self._next += 1
            return Frame(image=image, detect=None, t=time.monotonic())
        for _ in range(len(self._files)):
            path = self._files[self._next % len(self._files)]
            self._next += 1
            image = self._load(path)
            if image is not None:
                return Frame(image=image, detect=None, t=time.monotonic())
        raise CameraLost(f"{self.name}: none of its {len(self._files)} images can be read")

    def close(self) -> None:
        self._closed = True
        self._cache = None


class VideoReplaySource(FrameSource):
    """A video file, looping forever, each frame letterboxed to the configured size."""

    def __init__(self, path: Path, size: tuple[int, int] = (640, 480)):
        self.name = str(path)
        self.size = size
        self._capture = _open_video_capture(str(path))
        ok, first = self._capture.read() if self._capture.isOpened() else (False, None)
        if not ok:
            self._capture.release()
            raise CameraError(f"{self.name}: not a readable image or video file")
        self._pending = first

    def read(self, timeout: float = 0.0) -> Frame:
        if self._capture is None:
            raise CameraLost(f"{self.name} is closed")
        image, self._pending = self._pending, None
        if image is None:
            ok, image = self._capture.read()
            if not ok:  # end of the file: start again
                self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, image = self._capture.read()
                if not ok:
                    raise CameraLost(f"{self.name}: the video can no longer be read")
        return Frame(image=fit_to_size(_to_rgb(image, "BGR"), self.size), detect=None,
                     t=time.monotonic())

    def close(self) -> None:
        capture, self._capture = getattr(self, "_capture", None), None
        if capture is not None:
            capture.release()


# --- Choosing a source -----------------------------------------------------------


def _parse_index(spec: str, prefix: str) -> int:
    rest = spec[len(prefix):]
    if not rest:
        return 0
    if rest.startswith(":") and rest[1:].isdigit():
        return int(rest[1:])
    raise CameraError(f"camera source {spec!r}: expected {prefix} or {prefix}:N (N a number)")


def names_a_camera(spec: str) -> bool:
    """`auto`, `picamera2[:N]`, `webcam[:N]` or a device file under /dev: a camera, which
    may be plugged in later, rather than a file or folder to replay (the spellings
    open_source reads). A replay folder may be called `webcam-clips`; a misspelt camera
    (`webcam:x`) that is no file is still a camera, so open_source says how to spell it."""
    spec = spec.strip()
    if CAMERA_NAME.fullmatch(spec) or spec.startswith(DEVICE_FOLDER):
        return True
    return spec.startswith(("picamera2", "webcam")) and not Path(spec).expanduser().exists()


def open_source(spec: str, *, width: int = 640, height: int = 480,
                detect_size: tuple[int, int] | None = (320, 240), fps: int = 30) -> FrameSource:
    """Open a source by name: `auto`, `picamera2[:N]`, `webcam[:N]`, a webcam's device
    file (`/dev/video2`, `/dev/v4l/by-id/...`), or a path to replay.

    `auto` tries the Pi camera, then webcam 0, and raises NoCameraError naming
    both when neither opens. A named source that cannot be opened raises
    CameraError saying which and why.
    """
    size = (width, height)
    spec = spec.strip()
    if spec == "auto":
        tried, reasons = [], []
        for name, opener in (("picamera2", lambda: PiCameraSource(0, size, detect_size, fps=fps)),
                             ("webcam:0", lambda: WebcamSource(0, size, fps=fps))):
            try:
                return opener()
            except CameraError as error:
                tried.append(name)
                reasons.append(str(error).removeprefix(f"{name}: "))
                log.debug("auto: %s", error)  # the caller reports NoCameraError once
        raise NoCameraError(tried, reasons)
    camera = names_a_camera(spec)
    if camera and spec.startswith("picamera2"):
        return PiCameraSource(_parse_index(spec, "picamera2"), size, detect_size, fps=fps)
    if camera and spec.startswith("webcam"):
        return WebcamSource(_parse_index(spec, "webcam"), size, fps=fps)
    if camera:  # a device file
        return WebcamSource(spec, size, fps=fps)
    path = Path(os.path.expanduser(spec))  # a ~user with no home stays as written: not there
    if not path.exists():
        raise CameraError(f"camera source {spec!r}: no such file or folder "
                          "(use auto, picamera2, picamera2:N, webcam, webcam:N, a webcam's "
                          "/dev file or a path to replay)")
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageReplaySource(path, size)
    return VideoReplaySource(path, size)
