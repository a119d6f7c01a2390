"""scripts/startup_time.py: the booth's start, timed from outside as systemd sees it."""

from __future__ import annotations

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
