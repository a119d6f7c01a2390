"""scripts/startup_time.py: the booth's start, timed from outside as systemd sees it."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import load_script, write_rgb_png

startup_time = load_script("startup_time")


@pytest.fixture
def one_frame(tmp_path) -> Path:
    folder = tmp_path / "replay"
    folder.mkdir()
    write_rgb_png(folder / "frame.png", np.full((480, 640, 3), 90, np.uint8))
    return folder


def test_a_start_is_timed_to_the_page_ready_and_the_memojis(one_frame, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    startup_time.fill_gallery(data_dir, 2)
    run = startup_time.time_one_start(one_frame, data_dir)
    assert "log" not in run and run["exit"] == 0  # SIGTERM ends it as `systemctl stop` does
    for mark in ("web", "ready", "memojis", "gallery_request"):
        assert 0 < run[mark] < 60, mark
    assert len(list((data_dir / "gallery" / ".thumbs").iterdir())) == 2
    kept = data_dir / ".cache" / "memojis"
    assert len(list(kept.glob("*.png"))) == 7  # the next start reads them
    startup_time.forget_drawn_memojis(data_dir)  # --draw-memojis: as with a new look
    assert not kept.exists()


def test_a_start_that_fails_is_reported_with_its_log(tmp_path):
    empty = tmp_path / "replay"
    empty.mkdir()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    run = startup_time.time_one_start(empty, data_dir)
    assert run["exit"] == 2 and "ready" not in run
    assert "no readable image" in run["log"]


def test_medians_leave_out_the_runs_that_missed_a_mark():
    runs = [{"web": 1.0, "ready": 2.0}, {"web": 3.0}, {"web": 2.0, "ready": 4.0}]
    assert startup_time.medians(runs) == {"web": 2.0, "ready": 3.0}


def test_a_missing_source_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        startup_time.main(["--source", str(tmp_path / "nowhere")])
    assert exit_.value.code == 2 and "no such file or folder" in capsys.readouterr().err


def test_sigterm_stops_the_booth_it_started_and_removes_its_folder(one_frame, tmp_path,
                                                                    monkeypatch, capsys):
    """Killed by SIGTERM (a `timeout`, a closed session), the script used to die at once,
    leaving the booth it had started running and the temporary data folder behind."""
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    booths = []
    real_popen, real_urlopen = subprocess.Popen, urllib.request.urlopen

    def popen(*args, **kwargs):
        booths.append(real_popen(*args, **kwargs))
        return booths[-1]

    def urlopen(*args, **kwargs):  # the booth is started: SIGTERM the script now
        os.kill(os.getpid(), signal.SIGTERM)
        return real_urlopen(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", popen)
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    ignore = signal.signal(signal.SIGTERM, lambda *_: None)  # unfixed, not pytest's death
    try:
        code = startup_time.main(["--source", str(one_frame), "--runs", "1"])
        left_running = [booth for booth in booths if booth.poll() is None]
    finally:
        handler = signal.signal(signal.SIGTERM, ignore)
        for booth in booths:
            if booth.poll() is None:
                booth.kill()
                booth.wait()
    assert code == 130 and "interrupted" in capsys.readouterr().err
    assert len(booths) == 1 and left_running == []
    assert list(temp.iterdir()) == []
    assert handler is not startup_time._interrupt  # the one it found, put back
