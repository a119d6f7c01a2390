"""`memoji-booth bench` on a short replay: every stage timed, the report complete."""

from __future__ import annotations

import json
import re
import shutil

from device.__main__ import main
from device.bench import STAGES, _percentile, _summary
from tests.conftest import ctrl_c_in_the_booth_at_step


def test_bench_json_reports_every_stage(replay_dir, capsys):
    assert main(["bench", "--source", str(replay_dir), "--frames", "20", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"source", "frames", "fps", "stages", "peak_rss_mb", "look_change_s"}
    assert report["source"] == str(replay_dir) and report["frames"] == 20
    assert report["fps"] > 0  # how fast is the machine's business: only that it was measured
    assert set(report["stages"]) == set(STAGES)
    for stage, values in report["stages"].items():
        assert 0 <= values["median_ms"] <= values["p95_ms"], stage
        assert values["samples"] <= 20, stage  # nothing from the warm-up frames
    assert report["stages"]["render"]["samples"] == report["stages"]["draw"]["samples"] == 20
    assert report["stages"]["detect"]["median_ms"] > 0
    assert report["stages"]["render"]["median_ms"] > 0
    assert 20 < report["peak_rss_mb"] < 2000
    assert report["look_change_s"] > 0


def test_bench_text_report(replay_dir, capsys):
    assert main(["bench", "--source", str(replay_dir), "--frames", "5"]) == 0
    out = capsys.readouterr().out
    for stage in STAGES:
        assert f"\n{stage}" in out
    assert "frames per second" in out and "peak RSS" in out and "look change" in out
    assert re.search(r"peak RSS: \d+\.\d MiB", out)  # ru_maxrss / 1024: MiB, not MB


def test_percentiles():
    values = [i / 1000 for i in range(1, 101)]
    assert _percentile(values, 0.95) == 0.095
    summary = _summary({"read": values})
    assert summary == {"read": {"median_ms": 50.5, "p95_ms": 95.0, "samples": 100}}


def test_a_camera_is_refused_for_bench(capsys):
    """A live camera paces the loop itself and its frames differ run to run: a bench of it
    reported 9 frames per second with no detect or classify stage, and exit 0."""
    assert main(["bench", "--source", "webcam", "--frames", "5"]) == 2
    assert "the bench measures a replay" in capsys.readouterr().err


def test_a_replay_named_like_a_camera_is_benched(replay_dir, tmp_path, monkeypatch, capsys):
    shutil.copytree(replay_dir, tmp_path / "webcam-replay")
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--source", "webcam-replay", "--frames", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 3


def test_ctrl_c_gives_no_report_and_exit_130(replay_dir, monkeypatch, capsys):
    """The booth's loop takes Ctrl+C as its stop; the bench used to report the frames it
    was asked for over the time it ran (30,508 frames per second) and exit 0."""
    ctrl_c_in_the_booth_at_step(monkeypatch, 8)
    assert main(["bench", "--source", str(replay_dir), "--frames", "200"]) == 130
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "interrupted: stopped after" in captured.err and "of 200 frames" in captured.err
