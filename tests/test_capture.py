"""Frame sources, driven by fakes of picamera2 and cv2.VideoCapture, and by replays."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import types
from concurrent.futures import Future
from pathlib import Path

import cv2
import numpy as np
import pytest

from device import capture
from device.capture import (
    CameraError,
    CameraLost,
    Frame,
    ImageReplaySource,
    NoCameraError,
    PiCameraSource,
    WebcamSource,
    names_a_camera,
    open_source,
)
from tests.threads import join_threads

RGB_MAIN = (200, 40, 10)  # what the fake sensor sees in the main stream, in RGB
RGB_LORES = (30, 160, 90)


def i420_with_stride(rgb_colour, width, height, stride):
    """A YUV420 planar buffer as libcamera lays it out: rows padded to `stride`."""
    rgb = np.zeros((height, stride, 3), np.uint8)
    rgb[:] = rgb_colour
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)  # (height * 3 / 2, stride)


PI_CAMERA = {"Model": "imx708", "Id": "/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a"}
PI_CAMERA_2 = {"Model": "imx219", "Id": "/base/axi/pcie@120000/rp1/i2c@80000/imx219@10"}
AUTOFOCUS_MODELS = {"imx708"}
AF_MODE_CONTINUOUS = 2  # libcamera.controls.AfModeEnum.Continuous
USB_WEBCAM = {"Model": "HD Webcam C525",
              "Id": "/base/axi/pcie@120000/rp1/usb@200000-1:1.0-046d:0826"}


class LibcameraUndefinedBehaviour(BaseException):  # noqa: N818 (not an error one can handle)
    """What libcamera documents as undefined behaviour: a crash at best, not an exception."""


class FakePicamera2:
    """Follows picamera2's documented API: Picamera2(camera_num), global_camera_info(),
    create_preview_configuration(main=..., lores=...), configure, start,
    capture_array(name), capture_arrays(names, wait=None) -> (arrays, metadata), stop,
    cancel_all_and_flush, close. With wait=False a capture returns a job at once and
    wait(job, timeout) gives its result or raises TimeoutError, as picamera2's Job (a
    concurrent Future) does.
    The `main` stream is "RGB888" (B, G, R in memory); `lores` is "YUV420".

    As in picamera2, jobs run in order from one queue: a capture that never
    completes stays queued (a timed-out wait does not cancel it), and stop(),
    queued behind it, blocks until cancel_all_and_flush() empties the queue.
    As in libcamera, a camera is held until close(): opening it again before
    that fails as busy.
    `stalled`: the camera hangs: captures never complete.
    `stop_hangs`: the driver itself blocks stop() until `unstall` is set.
    As in picamera2, global_camera_info() lists USB webcams too, after the Pi cameras
    ("/usb" in the Id), and Picamera2(n) opens entry n of that list. A webcam gives
    libcamera one stream: picamera2 then reads stream 1 of a one-stream configuration for
    `lores`, undefined behaviour in libcamera, which the fake raises as an uncatchable
    LibcameraUndefinedBehaviour.
    As picamera2's constructor, the fake makes its notification pipe before it opens the
    camera and leaves it open when that fails; only close() of an open camera closes it.
    `registers_early`: as picamera2 before 2026 (its PR #1402), the camera manager (`_cm`)
    holds the camera from before it is opened, a failed one too."""

    cameras = [PI_CAMERA]
    instances: list[FakePicamera2] = []
    unplugged = False
    stalled = False
    stop_hangs = False
    unstall = threading.Event()  # set to let a blocked stop() return
    pipes: list[int] = []  # the inode of each notification pipe made
    registers_early = False
    fails_after_open = False
    _cm = types.SimpleNamespace(cameras={})  # picamera2's CameraManager: index -> camera

    def __init__(self, camera_num=0):
        # As picamera2's constructor: its notification pipe first, then the camera, and a
        # failure on the way closes neither (close() and __del__ do nothing until it opened).
        self.notifyme_r, self.notifyme_w = os.pipe2(os.O_NONBLOCK)
        self.notifymeread = os.fdopen(self.notifyme_r, "rb")
        FakePicamera2.pipes.append(os.fstat(self.notifyme_w).st_ino)
        self.closed = True  # until it opens (picamera2's is_open)
        if FakePicamera2.unplugged:
            raise RuntimeError("Camera __init__ sequence did not complete.")
        info = self.global_camera_info()[camera_num]  # IndexError past the end, as there
        camera_num = info["Num"]  # picamera2: "Get the real libcamera internal number."
        if FakePicamera2.registers_early:  # picamera2 before its PR #1402 (2026)
            FakePicamera2._cm.cameras[camera_num] = self
        try:
            if any(not other.closed and other.camera_num == camera_num
                   for other in FakePicamera2.instances):
                raise RuntimeError("Failed to acquire camera: Device or resource busy")
            if FakePicamera2.fails_after_open:  # acquired, then a later step of __init__ failed
                self.closed = False
                raise RuntimeError("sensor modes could not be read")
        except Exception:  # picamera2 hides every reason behind this one line
            raise RuntimeError("Camera __init__ sequence did not complete.")  # noqa: B904
        self.camera_num = camera_num
        self.model = info["Model"]
        self.usb = "/usb" in info["Id"]
        self.config = None
        self.started = False
        self.closed = False
        self._jobs: list[Future] = []
        self._jobs_lock = threading.Condition()
        FakePicamera2.instances.append(self)

    @property
    def is_open(self):
        """picamera2's: True from when the camera is acquired; its close() then closes the
        pipe too (and __del__ calls close())."""
        return not self.closed

    @staticmethod
    def global_camera_info():
        cameras = [{**info, "Num": num} for num, info in enumerate(FakePicamera2.cameras)]
        # picamera2: "Sort alphabetically so they are deterministic, but send USB cams to
        # the back of the class."
        return sorted(cameras, key=lambda cam: ("/usb" not in cam["Id"], cam["Id"]), reverse=True)

    @property
    def camera_controls(self):
        """Control name -> (min, max, default), as picamera2 gives it; only a camera with
        a focus motor (Camera Module 3, imx708) has the Af* controls."""
        controls = {"ExposureTime": (29, 66666666, 20000), "ScalerCrop": (None, None, None),
                    "FrameDurationLimits": (4857, 2000000, 33333)}
        if self.model in AUTOFOCUS_MODELS:
            controls |= {"AfMode": (0, 2, 0), "LensPosition": (0.0, 15.0, 1.0)}
        return controls

    def create_preview_configuration(self, main={}, lores=None, raw={}, transform=None,  # noqa: B006
                                     colour_space=None, buffer_count=4, controls={},  # noqa: B006
                                     display="main", encode="main", queue=True, sensor={},  # noqa: B006
                                     use_case="preview"):
        """picamera2's signature and defaults; stream keys checked, sizes made even."""
        def stream(defaults, updates):
            if updates is None:
                return None
            bad = set(updates) - {"format", "size", "stride", "preserve_ar"}
            if bad:
                raise ValueError(f"Bad key {bad.pop()!r}")
            config = {**defaults, **updates}
            width, height = config["size"]
            config["size"] = (width - width % 2, height - height % 2)
            return config

        main = stream({"format": "XBGR8888", "size": (640, 480)}, main)
        return {"use_case": use_case, "buffer_count": buffer_count, "queue": queue,
                "main": main, "lores": stream({"format": "YUV420", "size": main["size"]}, lores),
                "controls": dict(controls), "display": display, "encode": encode}

    def configure(self, config):
        assert not self.started
        if self.usb and config.get("lores") is not None:
            raise LibcameraUndefinedBehaviour("libcamera_config.at(1) on a one-stream config")
        lores = config.get("lores")
        if lores is not None and any(small > big for small, big in
                                     zip(lores["size"], config["main"]["size"], strict=True)):
            raise RuntimeError("lores stream dimensions may not exceed main stream")
        for name in config["controls"]:
            if name not in self.camera_controls:  # picamera2's Controls refuses it
                raise RuntimeError(f"Control {name} is not advertised by libcamera")
        self.config = config

    def stream_configuration(self, name="main"):
        return self.config[name]

    def start(self):
        assert self.config is not None, "configure() before start()"
        self.started = True

    def capture_array(self, name="main"):
        if FakePicamera2.unplugged:
            raise RuntimeError("Device or resource busy: camera went away")
        assert self.started
        stream = self.config[name]
        width, height = stream["size"]
        if stream["format"] == "RGB888":
            array = np.zeros((height, width, 3), np.uint8)
            array[:] = RGB_MAIN[::-1]  # B, G, R in memory
            return array
        assert stream["format"] == "YUV420"
        return i420_with_stride(RGB_LORES, width, height, stride=width + 64)

    def capture_arrays(self, names=("main",), wait=None):
        job = Future()
        if FakePicamera2.stalled:  # a stalled camera never finishes the job: it stays queued
            with self._jobs_lock:
                self._jobs.append(job)
        else:
            try:
                arrays = [self.capture_array(name) for name in names]
                job.set_result((arrays, {"SensorTimestamp": time.monotonic_ns()}))
            except Exception as error:
                job.set_exception(error)
        return job if wait is False else self.wait(job)

    def wait(self, job, timeout=None):
        return job.result(timeout=timeout)

    def cancel_all_and_flush(self):
        with self._jobs_lock:
            for job in self._jobs:
                job.cancel()
            self._jobs = []
            self._jobs_lock.notify_all()

    def stop(self):
        with self._jobs_lock:  # stop runs only once the jobs before it are done
            self._jobs_lock.wait_for(lambda: not self._jobs)
        if FakePicamera2.stop_hangs:
            FakePicamera2.unstall.wait()
        if FakePicamera2.unplugged:
            raise RuntimeError("camera is gone")
        self.started = False

    def close(self):
        if self.closed:
            return
        self.closed = True
        self.notifymeread.close()
        os.close(self.notifyme_w)


@pytest.fixture
def fake_picamera2(monkeypatch):
    FakePicamera2.cameras = [PI_CAMERA]
    FakePicamera2.instances = []
    FakePicamera2.unplugged = False
    FakePicamera2.stalled = False
    FakePicamera2.stop_hangs = False
    FakePicamera2.unstall = threading.Event()
    FakePicamera2.pipes = []
    FakePicamera2.registers_early = False
    FakePicamera2.fails_after_open = False
    FakePicamera2._cm = types.SimpleNamespace(cameras={})
    monkeypatch.setattr(capture, "_half_open_held", [])  # none left by another test
    monkeypatch.setattr(capture, "_import_picamera2", lambda: FakePicamera2)
    # picamera2's own libcamera bindings (python3-libcamera), as far as the booth uses them
    af_modes = types.SimpleNamespace(Manual=0, Auto=1, Continuous=AF_MODE_CONTINUOUS)
    monkeypatch.setitem(sys.modules, "libcamera", types.SimpleNamespace(
        controls=types.SimpleNamespace(AfModeEnum=af_modes)))
    yield FakePicamera2
    FakePicamera2.unstall.set()  # free any stop() a test left blocked
    for camera in FakePicamera2.instances:
        camera.cancel_all_and_flush()


def no_picamera2():
    raise ImportError("No module named 'picamera2'")


@pytest.mark.parametrize(("set_before", "verbose", "expected"), [
    (None, False, "*:WARN"),  # libcamera's INFO lines stay out of the journal
    ("*:DEBUG", False, "*:DEBUG"),  # the operator's own choice is kept
    (None, True, None),  # -v: libcamera says all it has to say
])
def test_libcamera_is_held_to_warnings_unless_asked(monkeypatch, set_before, verbose, expected):
    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=FakePicamera2))
    if set_before is None:
        monkeypatch.delenv("LIBCAMERA_LOG_LEVELS", raising=False)
    else:
        monkeypatch.setenv("LIBCAMERA_LOG_LEVELS", set_before)
    monkeypatch.setattr(capture.log, "isEnabledFor", lambda level: verbose or level > logging.DEBUG)

    assert capture._import_picamera2() is FakePicamera2
    assert os.environ.get("LIBCAMERA_LOG_LEVELS") == expected


class FakeVideoCapture:
    """cv2.VideoCapture stand-in: numbered BGR frames (the number in every pixel of
    the blue channel), at most `fps` per second; fails after `fail_after` frames."""

    def __init__(self, index, *, opened=True, fps=1000.0, fail_after=None, size=(640, 480),
                 api=cv2.CAP_ANY):
        self.index = index  # or the device file it was given
        self.api = api
        self.opened = opened
        self.fps = fps
        self.fail_after = fail_after
        self.size = size
        self.count = 0
        self.released = False
        self.props = {}

    def isOpened(self):  # noqa: N802 (OpenCV's name)
        return self.opened

    def set(self, prop, value):
        self.props[prop] = value
        return True

    def read(self):
        time.sleep(1.0 / self.fps)
        if self.fail_after is not None and self.count >= self.fail_after:
            return False, None
        self.count += 1
        frame = np.zeros((self.size[1], self.size[0], 3), np.uint8)
        frame[:, :, 0] = self.count % 256
        return True, frame

    def release(self):
        self.released = True


def use_fake_webcam(monkeypatch, **options):
    made = []

    def open_capture(index, api=cv2.CAP_ANY):
        made.append(FakeVideoCapture(index, api=api, **options))
        return made[-1]

    monkeypatch.setattr(capture, "_open_video_capture", open_capture)
    return made


# --- Pi camera ------------------------------------------------------------------


def test_picamera2_gives_rgb_main_and_lores_from_one_request(fake_picamera2):
    with open_source("picamera2", width=640, height=480, detect_size=(320, 240)) as source:
        assert isinstance(source, PiCameraSource) and source.name == "picamera2"
        camera = fake_picamera2.instances[0]
        assert camera.config["main"] == {"format": "RGB888", "size": (640, 480)}
        assert camera.config["lores"] == {"format": "YUV420", "size": (320, 240)}
        assert camera.config["queue"] is False  # no stale, queued frames
        frame = source.read()
    assert isinstance(frame, Frame)
    assert frame.image.shape == (480, 640, 3) and frame.image.dtype == np.uint8
    assert tuple(frame.image[0, 0]) == RGB_MAIN  # BGR in memory came out as RGB
    assert frame.detect.shape == (240, 320, 3)  # stride padding cropped
    assert np.abs(frame.detect[120, 160].astype(int) - RGB_LORES).max() <= 3
    assert camera.closed


def test_picamera2_camera_module_3_focuses_continuously(fake_picamera2):
    """picamera2 starts a Camera Module 3 in manual focus, the lens at its default
    distance: the booth asks for continuous autofocus, as rpicam-apps does by default."""
    with open_source("picamera2") as source:
        assert fake_picamera2.instances[0].config["controls"]["AfMode"] == AF_MODE_CONTINUOUS
        assert source.read() is not None


def test_picamera2_without_a_focus_motor_asks_for_no_autofocus(fake_picamera2):
    fake_picamera2.cameras = [PI_CAMERA_2]  # Camera Module 2: fixed focus, no AfMode
    with open_source("picamera2") as source:
        assert "AfMode" not in fake_picamera2.instances[0].config["controls"]
        assert source.read() is not None


@pytest.mark.parametrize(("fps", "limits"), [(30, (33333, 83333)), (60, (16667, 83333)),
                                             (5, (200000, 200000))])
def test_picamera2_frame_rate_is_capped_at_camera_fps(fake_picamera2, fps, limits):
    """picamera2's preview runs a sensor as fast as it can; the booth caps the fastest
    frame at camera.fps and keeps picamera2's slowest (12 fps) for dim rooms."""
    with open_source("picamera2", fps=fps) as source:
        assert fake_picamera2.instances[0].config["controls"]["FrameDurationLimits"] == limits
        assert source.read() is not None


def test_webcam_is_asked_for_camera_fps(monkeypatch):
    made = use_fake_webcam(monkeypatch)
    with open_source("webcam", fps=15):
        assert made[0].props[cv2.CAP_PROP_FPS] == 15


def test_picamera2_unplugged_mid_run_is_camera_lost_and_reopens(fake_picamera2):
    source = open_source("picamera2")
    assert source.read() is not None
    fake_picamera2.unplugged = True
    with pytest.raises(CameraLost, match="picamera2"):
        source.read()
    source.close()  # stop() fails on a lost camera: close must still succeed
    join_threads("close-picamera2")
    assert fake_picamera2.instances[0].closed
    with pytest.raises(CameraError):  # still unplugged: reopening fails cleanly
        open_source("picamera2")
    fake_picamera2.unplugged = False  # plugged back in: the loop's next try works
    with open_source("picamera2") as reopened:
        assert tuple(reopened.read().image[0, 0]) == RGB_MAIN


def test_picamera2_hung_camera_is_camera_lost_and_released_for_a_reopen(fake_picamera2):
    source = PiCameraSource(frame_timeout=0.2)
    assert source.read() is not None
    fake_picamera2.stalled = True  # driver stall: the frame never arrives
    started = time.monotonic()
    with pytest.raises(CameraLost, match=r"picamera2 delivered no frame within 0.2 s"):
        source.read()
    assert 0.15 <= time.monotonic() - started < 3.0  # the timeout, not forever (slow CI: slack)
    # The timed-out capture is still queued in picamera2; close flushes it, so stop()
    # and close() go through and the camera is free again.
    source.close()
    join_threads("close-picamera2")
    assert fake_picamera2.instances[0].closed
    with pytest.raises(CameraLost, match="closed"):
        source.read()
    fake_picamera2.stalled = False  # the camera comes back: the booth's reopen works
    with PiCameraSource(frame_timeout=0.2) as reopened:
        assert tuple(reopened.read().image[0, 0]) == RGB_MAIN


def test_picamera2_detection_stream_never_exceeds_the_main_one(fake_picamera2):
    """picamera2 refuses a lores stream larger than main: under auto it is shrunk to fit."""
    with open_source("auto", width=256, height=192, detect_size=(320, 240)) as source:
        camera = fake_picamera2.instances[0]
        assert camera.config["lores"]["size"] == (256, 192)
        assert source.read().detect.shape == (192, 256, 3)


def test_picamera2_odd_detection_width_is_cropped_as_configured(fake_picamera2):
    """picamera2 makes stream sizes even: the detection image is cropped from the
    padded rows at the width it really has, not the odd one asked for."""
    with open_source("picamera2", detect_size=(321, 241)) as source:
        detect = source.read().detect
    assert detect.shape == (240, 320, 3)
    assert np.abs(detect[:, -1].astype(int) - RGB_LORES).max() <= 3  # no padding column


def test_picamera2_camera_is_busy_until_closed(fake_picamera2):
    """The fake holds the camera as libcamera does, so the test above means something;
    the screen names libcamera's reason, not just picamera2's "did not complete"."""
    source = PiCameraSource(frame_timeout=0.2)
    with pytest.raises(CameraError, match=r"cannot open the camera: Camera __init__ sequence "
                                          r"did not complete\. \(Failed to acquire camera: "
                                          r"Device or resource busy\)"):
        PiCameraSource(frame_timeout=0.2)
    source.close()
    join_threads("close-picamera2")
    PiCameraSource(frame_timeout=0.2).close()


def open_pipes():
    """The inode of each pipe this process holds open."""
    links = (os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
             if os.path.exists(f"/proc/self/fd/{fd}"))
    return {int(link[6:-1]) for link in links if link.startswith("pipe:[")}


@pytest.mark.parametrize("registers_early", [False, True])
def test_picamera2_busy_camera_tried_again_and_again_leaves_no_pipe_open(fake_picamera2,
                                                                           registers_early):
    """picamera2 keeps the notification pipe of a constructor that failed: the booth, looking
    again every few seconds for a camera another program holds, ran out of descriptors.
    Where picamera2's camera manager still holds the half-open camera, its pipe stays until
    a later open takes its place there."""
    fake_picamera2.registers_early = registers_early
    holder = fake_picamera2(0)  # another program's, as far as the booth can tell
    for _ in range(5):
        with pytest.raises(CameraError, match="busy"):
            PiCameraSource(0)
    failed = fake_picamera2.pipes[1:]
    assert len(set(failed)) == 5
    if registers_early:  # only the one the manager holds: its event thread may write to it
        assert set(failed) & open_pipes() == {failed[-1]}
    else:
        assert not set(failed) & open_pipes()
    holder.close()
    with PiCameraSource(0) as source:  # free again: opens, and its own pipe is left alone
        assert source.read().image.shape == (480, 640, 3)
        assert fake_picamera2.pipes[-1] in open_pipes()
        assert not set(failed) & open_pipes()  # the last half-open one's too, let go now


def test_picamera2_that_failed_after_acquiring_the_camera_keeps_its_pipe_for_its_own_close(
        fake_picamera2):
    """A constructor that failed after it acquired the camera (`is_open`) leaves picamera2's
    close(), run by __del__, to close the pipe: closed by the booth first, that second close
    could shut whatever file had been given its number since."""
    fake_picamera2.fails_after_open = True
    with pytest.raises(CameraError, match="did not complete"):
        PiCameraSource(0)
    assert fake_picamera2.pipes[-1] in open_pipes()


def test_picamera2_close_gives_up_on_a_driver_that_blocks_stop(fake_picamera2):
    source = PiCameraSource(frame_timeout=0.2)
    assert source.read() is not None
    fake_picamera2.stop_hangs = True
    started = time.monotonic()
    source.close()  # stop() blocks in the driver: close gives up after the timeout
    assert time.monotonic() - started < 3.0  # the timeout, not forever (slow CI: slack)
    with pytest.raises(CameraLost, match="closed"):
        source.read()
    fake_picamera2.unstall.set()  # the driver lets go at last: the camera is still closed
    join_threads("close-picamera2")
    assert fake_picamera2.instances[0].closed


def test_picamera2_too_old_for_timeouts_says_to_upgrade(fake_picamera2, monkeypatch):
    def wait_without_timeout(self, job):  # picamera2 before 0.3.17
        return job.result()

    monkeypatch.setattr(fake_picamera2, "wait", wait_without_timeout)
    with pytest.raises(CameraError, match=r"too old .*0\.3\.17.*full-upgrade"):
        open_source("picamera2")
    assert fake_picamera2.instances[0].closed  # not left holding the camera


def test_picamera2_without_a_camera_names_the_source(fake_picamera2):
    fake_picamera2.cameras = []
    with pytest.raises(CameraError, match="picamera2: no Raspberry Pi camera"):
        open_source("picamera2")


def test_picamera2_not_installed_says_how_to_install(monkeypatch):
    monkeypatch.setattr(capture, "_import_picamera2", no_picamera2)
    with pytest.raises(CameraError, match="apt install python3-picamera2"):
        open_source("picamera2")


def test_second_pi_camera_by_number(fake_picamera2):
    fake_picamera2.cameras = [PI_CAMERA_2, PI_CAMERA]
    with open_source("picamera2:1") as source:
        assert source.name == "picamera2:1"
        assert fake_picamera2.instances[0].model == "imx219"  # the second in picamera2's order


def test_picamera2_numbers_count_pi_cameras_only(fake_picamera2):
    """libcamera lists a USB webcam too, and may list it first: picamera2 is the Pi
    camera whatever is plugged in, and a webcam is never opened through libcamera."""
    fake_picamera2.cameras = [USB_WEBCAM, PI_CAMERA]
    with open_source("picamera2") as source:
        assert fake_picamera2.instances[0].model == "imx708"
        assert source.read().detect is not None
    with pytest.raises(CameraError, match=r"picamera2:1: no Raspberry Pi camera .*sees 1, "
                                          r"and 1 USB webcam\(s\): use webcam:N"):
        open_source("picamera2:1")
    assert len(fake_picamera2.instances) == 1


def test_auto_with_only_a_usb_webcam_opens_it_as_a_webcam(fake_picamera2, monkeypatch):
    fake_picamera2.cameras = [USB_WEBCAM]
    webcams = use_fake_webcam(monkeypatch)
    with open_source("auto") as source:
        assert isinstance(source, WebcamSource) and len(webcams) == 1
    assert fake_picamera2.instances == []  # libcamera never held the webcam


# --- auto -------------------------------------------------------------------------


def test_auto_prefers_the_pi_camera(fake_picamera2, monkeypatch):
    webcams = use_fake_webcam(monkeypatch)
    with open_source("auto") as source:
        assert isinstance(source, PiCameraSource)
    assert webcams == []


def test_auto_falls_back_to_the_webcam(monkeypatch):
    monkeypatch.setattr(capture, "_import_picamera2", no_picamera2)
    use_fake_webcam(monkeypatch)
    with open_source("auto") as source:
        assert isinstance(source, WebcamSource) and source.name == "webcam:0"


@pytest.mark.skip_ok_in_ci
@pytest.mark.skipif(Path("/dev/video0").exists(), reason="a real webcam is plugged in here")
def test_auto_looking_again_for_a_missing_camera_logs_nothing(monkeypatch, caplog, capfd):
    """The booth looks every 5 s while no camera is there: days of that must not fill
    the journal (the booth itself logs the NoCameraError once), neither with our
    lines nor with OpenCV's own warnings on stderr."""
    monkeypatch.setattr(capture, "_import_picamera2", no_picamera2)
    caplog.set_level(logging.INFO)
    level = capture.opencv_logging().getLogLevel()
    for _ in range(3):
        with pytest.raises(NoCameraError):
            open_source("auto")  # a real cv2.VideoCapture on the missing /dev/video0
    assert not [r for r in caplog.records if r.name == "device.capture"]
    assert "VIDEOIO" not in capfd.readouterr().err
    assert capture.opencv_logging().getLogLevel() == level  # OpenCV's level is put back


def test_auto_without_any_camera_names_what_it_tried(monkeypatch):
    monkeypatch.setattr(capture, "_import_picamera2", no_picamera2)
    use_fake_webcam(monkeypatch, opened=False)
    with pytest.raises(NoCameraError) as caught:
        open_source("auto")
    assert caught.value.tried == ["picamera2", "webcam:0"]
    assert "picamera2 (picamera2 is not installed" in str(caught.value)
    assert "webcam:0 (cannot open video device 0)" in str(caught.value)


# --- webcam -----------------------------------------------------------------------


def test_webcam_by_number_and_missing_device(monkeypatch):
    made = use_fake_webcam(monkeypatch, opened=False)
    with pytest.raises(CameraError, match="webcam:2: cannot open video device 2"):
        open_source("webcam:2")
    assert made[0].index == 2 and made[0].released
    with pytest.raises(CameraError, match="webcam:N"):
        open_source("webcam:two")


BY_ID = "/dev/v4l/by-id/usb-Fake_Camera_0001-video-index0"  # as udev names a USB webcam


@pytest.mark.parametrize("device", [BY_ID, "/dev/v4l/by-path/platform-xhci-usb-0:1:1.0-video-index0",
                                    "/dev/video2"])
def test_webcam_by_its_device_file_goes_to_the_v4l2_backend_by_name(monkeypatch, device):
    """The by-id link names one camera whatever /dev/videoN it gets after a replug; OpenCV's
    V4L2 backend opens the file (open(2) follows the link), so it is passed as it is."""
    assert names_a_camera(device) and names_a_camera(f" {device}")
    made = use_fake_webcam(monkeypatch)
    with open_source(device, width=320, height=240) as source:
        assert isinstance(source, WebcamSource) and source.name == device
        frame = source.read(timeout=1.0)
    assert (made[0].index, made[0].api) == (device, cv2.CAP_V4L2)
    assert frame.image.shape == (240, 320, 3) and frame.image[0, 0, 2] > 0  # BGR made RGB
    join_threads("grab-")
    assert made[0].released


def test_webcam_by_a_device_file_not_there_says_it_is_not_plugged_in(monkeypatch, tmp_path):
    made = use_fake_webcam(monkeypatch, opened=False)
    with pytest.raises(CameraError, match=f"^{BY_ID}: not plugged in .*ls -l /dev/v4l/by-id"):
        open_source(BY_ID)
    assert made[0].released
    stand_in = tmp_path / "video9"  # a device file that is there but will not open
    stand_in.write_bytes(b"")
    with pytest.raises(CameraError, match=f"^{stand_in}: cannot open this video device"):
        WebcamSource(str(stand_in))


@pytest.mark.skipif(Path(BY_ID).exists(), reason="that webcam is plugged in here")
def test_looking_again_for_an_unplugged_webcam_by_its_device_file_logs_nothing(capfd):
    """A real cv2.VideoCapture(path, CAP_V4L2): closed, and OpenCV's warning that its V4L2
    backend "can't be used to capture by name" (said of any file it cannot open) held back,
    as the booth tries every 5 s."""
    for _ in range(3):
        with pytest.raises(CameraError, match="not plugged in"):
            open_source(BY_ID)
    assert "VIDEOIO" not in capfd.readouterr().err


def test_webcam_newest_frame_wins_and_stale_frames_are_dropped(monkeypatch):
    made = use_fake_webcam(monkeypatch, fps=500)
    with open_source("webcam") as source:
        camera = made[0]
        assert camera.props[cv2.CAP_PROP_BUFFERSIZE] == 1
        deadline = time.monotonic() + 30  # the loop is busy: the camera keeps delivering
        while source.dropped < 10 and time.monotonic() < deadline:
            time.sleep(0.001)
        before = camera.count
        frame = source.read()
        after = camera.count
        assert after < 256  # frame numbers fit in one channel
        # BGR in memory -> RGB: the frame number now sits in the red channel
        assert before - 1 <= int(frame.image[0, 0, 2]) <= after
        assert int(frame.image[0, 0, 0]) == 0
        assert source.dropped >= 10
        first = source.read(timeout=10)
        second = source.read(timeout=10)
        assert first is not None and second is not None and second.t > first.t > frame.t
    join_threads("grab-")
    assert camera.released


def test_webcam_read_returns_none_until_a_new_frame(monkeypatch):
    made = use_hanging_webcams(monkeypatch)  # its second frame comes when the test says
    source = WebcamSource(0, size=(64, 48))
    camera = made[0]
    try:
        assert source.read(timeout=10) is not None
        assert camera.blocked.wait(timeout=10)  # the grabber is waiting for the next frame ...
        assert source.read() is None  # ... so there is none to read, however late we look
        camera.unblock.set()
        assert source.read(timeout=10) is not None  # until it comes
    finally:
        camera.unblock.set()
        source.close()


def test_webcam_unplugged_mid_run_is_camera_lost(monkeypatch):
    use_fake_webcam(monkeypatch, fps=1000, fail_after=5)
    source = open_source("webcam")
    deadline = time.monotonic() + 30  # the grabber thread finds it, however late it runs
    with pytest.raises(CameraLost, match="webcam:0"):
        while time.monotonic() < deadline:
            source.read(timeout=0.05)
    source.close()


def test_a_webcam_driver_error_mid_run_is_camera_lost_naming_it(monkeypatch):
    """A read that raises (the driver's error) ends the webcam at once, and CameraLost
    says what the driver said, not "10 reads failed in a row" for the one read."""

    class RaisingCapture(FakeVideoCapture):
        def read(self):
            if self.count >= 3:
                raise RuntimeError("VIDIOC_DQBUF: No such device")
            return super().read()

    monkeypatch.setattr(capture, "_open_video_capture", RaisingCapture)
    source = open_source("webcam")
    deadline = time.monotonic() + 30  # the grabber thread finds it, however late it runs
    with pytest.raises(CameraLost, match="No such device") as caught:
        while time.monotonic() < deadline:
            source.read(timeout=0.05)
    assert "in a row" not in str(caught.value)
    source.close()


def test_webcam_resizes_to_the_configured_size(monkeypatch):
    use_fake_webcam(monkeypatch, size=(1280, 720))
    with open_source("webcam", width=640, height=480) as source:
        image = source.read(timeout=1.0).image
    assert image.shape == (480, 640, 3)
    assert image[0, 320].sum() == 0 and image[240, 320].sum() > 0  # letterboxed 16:9


def test_webcam_close_stops_the_grabber(monkeypatch):
    use_fake_webcam(monkeypatch, fps=200)
    source = WebcamSource(0, close_timeout=30)  # the booth's waits 2 s: a busy machine, longer
    source.close()
    assert not any(t.name == "grab-webcam:0" for t in threading.enumerate())


class HangingVideoCapture:
    """cv2.VideoCapture stand-in like a driver that hangs: the first read answers,
    every later one blocks until `unblock` is set. Records who released it, and whether
    a read was still running then. Frames carry `tag` in every blue pixel."""

    def __init__(self, tag):
        self.tag = tag
        self.reads = 0
        self.reading = False
        self.blocked = threading.Event()  # a read is stuck in the "driver"
        self.unblock = threading.Event()
        self.released = threading.Event()
        self.released_while_reading = None
        self.released_by = None

    def isOpened(self):  # noqa: N802 (OpenCV's name)
        return True

    def set(self, prop, value):
        return True

    def read(self):
        self.reading = True
        try:
            self.reads += 1
            if self.reads > 1:
                self.blocked.set()
                self.unblock.wait(timeout=30)  # a bound only in case the test itself fails
            frame = np.zeros((48, 64, 3), np.uint8)
            frame[:, :, 0] = self.tag
            return True, frame
        finally:
            self.reading = False

    def release(self):
        self.released_while_reading = self.reading
        self.released_by = threading.current_thread()
        self.released.set()


def use_hanging_webcams(monkeypatch):
    made = []

    def open_capture(index):
        made.append(HangingVideoCapture(tag=len(made) + 1))
        return made[-1]

    monkeypatch.setattr(capture, "_open_video_capture", open_capture)
    return made


def close_in_a_thread(source):
    """close() on a helper thread, so that a close that hangs fails the test, not the run."""
    closer = threading.Thread(target=source.close, daemon=True)
    closer.start()
    closer.join(timeout=10)
    return not closer.is_alive()


def test_webcam_close_while_the_driver_hangs_never_releases_under_the_reader(monkeypatch):
    made = use_hanging_webcams(monkeypatch)
    source = WebcamSource(0, size=(64, 48), close_timeout=0.05)
    camera = made[0]
    try:
        assert camera.blocked.wait(timeout=10)  # the grabber is stuck inside read()
        assert close_in_a_thread(source), "close() must not hang on a stuck driver"
        assert not camera.released.is_set(), "released while the grabber was inside read()"
        with pytest.raises(CameraLost, match="closed"):
            source.read()
    finally:
        camera.unblock.set()  # the driver lets go
    assert camera.released.wait(timeout=10)  # ... and the grabber releases the webcam itself
    assert camera.released_while_reading is False
    assert camera.released_by.name == "grab-webcam:0"
    with pytest.raises(CameraLost, match="closed"):  # the late frame was not handed out
        source.read()


def test_webcam_reopened_while_the_old_grabber_hangs_shares_nothing_with_it(monkeypatch):
    made = use_hanging_webcams(monkeypatch)
    old = WebcamSource(0, size=(64, 48), close_timeout=0.05)
    assert made[0].blocked.wait(timeout=10)
    assert close_in_a_thread(old)
    new = WebcamSource(0, size=(64, 48), close_timeout=0.05)  # the booth reopens the camera
    try:
        made[0].unblock.set()  # the old read returns a frame after its source was closed
        assert made[0].released.wait(timeout=10)  # by its own grabber, after its last read
        assert made[0].released_while_reading is False
        assert made[0].released_by.name == "grab-webcam:0"
        frame = new.read(timeout=1.0)
        assert frame is not None and int(frame.image[0, 0, 2]) == made[1].tag  # BGR -> RGB
        assert new.read() is None and new.dropped == 0  # nothing from the old camera arrived
        assert not made[1].released.is_set()
    finally:
        made[1].unblock.set()
    assert close_in_a_thread(new)
    assert made[1].released.wait(timeout=10) and made[1].released_while_reading is False


# --- replay -----------------------------------------------------------------------


def write_bgr(path, rgb_colour, size=(640, 480)):
    image = np.zeros((size[1], size[0], 3), np.uint8)
    image[:] = rgb_colour[::-1]
    cv2.imwrite(str(path), image)


def test_replay_folder_sorted_looping_and_skipping_corrupt_files(tmp_path, caplog):
    write_bgr(tmp_path / "b.png", (0, 255, 0))
    write_bgr(tmp_path / "a.png", (255, 0, 0))
    (tmp_path / "c.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("ignored")
    with open_source(str(tmp_path)) as source:
        colours = [tuple(source.read().image[10, 10]) for _ in range(4)]
    assert colours == [(255, 0, 0), (0, 255, 0)] * 2
    assert "c.png" in caplog.text


def test_a_replay_folder_named_like_a_camera_is_replayed(tmp_path, monkeypatch):
    """Only `auto`, `picamera2[:N]`, `webcam[:N]` and /dev files are cameras: a folder called
    webcam-clips was opened as a webcam (and refused by bench)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "webcam-clips").mkdir()
    write_bgr(tmp_path / "webcam-clips" / "a.png", (255, 0, 0))
    assert not names_a_camera("webcam-clips") and names_a_camera("webcam:1")
    assert names_a_camera("webcam-missing")  # no such folder: a misspelt camera, said so below
    with open_source("webcam-clips") as source:
        assert tuple(source.read().image[10, 10]) == (255, 0, 0)
    with pytest.raises(CameraError, match="webcam:N"):
        open_source("webcam-missing")


def test_replay_of_a_large_folder_reads_from_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(capture, "REPLAY_CACHE_FRAMES", 1)
    write_bgr(tmp_path / "1.jpg", (250, 250, 250))
    (tmp_path / "2.jpg").write_bytes(b"broken")
    write_bgr(tmp_path / "3.png", (0, 0, 250))
    with ImageReplaySource(tmp_path) as source:
        frames = [source.read() for _ in range(3)]
    assert [int(f.image[5, 5, 2]) for f in frames] == [250, 250, 250]
    assert [int(f.image[5, 5, 0]) for f in frames][:2] != [0, 0]
    assert tuple(frames[1].image[5, 5]) == (0, 0, 250)


def test_replay_letterboxes_to_the_configured_size(tmp_path):
    write_bgr(tmp_path / "square.png", (255, 255, 255), size=(100, 100))
    with open_source(str(tmp_path / "square.png"), width=640, height=480) as source:
        frame = source.read()
    assert frame.image.shape == (480, 640, 3) and frame.detect is None
    assert frame.image[240, 40].sum() == 0 and frame.image[240, 320].min() == 255


def test_replay_video_loops(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    assert writer.isOpened()
    for value in (40, 120, 220):
        writer.write(np.full((240, 320, 3), value, np.uint8))
    writer.release()
    with open_source(str(path)) as source:
        levels = [int(source.read().image[240, 320, 0]) for _ in range(5)]
    assert levels[:3] == pytest.approx([40, 120, 220], abs=8)
    assert levels[3:] == pytest.approx([40, 120], abs=8)


def test_a_closed_replay_gives_no_frames_like_a_closed_camera(tmp_path, replay_dir):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    writer.write(np.full((240, 320, 3), 99, np.uint8))
    writer.release()
    for spec in (path, replay_dir, sorted(replay_dir.glob("*.png"))[0]):
        source = open_source(str(spec))
        assert source.read() is not None
        source.close()
        with pytest.raises(CameraLost, match="is closed"):
            source.read()


def test_missing_or_unreadable_replay_is_a_camera_error(tmp_path, no_such_user):
    with pytest.raises(CameraError, match="no such file"):
        open_source(str(tmp_path / "nothing-here"))
    with pytest.raises(CameraError, match="no such file"):  # pathlib raised RuntimeError
        open_source(f"~{no_such_user}/clip.mp4")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CameraError, match="not a readable image or video"):
        open_source(str(tmp_path / "notes.txt"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CameraError, match="no readable image"):
        open_source(str(empty))


def test_a_replay_folder_that_cannot_be_listed_is_a_camera_error(tmp_path, monkeypatch):
    """A folder the booth's user may enter but not read (mode 0711, another user's):
    start-up names it, as for any replay that cannot be read, instead of a traceback."""
    write_bgr(tmp_path / "a.png", (255, 0, 0))

    def refused(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "iterdir", refused)  # tests run as root, which chmod cannot stop
    with pytest.raises(CameraError, match="cannot list the folder to replay: Permission denied"):
        open_source(str(tmp_path))


def test_replay_dir_fixture_replays_and_survives_its_corrupt_file(replay_dir):
    names = sorted(p.name for p in replay_dir.iterdir())
    assert names[-2:] == ["90_noface.png", "95_corrupt.png"]
    with open_source(str(replay_dir)) as source:
        frames = [source.read() for _ in range(len(names) + 2)]
    assert all(f.image.shape == (480, 640, 3) for f in frames)
