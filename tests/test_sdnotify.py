"""The systemd notify protocol, checked against real AF_UNIX datagram sockets.

The last test runs the real booth (`python -m device run`) under a fake
systemd: it must say READY=1 and then ping WATCHDOG=1 while frames flow.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from device.sdnotify import Notifier, watchdog_interval

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def listener():
    """A datagram socket bound to a short filesystem path (AF_UNIX paths max ~107 bytes)."""
    folder = tempfile.mkdtemp(prefix="sdn-", dir="/tmp")
    path = os.path.join(folder, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    yield sock, path
    sock.close()
    shutil.rmtree(folder, ignore_errors=True)


def test_without_notify_socket_every_call_is_a_silent_no_op():
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog() is False
    assert notifier.status("anything") is False
    assert notifier.stopping() is False
    assert notifier.watchdog_interval() is None


def test_messages_reach_a_path_socket(listener):
    sock, path = listener
    with Notifier.from_env({"NOTIFY_SOCKET": path}) as notifier:
        assert notifier.enabled
        assert notifier.ready()
        assert sock.recv(4096) == b"READY=1\nSTATUS=running"
        assert notifier.watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"
        assert notifier.status("camera lost:\nreopening")
        assert sock.recv(4096) == b"STATUS=camera lost: reopening"
        assert notifier.stopping()
        assert sock.recv(4096) == b"STOPPING=1"


def test_messages_reach_an_abstract_socket():
    name = f"memoji-booth-test-{os.getpid()}-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert notifier.watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"
        notifier.close()
    finally:
        sock.close()


def test_a_vanished_socket_is_logged_once_and_never_raises(caplog):
    notifier = Notifier.from_env({"NOTIFY_SOCKET": "/nonexistent/memoji-booth/notify"})
    with caplog.at_level(logging.WARNING, logger="device.sdnotify"):
        assert notifier.ready() is False
        assert notifier.watchdog() is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "cannot notify systemd" in warnings[0].getMessage()


def test_an_unsupported_address_disables_notifications(caplog):
    with caplog.at_level(logging.WARNING, logger="device.sdnotify"):
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert "vsock:2:1234" in caplog.text


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "junk"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec(environ, expected):
    assert watchdog_interval(environ) == expected
    assert Notifier.from_env(environ).watchdog_interval() == expected


def _replay_folder(folder: Path, count: int = 3) -> None:
    """A few 640x480 camera-like frames (no face needed: READY and WATCHDOG follow frames)."""
    import cv2

    rng = np.random.default_rng(5)
    for i in range(count):
        frame = rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
        assert cv2.imwrite(str(folder / f"frame{i:02d}.png"), frame)


def test_the_booth_says_ready_then_pings_the_watchdog_while_frames_flow(listener, tmp_path):
    sock, path = listener
    replay = tmp_path / "replay"
    replay.mkdir()
    _replay_folder(replay)
    config = tmp_path / "config.toml"
    data_dir = tmp_path / "data"
    config.write_text(
        "[storage]\n"
        f'data_dir = "{data_dir.as_posix()}"\n'
        "[web]\n"
        "enabled = false\n"
        "[button]\n"
        "enabled = false\n"
    )
    env = dict(os.environ)
    env.update(
        NOTIFY_SOCKET=path,
        WATCHDOG_USEC="100000",  # ping at least every 0.05 s: a short run still pings
        SDL_VIDEODRIVER="dummy",
        SDL_AUDIODRIVER="dummy",
        PYTHONUNBUFFERED="1",
    )
    env.pop("WATCHDOG_PID", None)
    command = [
        sys.executable, "-m", "device", "run",
        "--config", str(config), "--source", str(replay),
        "--display", "none", "--frames", "120",
    ]
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    received: list[str] = []
    try:
        deadline = time.monotonic() + 60
        sock.settimeout(1)
        while time.monotonic() < deadline and "WATCHDOG=1" not in received:
            try:
                received.extend(sock.recv(4096).decode().split("\n"))
            except TimeoutError:
                if process.poll() is not None:
                    break
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        output = process.communicate()[0].decode(errors="replace")
    assert "READY=1" in received, f"no READY=1; got {received}\n{output[-3000:]}"
    assert "WATCHDOG=1" in received, f"no WATCHDOG=1; got {received}\n{output[-3000:]}"
    assert received.index("READY=1") < received.index("WATCHDOG=1")
    assert process.returncode == 0, output[-3000:]


def test_a_receiver_that_stops_reading_never_blocks_the_sender(listener):
    """A full socket queue (systemd busy, max_dgram_qlen ~10) must not hang the display loop."""
    import threading

    _sock, path = listener
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    results: list[bool] = []
    sender = threading.Thread(
        target=lambda: results.extend(notifier.watchdog() for _ in range(2000)), daemon=True)
    sender.start()
    sender.join(timeout=5)
    assert not sender.is_alive(), f"watchdog() blocked after {len(results)} pings"
    notifier.close()
    assert results[0] is True
    assert results[-1] is False  # dropped, not waited for
