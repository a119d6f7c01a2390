"""The memoji-booth command line, through main([...]) and one real subprocess."""

from __future__ import annotations

import errno
import io
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from device.__main__ import main
from tests.conftest import write_rgb_png
from tests.fer_frames import face_square_in_frame, make_background, make_frame

REPO = Path(__file__).resolve().parents[1]


def write_config(tmp_path: Path, text: str = "") -> Path:
    path = tmp_path / "booth.toml"
    path.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n'
                    "[web]\nenabled = false\n[button]\nenabled = false\n" + text)
    return path


@pytest.fixture
def images(tmp_path, clear_fer_faces) -> dict[str, Path]:
    """happy, surprise, a frame without a face, and a file that is not an image."""
    import cv2

    folder = tmp_path / "images"
    folder.mkdir()
    paths = {}
    for label in ("happy", "surprise"):
        face = next(f for lbl, f in clear_fer_faces if lbl == label)
        paths[label] = write_rgb_png(folder / f"{label}.png", make_frame(face))
    paths["noface"] = write_rgb_png(folder / "noface.png",
                                    cv2.cvtColor(make_background(seed=3), cv2.COLOR_GRAY2RGB))
    paths["broken"] = folder / "broken.jpg"
    paths["broken"].write_bytes(b"not a jpeg")
    return paths


def test_config_prints_the_default_settings(capsys):
    from device.config import default_toml

    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert out == default_toml()
    assert tomllib.loads(out)["booth"]["countdown_s"] == 3


def test_config_check_loads_the_settings_and_their_models(tmp_path, capsys):
    good = write_config(tmp_path)
    assert main(["config", "--check", str(good)]) == 0
    assert capsys.readouterr().out.strip() == f"{good}: the settings are valid and the models load"
    no_model = write_config(tmp_path, f'[model]\npath = "{tmp_path / "gone.tflite"}"\n')
    assert main(["config", "--check", str(no_model)]) == 2
    err = capsys.readouterr().err
    assert f"Expression model not found: {tmp_path / 'gone.tflite'}. Check `model.path`" in err
    assert "Reinstall" not in err  # the package is fine; the setting names a missing file
    assert "Traceback" not in err
    typo = write_config(tmp_path, "[booth]\ncountdwn_s = 3\n")
    assert main(["config", "--check", str(typo)]) == 2
    assert "booth.countdwn_s" in capsys.readouterr().err


def test_classify_json_one_line_per_image_and_exit_1_for_unreadable(images, capsys):
    order = ["happy", "broken", "noface", "surprise"]
    code = main(["classify", "--json", *(str(images[name]) for name in order)])
    captured = capsys.readouterr()
    assert code == 1  # the unreadable image; the others were still processed
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [line["path"] for line in lines] == [str(images[n]) for n in ("happy", "noface",
                                                                         "surprise")]
    happy, noface, surprise = lines
    assert noface["faces"] == []
    for result, label in ((happy, "happy"), (surprise, "surprise")):
        face = result["faces"][0]
        assert face["label"] == label
        assert set(face["scores"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise",
                                       "neutral"}
        assert face["scores"][label] == max(face["scores"].values())
        x, y, w, h = face["box"]
        tx, ty, tw, th = face_square_in_frame()
        assert tx <= x + w / 2 <= tx + tw and ty <= y + h / 2 <= ty + th
    assert "broken.jpg" in captured.err and "Traceback" not in captured.err


def test_classify_human_readable(images, capsys):
    assert main(["classify", str(images["happy"]), str(images["noface"])]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{images['happy']}: happy ")
    assert out[1] == f"{images['noface']}: no face found"


def test_missing_model_exits_2_with_the_message(tmp_path, images, capsys):
    config = write_config(tmp_path, f'[model]\npath = "{tmp_path / "gone.tflite"}"\n')
    assert main(["classify", "--config", str(config), str(images["happy"])]) == 2
    err = capsys.readouterr().err
    assert "gone.tflite" in err and "Traceback" not in err
    assert main(["bench", "--config", str(config), "--source", str(images["happy"]),
                 "--frames", "2"]) == 2
    assert "gone.tflite" in capsys.readouterr().err


def test_bad_setting_exits_2_naming_it(tmp_path, capsys):
    config = write_config(tmp_path, "[booth]\ncountdown = 3\n")
    assert main(["run", "--config", str(config), "--display", "none", "--frames", "1"]) == 2
    err = capsys.readouterr().err
    assert "booth.countdown" in err and err.count("\n") == 1


def test_camera_that_cannot_be_opened_exits_2(tmp_path, capsys):
    config = write_config(tmp_path)
    folder = tmp_path / "empty-replay"
    folder.mkdir()
    (folder / "x.png").write_bytes(b"not a png")  # a replay folder with nothing readable
    assert main(["run", "--config", str(config), "--source", str(folder), "--display", "none",
                 "--frames", "1"]) == 2
    err = capsys.readouterr().err
    assert str(folder) in err and "Traceback" not in err


def test_run_bounded_on_a_replay(tmp_path, images):
    config = write_config(tmp_path)
    assert main(["run", "--config", str(config), "--source", str(images["happy"]),
                 "--display", "none", "--frames", "5"]) == 0


def test_render_writes_a_png(tmp_path, capsys):
    from device.avatar import PRESETS
    from device.gallery import read_png_text  # noqa: F401  (PNG helpers live there)

    out = tmp_path / "surprised.png"
    look = tmp_path / "look.json"
    look.write_text(json.dumps(PRESETS["female"].to_dict()))
    assert main(["render", "--expression", "surprise", "--look", str(look), "--size", "128",
                 "--out", str(out)]) == 0
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image.shape[:2] == (128, 128) and image.std() > 10


@pytest.mark.parametrize("size", ["0", "100000"])
def test_render_size_out_of_range_is_a_usage_error(tmp_path, capsys, size):
    with pytest.raises(SystemExit) as caught:
        main(["render", "--expression", "happy", "--size", size, "--out", str(tmp_path / "x.png")])
    assert caught.value.code == 2 and "--size" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("argv", [["run", "--frames", "ten"], ["bench", "--source", ".", "--frames", "1.5"],
                                  ["render", "--expression", "happy", "--out", "x.png", "--size", "big"]])
def test_a_count_that_is_not_a_number_says_so_in_words(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    error = capsys.readouterr().err
    assert caught.value.code == 2 and "must be a whole number, got '" in error, error
    assert "_positive_int" not in error and "_render_size" not in error


def test_render_with_a_bad_look_exits_2(tmp_path, capsys):
    look = tmp_path / "look.json"
    look.write_text(json.dumps({"hair_color": "PLAID"}))
    assert main(["render", "--expression", "happy", "--look", str(look),
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "hair_color" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_render_into_a_missing_folder_exits_2_naming_the_file(tmp_path, capsys):
    out = tmp_path / "no" / "such" / "x.png"
    assert main(["render", "--expression", "happy", "--size", "64", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"memoji-booth: cannot write {out}: ") and "Traceback" not in error


def test_render_writes_into_a_pipe_and_through_a_link_and_never_replaces_either(tmp_path,
                                                                              capsys):
    """`--out /dev/stdout` (a link to a pipe) or `--out /dev/null`: replacing the path, as a
    plain file is, would put a file where the link or device was (for root, in /dev)."""
    import os
    import stat

    real = tmp_path / "real.png"
    real.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(real.name)
    assert main(["render", "--expression", "happy", "--size", "64", "--out", str(link)]) == 0
    assert link.is_symlink() and real.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert capsys.readouterr().out == f"{link}\n"  # where it went
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a 64-pixel memoji fits a pipe's buffer
    try:
        assert main(["render", "--expression", "happy", "--size", "64", "--out", str(fifo)]) == 0
        assert stat.S_ISFIFO(fifo.stat().st_mode)
        assert os.read(reader, 1 << 16).startswith(b"\x89PNG\r\n\x1a\n")
    finally:
        os.close(reader)
    assert capsys.readouterr().out == ""  # nothing after the PNG, were the pipe stdout


def test_render_through_a_link_to_a_file_replaces_that_file_whole(tmp_path, monkeypatch,
                                                                    capsys):
    """Written in place through the link, a write cut short (a full card) left the file the
    link names cut short too; replaced whole, it stays as it was."""
    from device import storage

    real = tmp_path / "real.png"
    real.write_bytes(b"an earlier memoji")
    link = tmp_path / "link.png"
    link.symlink_to(real.name)

    def full(path, data, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(storage, "atomic_write_bytes", full)
    assert main(["render", "--expression", "happy", "--size", "64", "--out", str(link)]) == 2
    assert real.read_bytes() == b"an earlier memoji" and link.is_symlink()
    assert capsys.readouterr().err == (
        f"memoji-booth: cannot write {link}: No space left on device\n")


def test_render_to_a_path_it_cannot_look_at_is_one_line(tmp_path, capsys):
    """Looking at the path (is it a link?) raised outside the write's error handling: a
    name too long, or a folder the user may not read, printed a traceback."""
    out = tmp_path / ("a" * 300 + ".png")
    assert main(["render", "--expression", "happy", "--size", "64", "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"memoji-booth: cannot write {out}: File name too long\n"


def run_five_frames(tmp_path, images, settings: str) -> int:
    """`memoji-booth run` for five frames of a replayed face with these settings."""
    config = tmp_path / "booth.toml"
    config.write_text(settings)
    return main(["run", "--config", str(config), "--source", str(images["happy"]),
                 "--display", "none", "--frames", "5"])


def test_run_with_a_data_folder_it_cannot_write_exits_2_before_starting(tmp_path, images,
                                                                       capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a file where a folder should be: no permission games needed as root
    assert run_five_frames(tmp_path, images, f'[storage]\ndata_dir = "{blocker / "data"}"\n'
                           "[web]\nenabled = false\n[button]\nenabled = false\n") == 2
    err = capsys.readouterr().err
    assert f"memoji-booth: cannot use the data folder {blocker / 'data'}: " in err
    assert "storage.data_dir" in err and "Traceback" not in err


def test_a_second_booth_on_the_same_data_folder_exits_2_and_touches_nothing(tmp_path, images,
                                                                           capsys):
    """The service runs while the operator starts one by hand (the README's Troubleshooting)."""
    import fcntl
    import os

    from device.__main__ import DATA_FOLDER_LOCK

    data = tmp_path / "data"
    (data / "gallery").mkdir(parents=True)
    saved = data / "gallery" / "memoji-20260101T000000000000Z-happy.png"
    saved.write_bytes(b"a guest's memoji")
    settings = (f'[storage]\ndata_dir = "{data}"\nkeep = 1\n'
                "[web]\nenabled = false\n[button]\nenabled = false\n")
    first = os.open(data / DATA_FOLDER_LOCK, os.O_RDONLY | os.O_CREAT)
    try:
        fcntl.flock(first, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the booth already running
        assert run_five_frames(tmp_path, images, settings) == 2
    finally:
        os.close(first)
    error = capsys.readouterr().err
    assert f"another memoji-booth is already running with the data folder {data}" in error
    assert "sudo systemctl stop memoji-booth" in error and "Traceback" not in error
    assert saved.read_bytes() == b"a guest's memoji"
    assert sorted(p.name for p in data.iterdir()) == [DATA_FOLDER_LOCK, "gallery"]
    assert run_five_frames(tmp_path, images, settings) == 0  # the first one gone: it starts


def test_the_data_folder_lock_is_not_opened_through_a_link(tmp_path):
    """The data folder is the service user's: a link it put in place of the lock file must
    not make a root run create the link's target, and the booth still starts."""
    from device.__main__ import DATA_FOLDER_LOCK, sole_booth_on

    data = tmp_path / "data"
    data.mkdir()
    target = tmp_path / "etc" / "nologin"
    target.parent.mkdir()
    (data / DATA_FOLDER_LOCK).symlink_to(target)
    with sole_booth_on(data) as alone:
        assert alone
    assert not target.exists()


def test_a_data_folder_the_service_may_not_write_says_how_to_allow_it(tmp_path, images, capsys,
                                                                   monkeypatch):
    """ProtectSystem=strict makes a USB stick read-only to the service (EROFS), not to root."""
    import errno
    import os

    from device import storage

    def read_only(path, data, mode=0o644):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(storage, "atomic_write_bytes", read_only)
    settings = (f'[storage]\ndata_dir = "{tmp_path / "stick"}"\n'
                "[web]\nenabled = false\n[button]\nenabled = false\n")
    monkeypatch.delenv("INVOCATION_ID", raising=False)
    assert run_five_frames(tmp_path, images, settings) == 2
    by_hand = capsys.readouterr().err
    assert "Read-only file system" in by_hand and "systemctl edit" not in by_hand
    assert ".write-test" not in by_hand  # the folder is named, not the file that tested it
    monkeypatch.setenv("INVOCATION_ID", "0123456789abcdef")  # what systemd sets
    assert run_five_frames(tmp_path, images, settings) == 2
    error = capsys.readouterr().err
    assert "cannot use the data folder" in error and "Read-only file system" in error
    assert "sudo systemctl edit memoji-booth" in error and "ReadWritePaths=" in error, error


def test_run_with_a_login_key_it_cannot_read_exits_2_naming_it(tmp_path, images, capsys):
    """It was logged as a taken port, and the booth ran without its page."""
    data = tmp_path / "data"
    (data / "secret_key").mkdir(parents=True)  # unreadable as a file, even to root
    assert run_five_frames(tmp_path, images, f'[storage]\ndata_dir = "{data}"\n'
                           '[button]\nenabled = false\n[web]\nhost = "127.0.0.1"\nport = 1\n') == 2
    err = capsys.readouterr().err
    assert f"cannot use the data folder {data}: " in err and f"({data / 'secret_key'})" in err
    assert "port" not in err and "Traceback" not in err


def test_web_on_a_port_in_use_exits_2_with_one_line(tmp_path, capsys):
    import socket

    config = tmp_path / "empty.toml"
    config.write_text("")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["web", "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
                     "--data-dir", str(tmp_path / "data")]) == 2
    error = capsys.readouterr().err
    assert f"memoji-booth: cannot serve on 127.0.0.1:{port}: " in error
    assert "another program uses that port" in error and "--port or web.port" in error, error


def test_web_on_an_address_not_of_this_machine_says_which_to_use(tmp_path, capsys):
    config = tmp_path / "empty.toml"
    config.write_text("")
    assert main(["web", "--config", str(config), "--host", "203.0.113.77", "--port", "8000",
                 "--data-dir", str(tmp_path / "data")]) == 2  # TEST-NET-3: documentation only
    error = capsys.readouterr().err
    assert "cannot serve on 203.0.113.77:8000" in error and "use 0.0.0.0" in error, error


def test_web_with_a_data_folder_it_cannot_make_exits_2(tmp_path, capsys):
    config = tmp_path / "empty.toml"
    config.write_text("")
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a file where a folder should be: no permission games needed as root
    assert main(["web", "--config", str(config), "--data-dir", str(blocker / "data")]) == 2
    error = capsys.readouterr().err
    assert f"memoji-booth: cannot use the data folder {blocker / 'data'}" in error
    assert "set storage.data_dir to a folder this user can write" in error, error


@pytest.mark.parametrize("command", [
    ["config", "--check"],
    ["run", "--display", "none", "--frames", "1", "--config"],
    ["web", "--config"],
])
def test_a_data_folder_under_the_home_of_no_such_user_exits_2_naming_the_key(
        tmp_path, capsys, command, no_such_user):
    """`~nobody/memojis` raised pathlib's RuntimeError: a traceback from all three."""
    config = tmp_path / "booth.toml"
    config.write_text(f'[storage]\ndata_dir = "~{no_such_user}/memojis"\n'
                      "[web]\nenabled = false\n[button]\nenabled = false\n")
    assert main([*command, str(config)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"memoji-booth: {config}: storage.data_dir: '~{no_such_user}/memojis' "
                            f"is not allowed: there is no user {no_such_user} on this machine")
    assert error.count("\n") == 1 and "Traceback" not in error, error


def test_unknown_expression_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["render", "--expression", "smug", "--out", str(tmp_path / "x.png")])
    assert exit_info.value.code == 2
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_python_m_device_classify_json_subprocess(images):
    result = subprocess.run(
        [sys.executable, "-m", "device", "classify", "--json", str(images["happy"])],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout.strip())
    assert line["path"] == str(images["happy"]) and line["faces"][0]["label"] == "happy"


def test_web_subcommand_serves_the_page_alone(tmp_path):
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "empty.toml"
    config.write_text("")
    server = subprocess.Popen(
        [sys.executable, "-m", "device", "web", "--config", str(config), "--host", "127.0.0.1",
         "--port", str(port), "--data-dir", str(tmp_path / "data")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5) as r:
                    status = json.loads(r.read())
                break
            except OSError as error:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"the web server did not answer: {server.stderr.read()}") from error
                time.sleep(0.2)
        assert status["running"] is False  # no booth in this process
    finally:
        server.terminate()
        server.wait(timeout=10)


def _stderr_as_the_journal(tmp_path: Path, code: str) -> str:
    """Run `code` with stderr a file that $JOURNAL_STREAM names, as systemd does for the
    service (StandardError=journal): what journald would read."""
    import os

    out = tmp_path / "journal.txt"
    out.touch()
    stat = out.stat()
    env = {**os.environ, "JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}", "INVOCATION_ID": "x"}
    with out.open("w") as stderr:
        subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, stderr=stderr, check=False,
                       timeout=120)
    return out.read_text()


def test_under_the_journal_each_line_carries_its_priority(tmp_path):
    """Every line went in as "info": `journalctl -p warning` found nothing, and errors were
    not in colour. A traceback's lines carry its priority too."""
    text = _stderr_as_the_journal(tmp_path, (
        "import logging\n"
        "from device.__main__ import setup_logging\n"
        "setup_logging(False)\n"
        "log = logging.getLogger('device.app')\n"
        "log.info('saved a memoji')\n"
        "log.warning('camera lost')\n"
        "try:\n    1 / 0\n"
        "except ZeroDivisionError:\n    log.exception('a bug')\n"))
    lines = text.splitlines()
    assert lines[:3] == ["<6>INFO: saved a memoji", "<4>WARNING: camera lost", "<3>ERROR: a bug"]
    assert len(lines) > 4 and all(line.startswith("<3>") for line in lines[3:])  # the traceback


def test_a_crash_under_the_journal_is_an_error_there_every_line_of_it(tmp_path):
    """A bug that ends the service, and one that ends a thread (the web page's loop), went
    to the journal as Python's plain traceback: "info", which `journalctl -p warning` hides."""
    text = _stderr_as_the_journal(tmp_path, (
        "import threading, device.__main__ as cli\n"
        "def crash():\n    raise ZeroDivisionError('in a thread')\n"
        "def cmd_config(args):  # a command with a bug\n"
        "    thread = threading.Thread(target=crash, name='memoji-web')\n"
        "    thread.start()\n    thread.join()\n"
        "    raise ZeroDivisionError('in the booth')\n"
        "cli.cmd_config = cmd_config\n"
        "raise SystemExit(cli.main(['config']))\n"))
    lines = text.splitlines()
    assert "ZeroDivisionError: in a thread" in text and "ZeroDivisionError: in the booth" in text
    assert lines and all(line.startswith(("<2>", "<3>")) for line in lines), text


def test_a_bad_setting_that_stops_the_service_is_an_error_in_the_journal(tmp_path):
    config = write_config(tmp_path, "[camera]\nsorce = 'auto'\n")
    text = _stderr_as_the_journal(
        tmp_path, f"from device.__main__ import main; main(['config', '--check', {str(config)!r}])")
    assert text.startswith("<3>memoji-booth: ") and "camera.sorce: unknown setting" in text


def test_a_web_page_that_cannot_start_is_an_error_in_the_journal(tmp_path):
    """`web`'s own exit-2 lines (port in use, data folder unusable) went in as "info"."""
    config = write_config(tmp_path)
    text = _stderr_as_the_journal(tmp_path, (
        "import socket\n"
        "taken = socket.socket()\n"
        "taken.bind(('127.0.0.1', 0))\n"
        "taken.listen()\n"
        "from device.__main__ import main\n"
        f"main(['web', '--config', {str(config)!r}, '--host', '127.0.0.1', "
        "'--port', str(taken.getsockname()[1])])\n"))
    [line] = [line for line in text.splitlines() if "memoji-booth:" in line]
    assert line.startswith("<3>memoji-booth: cannot serve on 127.0.0.1:"), text


def test_the_log_names_no_module_unless_verbose(capsys, monkeypatch):
    import logging

    from device.__main__ import setup_logging

    for name in ("JOURNAL_STREAM", "INVOCATION_ID"):  # a terminal's format, with the time
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers = []  # as in a fresh process
    try:
        for verbose in (False, True):
            setup_logging(verbose)
            logging.getLogger("device.app").warning("camera lost")
            root.handlers = []
    finally:
        root.handlers = handlers
        root.setLevel(level)
    quiet, loud = capsys.readouterr().err.splitlines()
    assert quiet.endswith(" WARNING: camera lost") and "device.app" not in quiet
    assert loud.endswith(" WARNING device.app: camera lost")


def booth_data_with_memojis(tmp_path, count=2):
    """A data folder as a day at an event leaves it: memojis with camera photos and
    thumbnails, the look, the login key; and its settings file."""
    import numpy as np

    from device.avatar import DEFAULT_LOOK, render_png
    from device.gallery import Gallery

    data = tmp_path / "data"
    gallery = Gallery(data / "gallery", keep=100)
    for _ in range(count):
        entry = gallery.save(render_png(DEFAULT_LOOK, "happy", 64), expression="happy", score=0.5,
                             look=DEFAULT_LOOK.to_dict(), photo=np.zeros((8, 8, 3), np.uint8))
        gallery.thumb_of(entry.name)
    (data / "look.json").write_text("{}")
    (data / "secret_key").write_bytes(b"k" * 32)
    settings = tmp_path / "config.toml"
    settings.write_text(f'[storage]\ndata_dir = "{data}"\n')
    return data, settings


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


class Terminal(io.StringIO):
    """stdin as a person at the keyboard: a terminal, with what they type."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("typed", ["", "3\n", "yes\n"])
def test_erase_asks_for_the_number_of_memojis_and_erases_nothing_without_it(tmp_path, capsys,
                                                                            monkeypatch, typed):
    data, settings = booth_data_with_memojis(tmp_path)
    before = files_under(data / "gallery")
    monkeypatch.setattr("sys.stdin", Terminal(typed))
    assert main(["erase", "--config", str(settings)]) == 1
    out = capsys.readouterr().out
    assert f"This deletes the 2 memojis in {data / 'gallery'}, with their 2 camera photos" in out
    assert "nothing was erased" in out and files_under(data / "gallery") == before


def test_erase_removes_every_memoji_photo_and_thumbnail_and_keeps_the_rest(tmp_path, capsys,
                                                                          monkeypatch):
    from device.__main__ import DATA_FOLDER_LOCK

    data, settings = booth_data_with_memojis(tmp_path)
    monkeypatch.setattr("sys.stdin", Terminal("2\n"))
    assert main(["erase", "--config", str(settings)]) == 0
    assert (f"erased 2 memojis and 2 camera photos from {data / 'gallery'}"
            in capsys.readouterr().out)
    assert files_under(data) == sorted([DATA_FOLDER_LOCK, "look.json", "secret_key"])


def test_erase_without_a_terminal_needs_yes(tmp_path, capsys, monkeypatch):
    import io

    data, settings = booth_data_with_memojis(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("2\n"))  # a pipe, a cron job
    assert main(["erase", "--data-dir", str(data)]) == 1
    assert "add --yes" in capsys.readouterr().err and len(files_under(data / "gallery")) == 6
    assert main(["erase", "--data-dir", str(data), "--yes"]) == 0
    assert files_under(data / "gallery") == []


def test_erase_refuses_while_the_booth_runs_on_the_data_folder(tmp_path, capsys):
    import fcntl
    import os

    from device.__main__ import DATA_FOLDER_LOCK

    data, settings = booth_data_with_memojis(tmp_path)
    before = files_under(data / "gallery")
    running = os.open(data / DATA_FOLDER_LOCK, os.O_RDONLY | os.O_CREAT)
    try:
        fcntl.flock(running, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main(["erase", "--config", str(settings), "--yes"]) == 2
    finally:
        os.close(running)
    error = capsys.readouterr().err
    assert f"the booth is running with the data folder {data}" in error
    assert "sudo systemctl stop memoji-booth" in error and "Delete all" in error
    assert files_under(data / "gallery") == before


def test_erase_of_a_folder_with_no_gallery_says_so(tmp_path, capsys):
    assert main(["erase", "--data-dir", str(tmp_path / "never-used"), "--yes"]) == 0
    assert "no memojis to erase" in capsys.readouterr().out
    assert not (tmp_path / "never-used").exists()


def test_erase_asks_with_the_folder_unlocked_and_erases_only_what_it_counted(tmp_path, capsys,
                                                                            monkeypatch):
    """An answer left waiting held the data folder's lock: the service could not start (and
    said another booth was running), and a memoji `memoji-booth web` saved meanwhile, never
    counted, was erased with the rest."""
    import fcntl
    import os

    import numpy as np

    from device.__main__ import DATA_FOLDER_LOCK
    from device.avatar import DEFAULT_LOOK, render_png
    from device.gallery import Gallery

    data, settings = booth_data_with_memojis(tmp_path)
    asked = {}

    class Asked(Terminal):
        def readline(self, *args):
            lock = os.open(data / DATA_FOLDER_LOCK, os.O_RDONLY)
            try:  # the service starting meanwhile
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                asked["lock_free"] = True
            except BlockingIOError:
                asked["lock_free"] = False
            finally:
                os.close(lock)
            asked["saved"] = Gallery(data / "gallery", keep=100).save(  # a phone's photo, by `web`
                render_png(DEFAULT_LOOK, "sad", 64), expression="sad", score=0.5,
                look=DEFAULT_LOOK.to_dict(), photo=np.zeros((8, 8, 3), np.uint8))
            return super().readline(*args)

    monkeypatch.setattr("sys.stdin", Asked("2\n"))
    assert main(["erase", "--config", str(settings)]) == 0
    assert asked["lock_free"] is True
    assert "erased 2 memojis and 2 camera photos" in capsys.readouterr().out
    saved = asked["saved"]
    assert files_under(data / "gallery") == sorted([saved.name, saved.photo_name])


# A udev rule of the operator's own names the webcam so; it is gone while the webcam is unplugged.
OWN_CAMERA_LINK = "/dev/booth-camera"


def test_erase_and_web_need_no_camera_plugged_in(tmp_path, capsys, monkeypatch):
    """They never open the camera: with the settings' own udev link gone (the webcam
    unplugged at the end of an event) they refused to start, so the gallery stayed."""
    import device.webui

    assert not Path(OWN_CAMERA_LINK).exists()
    data, settings = booth_data_with_memojis(tmp_path)
    settings.write_text(settings.read_text() + f'[camera]\nsource = "{OWN_CAMERA_LINK}"\n')
    assert main(["erase", "--config", str(settings), "--yes"]) == 0, capsys.readouterr().err
    assert "erased 2 memojis" in capsys.readouterr().out
    assert files_under(data / "gallery") == []
    served = []
    monkeypatch.setattr(device.webui, "serve", lambda app, host, port: served.append(port))
    assert main(["web", "--config", str(settings), "--host", "127.0.0.1", "--port", "8123"]) == 0
    assert served == [8123], capsys.readouterr().err


def test_run_and_config_check_still_refuse_the_camera_link_that_is_not_there(tmp_path, capsys):
    config = write_config(tmp_path, f'[camera]\nsource = "{OWN_CAMERA_LINK}"\n')
    for command in (["config", "--check"],
                    ["run", "--display", "none", "--frames", "1", "--config"]):
        assert main([*command, str(config)]) == 2
        error = capsys.readouterr().err
        assert f"camera.source: '{OWN_CAMERA_LINK}' is not allowed (no such file" in error, error


def test_classify_and_bench_need_no_camera_plugged_in(tmp_path, images, capsys):
    """classify reads image files, bench its --source: the settings' camera is never opened."""
    config = write_config(tmp_path, f'[camera]\nsource = "{OWN_CAMERA_LINK}"\n')
    assert main(["classify", "--config", str(config), str(images["happy"])]) == 0
    assert "happy" in capsys.readouterr().out
    assert main(["bench", "--config", str(config), "--source", str(images["happy"]),
                 "--frames", "2", "--json"]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["frames"] == 2


@pytest.mark.parametrize("text, said", [
    (f'keep = 0\n[camera]\nsource = "{OWN_CAMERA_LINK}"\n', "storage.keep: 0 is not allowed"),
    ("[camera]\nsource = /dev/video0\n", "not valid TOML"),
    ("[camera]\nsource = 0\n", "camera.source: expected a string, got 0"),
])
def test_erase_still_checks_the_settings_file(tmp_path, capsys, text, said):
    data, settings = booth_data_with_memojis(tmp_path)
    before = files_under(data / "gallery")
    settings.write_text(settings.read_text() + text)
    assert main(["erase", "--config", str(settings), "--yes"]) == 2
    error = capsys.readouterr().err
    assert said in error and error.count("\n") == 1, error
    assert files_under(data / "gallery") == before


def test_erase_says_how_many_of_the_memojis_it_counts_are_damaged(tmp_path, capsys, monkeypatch):
    """Counted and erased, as the page's "Delete all": a damaged memoji may hold a face too."""
    data, settings = booth_data_with_memojis(tmp_path)
    damaged = data / "gallery" / "memoji-20200101-000000-000000-happy.png"
    damaged.write_bytes(b"not a png")
    damaged.with_name(damaged.name.replace(".png", "-photo.jpg")).write_bytes(b"a guest's face")
    monkeypatch.setattr("sys.stdin", Terminal("3\n"))
    assert main(["erase", "--config", str(settings)]) == 0
    out = capsys.readouterr().out
    assert (f"This deletes the 3 memojis in {data / 'gallery'} (1 of them damaged: the gallery "
            "cannot show it), with their 3 camera photos and their thumbnails" in out), out
    assert "erased 3 memojis and 3 camera photos" in out and files_under(data / "gallery") == []
