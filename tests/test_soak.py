"""scripts/soak.py: the whole booth under steady use, measured for growth (a short run)."""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "soak.py"
_spec = importlib.util.spec_from_file_location("soak", SCRIPT)
soak = importlib.util.module_from_spec(_spec)
sys.modules["soak"] = soak
_spec.loader.exec_module(soak)


def test_resources_reads_this_process():
    before = soak.resources()
    with open(__file__) as _:
        assert soak.resources()["fds"] == before["fds"] + 1
    assert before["rss_mb"] > 10 and before["threads"] >= 1


def test_a_short_soak_uses_the_booth_like_guests_and_samples_it(replay_dir, tmp_path,
                                                                monkeypatch):
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # where its data folder goes
    report = soak.soak(replay_dir, minutes=0.2, every=2, capture_every=2, warmup_s=4)
    assert list(temp.iterdir()) == []  # the memojis it saved were removed with their folder
    assert report["request_errors"] == 0 and report["requests"] >= 20
    assert report["captures_started"] >= 2 and report["saved_now"] >= 1
    assert report["frames"] > 100
    times = [sample["t_s"] for sample in report["samples"]]
    assert len(times) >= 5 and times == sorted(times) and times[-1] >= 11
    assert report["after_warmup"]["t_s"] >= 4
    assert set(report["growth_after_warmup"]) == {"rss_mb", "threads", "fds"}
    assert report["end"]["fds"] - report["after_warmup"]["fds"] <= 2


def test_bad_arguments_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        soak.main(["--source", str(tmp_path / "nowhere")])
    assert exit_.value.code == 2 and "no such file or folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        soak.main(["--source", str(tmp_path), "--minutes", "0"])
