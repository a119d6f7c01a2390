"""scripts/soak.py: the whole booth under steady use, measured for growth (a short run)."""

from __future__ import annotations

import socket
import tempfile

import pytest

from tests.conftest import ctrl_c_in_the_booth_at_step, load_script

soak = load_script("soak")


def test_resources_reads_this_process():
    before = soak.resources()
    with open(__file__) as _:
        assert soak.resources()["fds"] == before["fds"] + 1
    assert before["rss_mb"] > 10 and before["threads"] >= 1


def test_open_files_names_each_descriptor_and_sockets_by_their_ends(tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    unix = socket.socket(socket.AF_UNIX)
    with listener, unix, socket.create_connection(("127.0.0.1", port)) as client, \
            open(tmp_path / "held.txt", "w") as held:
        served, _ = listener.accept()
        with served:
            unix.bind(str(tmp_path / "booth.sock"))
            named = soak.open_files()
            client_port = client.getsockname()[1]
            assert named[str(listener.fileno())] == f"tcp 127.0.0.1:{port} LISTEN"
            assert named[str(client.fileno())] == (
                f"tcp 127.0.0.1:{client_port}->127.0.0.1:{port} ESTABLISHED")
            assert named[str(served.fileno())] == (
                f"tcp 127.0.0.1:{port}->127.0.0.1:{client_port} ESTABLISHED")
            assert named[str(unix.fileno())] == f"unix {tmp_path / 'booth.sock'}"
            assert named[str(held.fileno())] == str(tmp_path / "held.txt")
    assert str(tmp_path / "held.txt") not in soak.open_files().values()


def test_socket_names_reads_ipv6_and_udp_and_leaves_out_what_it_cannot_find(tmp_path):
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    v6_loopback = "00000000000000000000000001000000"  # ::1, each 32-bit word little-endian
    (tmp_path / "tcp6").write_text(
        header + f"   0: {v6_loopback}:1F90 00000000000000000000000000000000:0000 0A "
        "00000000:00000000 00:00000000 00000000  1000 0 4242 1 0 100 0 0 10 0\n")
    (tmp_path / "udp").write_text(
        header + "   0: 0100007F:0035 0201A8C0:0035 01 "
        "00000000:00000000 00:00000000 00000000  1000 0 77 2 0 0\n")
    (tmp_path / "unix").write_text("Num       RefCount Protocol Flags    Type St Inode Path\n"
                                   "0000: 00000002 00000000 00010000 0001 01 901 @notify\n"
                                   "0000: 00000003 00000000 00000000 0001 03 902\n")
    names = soak.socket_names(tmp_path)  # no tcp nor udp6 there: skipped
    assert names == {"4242": "tcp6 ::1:8080 LISTEN", "77": "udp 127.0.0.1:53->192.168.1.2:53",
                     "901": "unix @notify", "902": "unix (no name)"}


def test_fd_changes_names_what_was_opened_closed_or_reused():
    before = {"3": "/a.ttf", "4": "pipe:[1]", "5": "tcp 127.0.0.1:80 LISTEN"}
    after = {"3": "/a.ttf", "4": "/b.png", "5": "tcp 127.0.0.1:80 LISTEN", "6": "/c.ttf"}
    assert soak.fd_changes(before, after) == {"opened": ["4: /b.png", "6: /c.ttf"],
                                              "closed": ["4: pipe:[1]"]}
    assert soak.fd_changes(after, after) == {"opened": [], "closed": []}


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
    # a descriptor or two in use at the end; no more, but for a text size drawn for the first
    # time after the warm-up (the screen keeps each size's font file open: README)
    later = [what for what in report["files_after_warmup"]["opened"]
             if not what.endswith("freesansbold.ttf")]
    assert len(later) <= 2, later
    # what the files are, not only how many: the first sample lists all it found, each
    # later one what changed, and the end all that are open, the page's socket among them
    first = report["samples"][0]
    assert first["files_opened"] and first["files_closed"] == []
    assert all(set(sample) >= {"files_opened", "files_closed"} for sample in report["samples"])
    assert any(what.startswith("tcp 127.0.0.1:") and what.endswith(" LISTEN")
               for what in report["open_files_at_end"].values())
    assert set(report["files_after_warmup"]) == {"opened", "closed"}


def test_bad_arguments_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        soak.main(["--source", str(tmp_path / "nowhere")])
    assert exit_.value.code == 2 and "no such file or folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        soak.main(["--source", str(tmp_path), "--minutes", "0"])
    # growth was measured from the sample at 0 s, before the models load: 85 MiB of it
    with pytest.raises(SystemExit) as exit_:
        soak.main(["--source", str(tmp_path), "--minutes", "0.5"])
    assert exit_.value.code == 2 and "ends before the 60 s warm-up" in capsys.readouterr().err


def test_ctrl_c_gives_no_report_and_exit_130(replay_dir, tmp_path, monkeypatch, capsys):
    """The booth's loop takes Ctrl+C (and SIGTERM) as its stop; the soak used to go on to
    a report of the minutes it was asked for, its last sample from a stopped booth, and
    exit 0, so `--json > docs/soak-60min.json` kept a cut-short run as a whole one."""
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    ctrl_c_in_the_booth_at_step(monkeypatch, 50)
    assert soak.main(["--source", str(replay_dir), "--minutes", "5", "--json"]) == 130
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "interrupted, no report: stopped after" in captured.err
    assert "of 300 seconds" in captured.err
    assert list(temp.iterdir()) == []
