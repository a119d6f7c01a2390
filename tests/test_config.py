"""Settings: defaults, strict validation with messages that name the key and file, docs from the schema."""

import dataclasses
import re
import stat
import tomllib
from pathlib import Path

import pytest

from device import config as config_module
from device.config import (
    CONFIG_ENV_VAR,
    SETTINGS,
    ConfigError,
    default_config,
    default_toml,
    load_config,
    settings_markdown,
)


def write(tmp_path, text, name="booth.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_match_the_architecture_table(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    config = load_config()
    assert config.path is None
    assert config.camera.source == "auto"
    assert (config.camera.width, config.camera.height) == (640, 480)
    assert (config.camera.detect_width, config.camera.detect_height) == (320, 240)
    assert config.display.mode == "auto"
    assert (config.display.window_width, config.display.window_height) == (1024, 600)
    assert config.detector.min_score == 0.6
    assert config.model.path == "" and config.model.smoothing_s == 0.15
    assert config.button.enabled is True and config.button.pin == 17 and config.button.led_pin == 0
    assert config.button.bounce_s == 0.05
    assert config.booth.countdown_s == 3 and config.booth.save_photo is False
    assert config.storage.data_dir == tmp_path / ".local/share/memoji-booth"  # ~ expanded
    assert config.storage.keep == 1000
    assert config.web.enabled is True and config.web.host == "0.0.0.0" and config.web.port == 8000
    assert config.web.pin == "" and config.web.max_upload_mb == 10


def test_default_toml_parses_back_into_the_defaults(tmp_path):
    text = default_toml()
    path = write(tmp_path, text)
    assert dataclasses.replace(load_config(path), path=None) == default_config()
    document = tomllib.loads(text)
    for setting in SETTINGS:
        assert setting.key in document[setting.section], setting.name
        assert f"# {setting.help}" in text, setting.name


def test_settings_markdown_has_a_row_per_setting():
    table = settings_markdown()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == len(SETTINGS)
    for setting in SETTINGS:
        assert f"`{setting.name}`" in table


def test_schema_names_are_unique_and_defaults_valid():
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    for setting in SETTINGS:
        assert setting.help
        config_module._validate(setting, setting.default, "schema")


def test_file_values_are_used(tmp_path):
    path = write(
        tmp_path,
        """
[camera]
source = "webcam:1"
width = 800
[detector]
min_score = 1        # an integer is fine for a number
[web]
port = 8080
pin = "2468"
[storage]
data_dir = "~/booth-data"
""",
    )
    config = load_config(path)
    assert config.path == path
    assert config.camera.source == "webcam:1" and config.camera.width == 800
    assert config.detector.min_score == 1.0 and isinstance(config.detector.min_score, float)
    assert config.web.port == 8080 and config.web.pin == "2468"
    assert config.storage.data_dir == Path("~/booth-data").expanduser()
    assert config.camera.height == 480  # untouched keys keep their defaults


def test_config_is_frozen():
    config = default_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.camera.width = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.camera = None
    assert config.get("web.port") == 8000


@pytest.mark.parametrize(
    "text, key, phrase",
    [
        ("[camra]\nsource = 'auto'", "camra", 'did you mean "camera"'),
        ("[camera]\nwidht = 10", "camera.widht", 'did you mean "width"'),
        ("camera = 3", "camera", "table"),
        ("[camera]\nwidth = true", "camera.width", "expected an integer"),
        ("[camera]\nwidth = 640.0", "camera.width", "expected an integer"),
        ("[camera]\nwidth = '640'", "camera.width", "expected an integer"),
        ("[button]\nenabled = 1", "button.enabled", "true or false"),
        ("[detector]\nmin_score = true", "detector.min_score", "expected a number"),
        ("[display]\nmode = 'tv'", "display.mode", '"fullscreen"'),
        ("[web]\nport = 0", "web.port", "from 1 to 65535"),
        ("[web]\nport = 70000", "web.port", "from 1 to 65535"),
        ("[button]\npin = 28", "button.pin", "from 0 to 27"),
        ("[button]\npin = 5\nled_pin = 5", "button.led_pin", "different"),
        ("[camera]\nsource = 'picamera2'\nwidth = 256\nheight = 192", "camera.detect_width",
         "up to 256"),
        ("[camera]\nsource = 'picamera2'\ndetect_height = 600", "camera.detect_height",
         "cannot be larger"),
        ("[storage]\nkeep = 0", "storage.keep", "greater than 0"),
        ("[storage]\ndata_dir = ''", "storage.data_dir", "not empty"),
        ("[camera]\nwidth = -5", "camera.width", "from 16"),
        ("[camera]\nsource = 'webcam:x'", "camera.source", "webcam:N"),
        ("[camera]\nsource = 'picamera2:one'", "camera.source", "picamera2:N"),
        ("[camera]\nsource = 'picamera'", "camera.source", "picamera2"),
        ("[camera]\nsource = '/no/such/video.mp4'", "camera.source", "replay"),
        ("[detector]\nmin_score = 1.5", "detector.min_score", "from 0.0 to 1.0"),
        ("[model]\nsmoothing_s = nan", "model.smoothing_s", "finite"),
        ("[web]\npublic_url = 'booth.lan:8000'", "web.public_url", "http(s) address"),
        ("[web]\npublic_url = 'ftp://booth.lan'", "web.public_url", "http(s) address"),
        ("[web]\npublic_url = 'http://booth.lan/?x=1'", "web.public_url", "http(s) address"),
        ("[web]\npublic_url = 'http://[::1'", "web.public_url", "http(s) address"),
        ("[web]\npublic_url = 'http://booth.lan:port'", "web.public_url", "http(s) address"),
        # no QR code holds it, or the screen cannot write it: the booth stopped at "step closer"
        ("[web]\npublic_url = 'http://booth.lan/" + "a" * 3000 + "'", "web.public_url",
         "at most 256 bytes"),
        ('[web]\npublic_url = "http://booth.lan/\\u0000"', "web.public_url", "http(s) address"),
    ],
)
def test_bad_settings_name_key_file_and_what_is_allowed(tmp_path, text, key, phrase):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert key in message and str(path) in message and phrase in message, message


@pytest.mark.parametrize("source", ["webcam", "auto"])
def test_detection_size_is_refused_only_for_the_pi_camera_named(tmp_path, source):
    """Under auto a webcam-only setup never uses it (and the Pi camera shrinks it to fit)."""
    config = load_config(overrides={"camera.source": source, "camera.width": 256,
                                    "camera.height": 192})
    assert (config.camera.width, config.camera.detect_width) == (256, 320)


def test_camera_source_may_be_an_existing_path(tmp_path):
    clip = tmp_path / "faces"
    clip.mkdir()
    assert load_config(overrides={"camera.source": str(clip)}).camera.source == str(clip)


@pytest.mark.parametrize("source", ["picamera2:1", "webcam:2", "auto"])
def test_cameras_by_number_include_the_pi_5s_second_port(source):
    assert load_config(overrides={"camera.source": source}).camera.source == source


def test_relative_paths_in_a_file_are_read_from_its_folder(tmp_path, monkeypatch):
    """Not from wherever the program started: `config --check` run in the checkout passed a
    model the service, which starts in /run/memoji-booth, could not find."""
    folder = tmp_path / "etc"
    (folder / "models").mkdir(parents=True)
    (folder / "clips").mkdir()
    path = write(folder, "[model]\npath = 'models/emotion.tflite'\n[camera]\nsource = 'clips'\n"
                         "[storage]\ndata_dir = 'data'\n")
    monkeypatch.chdir(tmp_path)  # elsewhere: clips/ is not here
    config = load_config(path)
    assert config.model.path == str(folder / "models" / "emotion.tflite")
    assert config.camera.source == str(folder / "clips")
    assert config.storage.data_dir == folder / "data"
    with pytest.raises(ConfigError, match="camera.source: 'picamera' is not allowed"):
        load_config(write(folder, "[camera]\nsource = 'picamera'\n", "typo.toml"))  # as written
    named = write(folder, "[camera]\nsource = 'picamera2:1'\n[model]\npath = ''\n", "named.toml")
    assert (load_config(named).camera.source, load_config(named).model.path) == ("picamera2:1", "")
    # a command-line path is the user's, read from where they are
    (tmp_path / "here").mkdir()
    assert load_config(path, {"camera.source": "here"}).camera.source == "here"


def test_missing_or_broken_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found") as caught:
        load_config(tmp_path / "missing.toml")
    assert "missing.toml" in str(caught.value)
    broken = write(tmp_path, "[camera\nwidth = 1")
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_config(broken)
    assert str(broken) in str(caught.value)


def test_environment_variable_names_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, "[web]\nport = 9000")
    monkeypatch.setenv(CONFIG_ENV_VAR, str(path))
    assert load_config().web.port == 9000
    assert (
        load_config(write(tmp_path, "[web]\nport = 9001", "other.toml")).web.port == 9001
    )  # path wins
    monkeypatch.setenv(CONFIG_ENV_VAR, str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match="gone.toml"):
        load_config()


def test_user_config_file_is_found(tmp_path):
    folder = tmp_path / "xdg" / "memoji-booth"
    folder.mkdir(parents=True)
    write(folder, "[booth]\ncountdown_s = 5", "config.toml")
    assert load_config().booth.countdown_s == 5


def test_overrides_are_dotted_parsed_and_validated(tmp_path):
    config = load_config(
        overrides={
            "display.mode": "none",
            "camera.width": "800",
            "booth.save_photo": "true",
            "camera.source": None,  # an unset command-line flag
        }
    )
    assert config.display.mode == "none" and config.camera.width == 800
    assert config.booth.save_photo is True and config.camera.source == "auto"
    file = write(tmp_path, "[display]\nmode = 'window'")
    assert load_config(file, {"display.mode": "fullscreen"}).display.mode == "fullscreen"
    with pytest.raises(ConfigError, match="command line: display.mdoe: unknown"):
        load_config(overrides={"display.mdoe": "none"})
    with pytest.raises(ConfigError, match="command line: display.mode"):
        load_config(overrides={"display.mode": "tv"})
    with pytest.raises(ConfigError, match="camera.width"):
        load_config(overrides={"camera.width": True})


@pytest.mark.parametrize(
    "text, phrases",
    [
        # pin is in two sections: both named, and how to place it
        ("pin = '1234'", ["pin: a setting outside any [section]", "[button] or [web]",
                          "button.pin or web.pin"]),
        ("source = 'webcam'", ["below [camera]", "camera.source"]),
        ("sorce = 'webcam'", ["unknown setting", 'did you mean "source"', "[camera]"]),
    ],
)
def test_a_setting_above_every_section_says_where_it_belongs(tmp_path, text, phrases):
    """Not "[pin]: unknown section": the operator wrote no section, they left it out."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message and "unknown section" not in message, message
    for phrase in phrases:
        assert phrase in message, message


def test_a_pin_of_digits_without_quotes_is_told_to_use_quotes(tmp_path):
    """`pin = 1234` is a TOML number and `pin = 0123` no TOML at all; both are a PIN, which
    the message does not repeat: it goes to stderr and the journal."""
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "[web]\npin = 1234\n"))
    message = str(caught.value)
    assert "web.pin: expected a string, got a number (value not shown)" in message, message
    assert 'double quotes: pin = "****"' in message and "1234" not in message, message
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "[web]\nport = 8000\npin = 0123\n", "zero.toml"))
    message = str(caught.value)
    assert "not valid TOML" in message and "line 3 reads: pin = **** (value not shown)" in message
    assert "double quotes" in message and "0123" not in message, message
    with pytest.raises(ConfigError, match="line 3 reads: port = 2; a key or .section. is given twice"):
        load_config(write(tmp_path, "[web]\nport = 1\nport = 2\n", "twice.toml"))


@pytest.mark.parametrize(
    "source, phrase",
    [
        ("/dev/null", "not a webcam: `ls -l /dev/v4l/by-id`"),  # no video to replay either
        ("webcm", 'did you mean "webcam"'),
        ("Picamera", 'did you mean "picamera2"'),
    ],
)
def test_a_camera_named_the_wrong_way_says_how_to_name_it(tmp_path, source, phrase):
    """A device file that is no webcam is refused (it is not a video to replay either), and
    a mistyped camera is shown as written, not as a path in the settings file's folder."""
    path = write(tmp_path, f"[camera]\nsource = '{source}'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert f"camera.source: '{source}'" in message and phrase in message, message
    with pytest.raises(ConfigError, match=phrase):
        load_config(overrides={"camera.source": source})


def test_a_replay_path_that_is_not_there_shows_it_as_written_and_where_it_was_looked_for(tmp_path):
    path = write(tmp_path, "[camera]\nsource = 'clips/faces'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"camera.source: 'clips/faces' ({tmp_path / 'clips' / 'faces'}) is not allowed" in str(
        caught.value)


def test_a_data_folder_that_is_a_file_is_a_bad_value(tmp_path):
    """`config --check` says so before a restart; start-up said only 'File exists'."""
    write(tmp_path, "not a folder", "gallery.png")
    path = write(tmp_path, "[storage]\ndata_dir = 'gallery.png'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "storage.data_dir: 'gallery.png'" in message and "not an existing file" in message
    with pytest.raises(ConfigError, match="not an existing file"):
        load_config(overrides={"storage.data_dir": str(tmp_path / "gallery.png")})
    assert load_config(overrides={"storage.data_dir": str(tmp_path)}).storage.data_dir == tmp_path
    assert load_config(overrides={"storage.data_dir": str(tmp_path / "new")}).storage.data_dir


def test_a_settings_file_the_booth_may_not_read_says_how_to_let_it(tmp_path, monkeypatch):
    """Copied in as a 0600 file of root's, it passed `sudo ... config --check` but not the
    service; root reads anything, so the refusal is faked here."""
    path = write(tmp_path, "[web]\nport = 9000\n")

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(config_module, "open", refused, raising=False)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert f"{path}: cannot be read (permission denied)" in message
    assert f"sudo chown root:memoji-booth {path} && sudo chmod 640 {path}" in message, message


def test_a_file_saved_by_a_windows_editor_is_read(tmp_path):
    """A byte-order mark and CRLF line ends: TOML refused the mark as 'Invalid statement'."""
    path = tmp_path / "booth.toml"
    path.write_bytes(b'\xef\xbb\xbf[web]\r\nport = 9000\r\npin = "2468"\r\n')
    config = load_config(path)
    assert (config.web.port, config.web.pin) == (9000, "2468")


@pytest.mark.parametrize("key", ["storage.data_dir", "camera.source"])
def test_a_path_this_user_may_not_look_into_is_no_traceback(tmp_path, monkeypatch, key):
    """A data folder under a 0700 home, checked as the service's user: looking at it raises
    PermissionError, which ended `config --check` and start-up in a traceback instead of
    start-up's 'cannot use the data folder X: Permission denied'. Root looks anywhere, so
    the refusal is faked."""
    import os

    private = tmp_path / "home-of-pi"
    stat = os.stat

    def refused(path, *args, **kwargs):
        if str(path).startswith(str(private)):
            raise PermissionError(13, "Permission denied", str(path))
        return stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", refused)
    target = str(private / "memoji")
    if key == "storage.data_dir":
        assert load_config(overrides={key: target}).storage.data_dir == Path(target)
    else:  # a replay path it cannot see is refused in words, as one that is not there
        with pytest.raises(ConfigError, match="is not allowed"):
            load_config(overrides={key: target})


def test_the_line_toml_refused_is_the_one_shown_after_a_pasted_line_separator(tmp_path):
    """TOML counts lines by newline only; a U+2028 in a comment (pasted from a web page)
    made the message quote the line above the one TOML meant."""
    path = write(tmp_path, "# from the wiki:\u2028see below\n[web]\nport = 08000\n")
    with pytest.raises(ConfigError, match="line 3 reads: port = 08000"):
        load_config(path)


@pytest.mark.parametrize("key", ["storage.data_dir", "camera.source", "model.path"])
def test_a_path_under_the_home_of_no_such_user_is_a_config_error_naming_the_key(
        tmp_path, key, no_such_user):
    """pathlib cannot expand ~nobody and raised RuntimeError: `config --check`, `run` and
    `web` ended in a traceback instead of a line naming the key."""
    written = f"~{no_such_user}/memojis"
    section, _, name = key.partition(".")
    path = write(tmp_path, f"[{section}]\n{name} = '{written}'\n")
    for load in (lambda: load_config(path), lambda: load_config(overrides={key: written})):
        with pytest.raises(ConfigError) as caught:
            load()
        message = str(caught.value)
        assert f"{key}: '{written}' is not allowed" in message, message
        assert f"there is no user {no_such_user} on this machine" in message, message


def test_a_settings_file_under_the_home_of_no_such_user_is_a_config_error(monkeypatch,
                                                                          no_such_user):
    written = f"~{no_such_user}/booth.toml"
    with pytest.raises(ConfigError, match=f"{written}: there is no user {no_such_user}"):
        load_config(written)
    monkeypatch.setenv(CONFIG_ENV_VAR, written)
    with pytest.raises(ConfigError, match=f"{CONFIG_ENV_VAR}={written}: there is no user"):
        load_config()


@pytest.mark.parametrize(
    "text, shown",
    [
        ("[web]\npin = 97", "web.pin: expected a string, got a number (value not shown)"),
        ("[web]\npin = '97'", "web.pin: 2 characters (value not shown) is not allowed"),
        ("[web]\npin = true", "got a boolean (value not shown)"),
        ("[web]\npin = '9753'\npin = '8642'", "line 3 reads: pin = **** (value not shown)"),
        ("pin = 0975\n[web]", "line 1 reads: pin = ****"),  # above every section: maybe the PIN
        ("web.pin = 0975", "line 1 reads: web.pin = ****"),
        ("web = {pin = 0975}", "line 1 reads: web = ****"),
        # TOML's quoted keys are the same key
        ('[web]\n"pin" = 0975', 'line 2 reads: "pin" = ****'),
        ("[web]\n'pin' = 0975", "line 2 reads: 'pin' = ****"),
        ('web."pin" = 0975', 'line 1 reads: web."pin" = ****'),
    ],
)
def test_no_message_repeats_the_web_pin(tmp_path, text, shown):
    """Start-up errors go to stderr and the journal, which more people read than know the PIN."""
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text + "\n"))
    message = str(caught.value)
    assert shown in message, message
    for secret in ("97", "0975", "9753", "8642"):
        assert secret not in message.replace(str(tmp_path), ""), message


@pytest.mark.parametrize(
    "text, shown",
    [
        ("[button]\npin = 0975", "line 2 reads: pin = 0975"),  # a GPIO pin, no secret
        ('[button]\n"pin" = 0975', 'line 2 reads: "pin" = 0975'),
        ("[button]\npin = 'x17'", "button.pin: expected an integer, got 'x17'"),
        ("[web]\nport = 80 80", "line 2 reads: port = 80 80"),
        ("[web]\nport = 'x8000'", "web.port: expected an integer, got 'x8000'"),
    ],
)
def test_other_values_near_the_pin_are_still_shown(tmp_path, text, shown):
    with pytest.raises(ConfigError, match=re.escape(shown)):
        load_config(write(tmp_path, text + "\n"))


def device_files(monkeypatch, files: dict[str, tuple[int, int]]) -> None:
    """Stand-ins for device files: path -> (file type, major device number), as os.stat,
    which follows links, sees them (81: a V4L2 device, such as /dev/video0)."""
    import os

    real = os.stat

    def fake(path, *args, **kwargs):
        if str(path) not in files:
            return real(path, *args, **kwargs)
        kind, major = files[str(path)]
        return os.stat_result((kind | 0o660, 0, 0, 1, 0, 44, 0, 0, 0, 0),
                              {"st_rdev": os.makedev(major, 2)})

    monkeypatch.setattr(os, "stat", fake)


BY_ID = "/dev/v4l/by-id/usb-Fake_Camera_0001-video-index0"


@pytest.mark.parametrize("source", [
    BY_ID,  # a link udev keeps to this camera whatever number it gets
    "/dev/v4l/by-path/platform-xhci-hcd.0-usb-0:1:1.0-video-index0",
    "/dev/video2",
])
def test_a_webcam_by_its_device_file_is_a_camera_plugged_in_or_not(tmp_path, monkeypatch, source):
    """Not there (unplugged at start): a camera the booth looks for, as webcam:N; there: a
    video device (a link to one, which os.stat follows), read as the file, not from the
    settings file's folder."""
    path = write(tmp_path, f"[camera]\nsource = '{source}'\n")
    assert load_config(path).camera.source == source
    assert load_config(overrides={"camera.source": source}).camera.source == source
    device_files(monkeypatch, {source: (stat.S_IFCHR, 81)})
    assert load_config(path).camera.source == source


def test_a_link_of_the_operators_own_to_a_webcam_is_a_camera(tmp_path, monkeypatch):
    """A udev rule may name the camera /dev/booth-camera: there, it is a video device."""
    device_files(monkeypatch, {"/dev/booth-camera": (stat.S_IFCHR, 81)})
    path = write(tmp_path, "[camera]\nsource = '/dev/booth-camera'\n")
    assert load_config(path).camera.source == "/dev/booth-camera"


@pytest.mark.parametrize("source", [
    "/dev/vidoe0",
    "/dev/v4l/byid/usb-Fake_Camera_0001-video-index0",
    "/dev/v4l/by-id/usb-Fake_Camera_0001-video-idnex0",
    "/dev/v4l/by-id/...",  # copied from the help
    "/dev/video",
    "/dev/booth-camera",  # a link of the operator's own, while it is not there
])
def test_a_mistyped_device_file_is_refused_naming_the_shapes_a_webcam_has(tmp_path, source):
    """Not there and no name a webcam has while unplugged: a typo, which the booth would
    look for every 5 s for ever, saying "not plugged in"; `config --check` says so."""
    assert not Path(source).exists()
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, f"[camera]\nsource = '{source}'\n"))
    message = str(caught.value)
    assert "\n" not in message, message
    assert f"camera.source: '{source}' is not allowed (no such file, nor the name of a " \
        "webcam's while it is unplugged: `ls -l /dev/v4l/by-id` lists those plugged in)" \
        in message, message
    assert "(/dev/videoN, /dev/v4l/by-id/...-video-indexN or /dev/v4l/by-path/...-video-indexN, " \
        "or a link to one that is there)" in message, message
    with pytest.raises(ConfigError, match="no such file, nor the name of a webcam's"):
        load_config(overrides={"camera.source": source})  # run --source


@pytest.mark.parametrize("source, kind, major", [
    ("/dev/ttyUSB0", stat.S_IFCHR, 188),  # a serial port: a character device, not a camera
    ("/dev/v4l/by-id", stat.S_IFDIR, 0),  # the folder, not the camera's link in it
])
def test_a_device_file_that_is_no_webcam_is_refused(tmp_path, monkeypatch, source, kind, major):
    """`config --check` says so, where the booth would look for a camera there forever."""
    device_files(monkeypatch, {source: (kind, major)})
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, f"[camera]\nsource = '{source}'\n"))
    message = str(caught.value)
    assert f"camera.source: '{source}' is not allowed (not a webcam: `ls -l /dev/v4l/by-id` " \
        "lists those plugged in)" in message, message
    assert "a webcam's device file (/dev/videoN, /dev/v4l/by-id/...-video-indexN" in message, message


@pytest.mark.parametrize("source", ["/dev/booth-camera", "/dev/vidoe0", "webcam:x"])
def test_a_command_that_opens_no_camera_does_not_look_for_the_files(tmp_path, source):
    """`erase`, `web`: a udev link of the operator's own is gone while its webcam is
    unplugged (at the end of an event, say); they never open it, so it does not stop them.
    Its type is still checked, and a camera.source given on the command line in full."""
    assert not Path(source).exists()
    path = write(tmp_path, f"[camera]\nsource = '{source}'\n[storage]\nkeep = 5\n")
    config = load_config(path, uses_camera=False)
    assert config.camera.source == source and config.storage.keep == 5
    with pytest.raises(ConfigError, match="camera.source: .* is not allowed"):
        load_config(path)  # run, config --check
    with pytest.raises(ConfigError, match="camera.source: expected a string, got 2"):
        load_config(write(tmp_path, "[camera]\nsource = 2\n"), uses_camera=False)
    with pytest.raises(ConfigError, match="storage.keep: 0 is not allowed"):
        load_config(write(tmp_path, f"[camera]\nsource = '{source}'\n[storage]\nkeep = 0\n"),
                    uses_camera=False)
    with pytest.raises(ConfigError, match="command line: camera.source"):
        load_config(overrides={"camera.source": source}, uses_camera=False)  # bench --source
