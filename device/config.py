"""Settings: one schema from which defaults, validation, the sample TOML and the README table come.

A booth reads one TOML file. Which one: the ``path`` given (``--config``), else
the file named by the environment variable ``MEMOJI_BOOTH_CONFIG``, else
``$XDG_CONFIG_HOME/memoji-booth/config.toml`` (``~/.config/...``) when it
exists, else the defaults alone. Every key is optional. An unknown section or
key, a wrong type or a bad value stops start-up with a ``ConfigError`` that
names ``section.key``, the file and what is allowed, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "CONFIG_ENV_VAR",
    "SETTINGS",
    "Config",
    "ConfigError",
    "Rule",
    "Setting",
    "default_config",
    "default_config_path",
    "default_toml",
    "load_config",
    "settings_markdown",
]

CONFIG_ENV_VAR = "MEMOJI_BOOTH_CONFIG"

# A check returns None when the value is fine, else a short phrase saying what is allowed.
Check = Callable[[Any], "str | None"]


class ConfigError(ValueError):
    """The settings cannot be used; the message says which key, where, and what is allowed."""


@dataclass(frozen=True)
class Setting:
    """One key: its TOML type (bool, int, float, str or Path), default and help text."""

    section: str
    key: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    check: Check | None = None
    secret: bool = False  # its value never appears in a message: stderr goes to the journal

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"

    def allowed(self) -> str:
        """What a valid value looks like, for error messages and the README table."""
        if self.choices:
            return "one of " + ", ".join(_toml_value(c) for c in self.choices)
        text = _TYPE_WORDS[self.type]
        phrase = getattr(self.check, "allowed", None)
        return f"{text}, {phrase}" if phrase else text


# ---------------------------------------------------------------- checks


@dataclass(frozen=True)
class Rule:
    """A value check: ``ok(value)``, and the phrase that says what is allowed."""

    allowed: str
    ok: Callable[[Any], bool]
    hint: Callable[[str], str] | None = None  # from the value as written: what was likely meant

    def __call__(self, value: Any) -> str | None:
        return None if self.ok(value) else self.allowed


def _between(low: float, high: float) -> Rule:
    return Rule(f"from {low} to {high}", lambda value: low <= value <= high)


_POSITIVE = Rule("greater than 0", lambda value: value > 0)
_NOT_EMPTY = Rule("not empty", lambda value: bool(str(value).strip()))


def _expand_home(value: str | Path) -> Path:
    """``Path(value).expanduser()``; a ``~user`` this machine has no home for is a ValueError
    saying so (pathlib raises RuntimeError, which ended start-up in a traceback)."""
    try:
        return Path(value).expanduser()
    except RuntimeError:
        user = str(value)[1:].split("/", 1)[0]
        who = f"there is no user {user} on this machine" if user else "HOME is not set"
        raise ValueError(f"{who}, so ~{user} names no folder: write the path in full") from None


def _stat(value: Any) -> os.stat_result | None:
    """The path's status, or None when it is not there or this user may not look (a folder
    under a 0700 home): start-up then names the folder, where a check must not crash."""
    try:
        return _expand_home(value).stat()
    except (OSError, ValueError):
        return None


def _names_a_file(value: Any) -> bool:
    found = _stat(value)
    return found is not None and not stat.S_ISDIR(found.st_mode)


# Found by `config --check`, not first at start-up: a folder cannot be made where a file is.
_FOLDER = Rule(
    "not empty, and not an existing file (a folder, made if missing)",
    lambda value: bool(str(value).strip()) and not _names_a_file(value),
)


# A camera by name (picamera2:1 is a Pi 5's second camera port), not a path to replay.
CAMERA_NAME = re.compile(r"auto|(picamera2|webcam)(:\d+)?")
_CAMERA_WORDS = ("auto", "picamera", "webcam")  # and misspellings of them: never a path
# A webcam by its device file: /dev/video2, or a link udev keeps to the same camera whatever
# number it gets (/dev/v4l/by-id/usb-...-video-index0, /dev/v4l/by-path/...). Never a replay.
DEVICE_FOLDER = "/dev/"
VIDEO_MAJOR = 81  # Linux's major device number of every V4L2 node (include/media/v4l2-dev.h)
# The names a webcam's file has while it is unplugged: the kernel's node, and the links udev
# makes to it (systemd's rules.d/60-persistent-v4l.rules: by-id and by-path, each name
# ending -video-indexN). Any other name under /dev with nothing there is a typo.
UNPLUGGED_WEBCAM_NAME = re.compile(r"/dev/(video\d+|v4l/by-(id|path)/[^/]+-video-index\d+)")
UNPLUGGED_WEBCAM_SHAPES = ("/dev/videoN, /dev/v4l/by-id/...-video-indexN or "
                           "/dev/v4l/by-path/...-video-indexN")


def _is_video_device(path: str) -> bool:
    """A V4L2 device file (or a link to one, such as a udev rule of the operator's own
    makes), or the name of one not plugged in yet (udev makes its /dev/v4l/by-id link when
    it is), looked for as webcam:N is."""
    found = _stat(path)
    if found is None:
        return UNPLUGGED_WEBCAM_NAME.fullmatch(path) is not None
    return stat.S_ISCHR(found.st_mode) and os.major(found.st_rdev) == VIDEO_MAJOR


def _is_camera_source(value: str) -> bool:
    if CAMERA_NAME.fullmatch(value):
        return True
    if value.startswith(DEVICE_FOLDER):
        return _is_video_device(value)
    return (bool(value) and not value.startswith(("webcam:", "picamera2:"))
            and _stat(value) is not None)


def _camera_source_hint(written: str) -> str:
    device = written.strip()
    if device.startswith(DEVICE_FOLDER) and _stat(device) is None:  # /dev/vidoe0
        return (" (no such file, nor the name of a webcam's while it is unplugged: "
                "`ls -l /dev/v4l/by-id` lists those plugged in)")
    if device.startswith(DEVICE_FOLDER):  # there, and no video device (/dev/null)
        return " (not a webcam: `ls -l /dev/v4l/by-id` lists those plugged in)"
    return _did_you_mean(written.strip().lower(), ("auto", "picamera2", "webcam"))


_CAMERA_SOURCE = Rule(
    "auto, picamera2, picamera2:N, webcam, webcam:N (N = 0, 1, ...), a webcam's device file "
    f"({UNPLUGGED_WEBCAM_SHAPES}, or a link to one that is there), or an existing image or "
    "video file, or folder of images, to replay",
    _is_camera_source,
    _camera_source_hint,
)
# Paths in a settings file are read from the file's folder, not from wherever the
# program was started (the service starts in /run/memoji-booth).
_PATHS_FROM_FILE = ("camera.source", "model.path", "storage.data_dir")
# Looked for on this machine, where only a command that opens the settings' camera needs
# it: a udev link of the operator's own is there only while its webcam is plugged in.
_CAMERA_KEYS = ("camera.source",)
_PIN_OR_EMPTY = Rule(
    "empty (no PIN) or 4 to 64 characters", lambda value: not value or 4 <= len(value) <= 64
)
_BCM_PIN = _between(0, 27)


# The screens draw the address as QR codes (a saved memoji's adds ~50 bytes): a longer one
# no QR code holds stopped the booth at its first "step closer" screen. Nor control characters.
MAX_PUBLIC_URL_BYTES = 256


def _is_public_url(value: str) -> bool:
    if len(value.encode()) > MAX_PUBLIC_URL_BYTES or not value.isprintable():
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not (parts.query or parts.fragment)


_PUBLIC_URL_OR_EMPTY = Rule(
    f"empty, or an http(s) address such as http://booth.lan:8000, at most "
    f"{MAX_PUBLIC_URL_BYTES} bytes (the screen shows it as a QR code)",
    lambda value: not value or _is_public_url(value),
)

# ---------------------------------------------------------------- the schema

# fmt: off
SETTINGS: list[Setting] = [
    # camera
    Setting("camera", "source", str, "auto",
            "auto (Pi camera, then a USB webcam), picamera2 or picamera2:N, webcam or webcam:N, "
            "a webcam's device file (/dev/videoN, or a /dev/v4l/by-id/usb-...-video-index0 "
            "link, which names the same camera after a replug or with two plugged in; "
            "`ls -l /dev/v4l/by-id`; a link a udev rule of your own makes must be there at "
            "start), "
            "or a path to an image, folder of images or video to replay (relative to the "
            "settings file's folder)",
            check=_CAMERA_SOURCE),
    Setting("camera", "width", int, 640, "width of the main (display) stream, pixels",
            check=_between(16, 4096)),
    Setting("camera", "height", int, 480, "height of the main (display) stream, pixels",
            check=_between(16, 4096)),
    Setting("camera", "detect_width", int, 320,
            "width of the small (detection) stream on the Pi camera, pixels (at most camera.width)", check=_between(16, 4096)),
    Setting("camera", "detect_height", int, 240,
            "height of the small (detection) stream on the Pi camera, pixels (at most camera.height)", check=_between(16, 4096)),
    Setting("camera", "fps", int, 30,
            "the most frames a second the camera sends (Pi camera, webcam); more than the "
            "screen shows only costs CPU", check=_between(1, 120)),
    # display
    Setting("display", "mode", str, "auto",
            "auto: fullscreen on a console, a window on a desktop, none without a display "
            "(under systemd, which names the kmsdrm driver, a screen that will not open stops "
            "the start so systemd retries)",
            choices=("auto", "fullscreen", "window", "none")),
    Setting("display", "window_width", int, 1024, "window width when mode is window, pixels",
            check=_between(160, 8192)),
    Setting("display", "window_height", int, 600, "window height when mode is window, pixels",
            check=_between(120, 8192)),
    Setting("display", "sleep_after_min", int, 15,
            "minutes without a guest (no face, capture or look change) before the screen goes "
            "dark but for a small drifting invitation, to spare the panel; a face wakes it; "
            "0 = never", check=_between(0, 1440)),
    Setting("display", "rotate", int, 0,
            "degrees to turn the picture clockwise, for a screen mounted on its side (90, 270) "
            "or upside down (180); the console cannot turn it itself",
            choices=(0, 90, 180, 270)),
    # detector
    Setting("detector", "min_score", float, 0.6,
            "face detector confidence threshold; lower finds more faces and more false ones",
            check=_between(0.0, 1.0)),
    # model
    Setting("model", "path", str, "",
            "expression model (.tflite, with its .json card beside it; relative to the "
            "settings file's folder); empty = the packaged device/models/emotion.tflite"),
    Setting("model", "smoothing_s", float, 0.15,
            "time constant of the expression smoothing, seconds; 0 = no smoothing",
            check=_between(0.0, 5.0)),
    # button
    Setting("button", "enabled", bool, True,
            "use the GPIO capture button (off a Pi it is skipped with a log line)"),
    Setting("button", "pin", int, 17, "BCM pin of the button, pulled up; a press connects it to GND",
            check=_BCM_PIN),
    Setting("button", "led_pin", int, 0, "BCM pin of an LED lit while the booth is ready; 0 = no LED",
            check=_BCM_PIN),
    Setting("button", "bounce_s", float, 0.05, "button debounce time, seconds",
            check=_between(0.0, 1.0)),
    # booth
    Setting("booth", "countdown_s", int, 3, "countdown before a capture, seconds; 0 = capture at once",
            check=_between(0, 30)),
    Setting("booth", "save_photo", bool, False,
            "also save the camera photo (JPEG) beside each saved memoji"),
    # storage
    Setting("storage", "data_dir", Path, "~/.local/share/memoji-booth",
            "folder for the gallery, the saved look, the web secret key and, in .cache, the "
            "look's memojis drawn for the screen (~ is expanded; relative to the settings "
            "file's folder)",
            check=_FOLDER),
    Setting("storage", "keep", int, 1000,
            "retention: the oldest saved memojis beyond this many are removed", check=_POSITIVE),
    # web
    Setting("web", "enabled", bool, True,
            "serve the LAN page (look picker, gallery) inside `memoji-booth run`"),
    Setting("web", "host", str, "0.0.0.0",
            "address the web page listens on; 127.0.0.1 = this machine only", check=_NOT_EMPTY),
    Setting("web", "port", int, 8000, "TCP port of the web page", check=_between(1, 65535)),
    Setting("web", "pin", str, "", "operator PIN for changing settings on the page; empty = no PIN",
            check=_PIN_OR_EMPTY, secret=True),
    Setting("web", "max_upload_mb", int, 10, "largest photo the page accepts, megabytes",
            check=_between(1, 100)),
    Setting("web", "public_url", str, "",
            "the page's address when phones reach it under another name or through a proxy: "
            "the QR codes point there and the page answers to that name; empty = this "
            "machine's LAN address", check=_PUBLIC_URL_OR_EMPTY),
]
# fmt: on

_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(s.section for s in SETTINGS))
_BY_KEY: tuple[str, ...] = tuple(dict.fromkeys(s.key for s in SETTINGS))

_TYPE_WORDS = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    Path: "a path (string)",
}


# ---------------------------------------------------------------- the frozen result


def _section_class(section: str) -> type:
    fields = [(s.key, s.type) for s in SETTINGS if s.section == section]
    return dataclasses.make_dataclass(f"{section.title()}Settings", fields, frozen=True)


_SECTION_CLASSES: dict[str, type] = {name: _section_class(name) for name in SECTIONS}


@dataclass(frozen=True)
class _ConfigBase:
    """Where the settings came from (None: defaults only)."""

    path: Path | None

    def get(self, dotted: str) -> Any:
        """``config.get("camera.source")``, for code that holds a key name."""
        section, _, key = dotted.partition(".")
        return getattr(getattr(self, section), key)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}


Config = dataclasses.make_dataclass(
    "Config",
    [(name, _SECTION_CLASSES[name]) for name in SECTIONS],
    bases=(_ConfigBase,),
    frozen=True,
)
Config.__doc__ = "All settings, frozen; one attribute per section: ``config.camera.source``."
Config.__module__ = __name__


# ---------------------------------------------------------------- loading


def default_config_path() -> Path | None:
    """The file ``load_config()`` reads when given no path, or None for defaults only."""
    named = os.environ.get(CONFIG_ENV_VAR)
    if named:
        try:
            return _expand_home(named)
        except ValueError as error:
            raise ConfigError(f"{CONFIG_ENV_VAR}={named}: {error}") from None
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    candidate = base / "memoji-booth" / "config.toml"
    return candidate if candidate.is_file() else None


def default_config() -> Config:
    """Every setting at its default, whatever files exist."""
    return _build({}, None)


def load_config(
    path: Path | str | None = None,
    overrides: Mapping[str, object] | None = None,
    *,
    uses_camera: bool = True,
) -> Config:
    """Read and validate the settings file, then apply ``overrides`` ({"camera.source": ...}).

    An override of None means "not given" (handy for unset command-line flags);
    a string given for a number or boolean is parsed ("800", "true").
    ``uses_camera=False``, for a command that never opens the file's camera (``web``,
    ``erase``, ``classify``; ``bench``, which replays its own ``--source``): the file's
    ``camera.source`` is checked as a string only, not looked for on this machine, so a
    webcam unplugged with its udev link gone does not stop it. Overrides are checked whole.
    """
    if path is None:
        file = default_config_path()
    else:
        try:
            file = _expand_home(path)
        except ValueError as error:
            raise ConfigError(f"{path}: {error}") from None
    values: dict[str, Any] = {}
    if file is not None:
        values.update(_read_file(file, uses_camera))
    where_cli = "command line"
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        setting = _BY_NAME.get(dotted)
        if setting is None:
            raise ConfigError(
                f"{where_cli}: {dotted}: unknown setting{_did_you_mean(dotted, _BY_NAME)}"
            )
        values[dotted] = _validate(setting, _parse_override(setting, value), where_cli)
    config = _build(values, file)
    _check_together(config, str(file) if file is not None else where_cli)
    return config


def _check_together(config: Config, where: str) -> None:
    """Rules that span keys."""
    if config.button.led_pin and config.button.led_pin == config.button.pin:
        raise ConfigError(
            f"{where}: button.led_pin: {config.button.led_pin} is also button.pin; "
            "allowed: a different BCM pin, or 0 for no LED"
        )
    camera = config.camera
    if camera.source.startswith("picamera2"):
        # picamera2 refuses a lores stream bigger than main (under `auto`, the Pi
        # camera shrinks it to fit instead: a webcam-only setup never uses it).
        for axis, main, small in (("width", camera.width, camera.detect_width),
                                  ("height", camera.height, camera.detect_height)):
            if small > main:
                raise ConfigError(
                    f"{where}: camera.detect_{axis}: {small} is more than camera.{axis} "
                    f"({main}); the Pi camera's detection stream cannot be larger than its "
                    f"main stream: allowed: up to {main}"
                )


def _read_file(file: Path, uses_camera: bool = True) -> dict[str, Any]:
    try:
        # utf-8-sig: Windows editors may start the file with a byte-order mark
        with open(file, "rb") as handle:
            text = handle.read().decode("utf-8-sig")
        document = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(
            f"{file}: settings file not found (print a template with `memoji-booth config > {file.name}`)"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{file}: is a folder, not a settings file") from None
    except PermissionError:
        raise ConfigError(
            f"{file}: cannot be read (permission denied) by this user: check it with sudo; "
            f"the service's user may read it once it is root:memoji-booth, mode 640 "
            f"(sudo chown root:memoji-booth {file} && sudo chmod 640 {file})"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{file}: not valid TOML: {error}{_quoting_hint(text, error)}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not valid TOML: not UTF-8 text") from None

    values: dict[str, Any] = {}
    for section, table in document.items():
        if not isinstance(table, dict) and section not in SECTIONS:
            raise ConfigError(f"{file}: {section}: {_outside_any_section(section)}")
        if section not in SECTIONS:
            raise ConfigError(
                f"{file}: [{section}]: unknown section{_did_you_mean(section, SECTIONS)}; "
                f"known sections: {', '.join(SECTIONS)}"
            )
        if not isinstance(table, dict):
            raise ConfigError(
                f"{file}: {section}: must be a [{section}] table of settings, not a single value"
            )
        for key, value in table.items():
            dotted = f"{section}.{key}"
            setting = _BY_NAME.get(dotted)
            if setting is None:
                keys = [s.key for s in SETTINGS if s.section == section]
                raise ConfigError(
                    f"{file}: {dotted}: unknown setting{_did_you_mean(key, keys)}; "
                    f"[{section}] has: {', '.join(keys)}"
                )
            written = value
            if dotted in _PATHS_FROM_FILE and isinstance(value, str):
                value = _from_folder_of(file, value)
            values[dotted] = _validate(setting, value, str(file), written,
                                       whole=uses_camera or dotted not in _CAMERA_KEYS)
    return values


def _quoting_hint(text: str, error: tomllib.TOMLDecodeError) -> str:
    """The line TOML refused, and the usual cause: text such as a PIN (0123) without quotes."""
    found = re.search(r"at line (\d+)", str(error))
    # Lines as TOML counts them: "\n" only (splitlines also breaks at U+2028 and the
    # like, which a comment pasted from a web page may hold, and then shows another line).
    lines = text.split("\n")
    number = int(found.group(1)) if found else 0
    if not 1 <= number <= len(lines) or not lines[number - 1].strip():
        return ""
    shown = f"; line {number} reads: {_line_as_shown(lines, number)}"
    if "overwrite" in str(error) or "twice" in str(error):
        return f"{shown}; a key or [section] is given twice: keep one"
    return (f'{shown}; write key = value below its [section] line, text (a PIN, a path, a name) '
            'in double quotes, numbers and true/false without; `memoji-booth config` prints a '
            'valid file')


HIDDEN = "****"  # what a message shows for a secret's value (the web PIN)
_SECRET_KEYS = "|".join(re.escape(s.key) for s in SETTINGS if s.secret)
# `pin =`, `web.pin =`, `{pin =`, and TOML's quoted spellings of the same key: `"pin" =`
_SETS_A_SECRET = re.compile(rf"(?<![\w-])[\"']?(?:{_SECRET_KEYS})[\"']?\s*=")
_KEY_QUOTES = "\"'"  # "pin" and 'pin' are the key pin


def _line_as_shown(lines: list[str], number: int) -> str:
    """Line ``number`` (from 1) for a message, its value hidden where it may set a secret:
    `pin = 0123` under [web] or above every section, not under [button]."""
    line = lines[number - 1].strip()
    key, _, _ = line.partition("=")
    if not _SETS_A_SECRET.search(line):
        return line
    section = next((found.group(1).strip() for above in reversed(lines[:number - 1])
                    if (found := re.match(r"\s*\[([^\[\]]+)\]", above))), "")
    setting = _BY_NAME.get(f"{section}.{key.strip().strip(_KEY_QUOTES)}")
    if section and setting is not None and not setting.secret:
        return line
    return f"{key.strip()} = {HIDDEN} (value not shown)"


def _outside_any_section(key: str) -> str:
    """Why a key above every [section] line is refused, and where it goes (`pin` is in two)."""
    homes = [s.section for s in SETTINGS if s.key == key]
    if not homes:
        return (f"unknown setting, and outside any [section]{_did_you_mean(key, _BY_KEY)}; "
                f"settings go under their section's line, such as [camera]")
    under = " or ".join(f"[{home}]" for home in homes)
    return (f"a setting outside any [section]: write it on a line below {under} "
            f"(it is {' or '.join(f'{home}.{key}' for home in homes)})")


def _from_folder_of(file: Path, value: str) -> str:
    """A relative path in `file` as a path from the file's folder; names and others as they are."""
    if not value.strip() or value.strip().lower().startswith(_CAMERA_WORDS):
        return value  # a camera's name, or a mistyped one: its message shows it as written
    try:
        path = _expand_home(value)
    except ValueError:
        return value  # a ~user with no home: _validate says so, naming the key
    return value if path.is_absolute() else str(file.resolve().parent / path)


def _validate(setting: Setting, value: Any, where: str, written: Any = None,
              whole: bool = True) -> Any:
    """Type-check strictly (a bool is not an int, nor the reverse), then check the value.

    ``written``: the value as the file has it, when ``value`` is that path read from the
    file's folder; messages show it as written, as well as where it was looked for.
    ``whole=False``: the type only (a key the command does not use)."""
    kind = setting.type
    ok_type = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
        Path: isinstance(value, (str, Path)),
    }[kind]
    if not ok_type:
        quote = ""
        if kind in (str, Path) and isinstance(value, (int, float)) and not isinstance(value, bool):
            digits = HIDDEN if setting.secret else value
            quote = f'; text goes in double quotes: {setting.key} = "{digits}"'  # a PIN of digits
        raise ConfigError(
            f"{where}: {setting.name}: expected {_TYPE_WORDS[kind]}, got "
            f"{_show(value, setting.secret)}; "
            f"allowed: {setting.allowed()}{quote}"
        )
    if kind is float:
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{where}: {setting.name}: must be a finite number, got {value}")
    if not whole:
        return value
    if setting.name in _PATHS_FROM_FILE:
        try:
            _expand_home(value)
        except ValueError as error:
            raise ConfigError(f"{where}: {setting.name}: {_show(value, setting.secret)} "
                              f"is not allowed: {error}") from None
    if setting.choices is not None and value not in setting.choices:
        raise ConfigError(
            f"{where}: {setting.name}: {_show(value, setting.secret)} is not allowed; "
            f"allowed: {setting.allowed()}"
        )
    if setting.check is not None:
        problem = setting.check(value)
        if problem is not None:
            written = value if written is None else written
            shown = _show(written) if written == value else f"{_show(written)} ({value})"
            hint = getattr(setting.check, "hint", None)
            if setting.secret:
                shown, hint = _show(value, secret=True), None
            raise ConfigError(
                f"{where}: {setting.name}: {shown} is not allowed"
                f"{hint(str(written)) if hint else ''}; allowed: {problem}"
            )
    return value


def _parse_override(setting: Setting, value: object) -> object:
    """Command-line values arrive as strings; turn them into the setting's type when they clearly are."""
    if not isinstance(value, str) or setting.type in (str, Path):
        return value
    text = value.strip()
    if setting.type is bool:
        return {"true": True, "false": False}.get(text.lower(), value)
    try:
        return int(text) if setting.type is int else float(text)
    except ValueError:
        return value


def _build(values: Mapping[str, Any], file: Path | None) -> Config:
    sections = {}
    for section in SECTIONS:
        fields = {}
        for setting in SETTINGS:
            if setting.section != section:
                continue
            value = values.get(setting.name, setting.default)
            fields[setting.key] = _finish(setting, value)
        sections[section] = _SECTION_CLASSES[section](**fields)
    return Config(path=file, **sections)


def _finish(setting: Setting, value: Any) -> Any:
    """Final forms: paths with ``~`` expanded, floats as floats."""
    if setting.type is Path:
        return _expand_home(value)
    if setting.type is float:
        return float(value)
    if setting.name in ("model.path", "camera.source") and value.startswith("~"):
        return os.path.expanduser(value)
    return value


def _show(value: Any, secret: bool = False) -> str:
    if secret:
        return f"{_kind(value)} (value not shown)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, (dict, list)):
        return f"a {'table' if isinstance(value, dict) else 'list'}"
    return repr(value) if isinstance(value, str) else str(value)


def _kind(value: Any) -> str:
    """What kind of value, never the value: for a secret's messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return f"{len(value)} characters"
    if isinstance(value, (dict, list)):
        return _show(value)
    return "a date or time"  # the only other values TOML has


def _did_you_mean(word: str, candidates) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


# ---------------------------------------------------------------- documentation


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def default_toml() -> str:
    """The whole settings file at its defaults, each key with its help as a comment."""
    lines = [
        "# Memoji Booth settings. Every key is optional; the values shown are the defaults.",
        f"# Use with `memoji-booth run --config FILE`, or name the file in ${CONFIG_ENV_VAR},",
        "# or put it at ~/.config/memoji-booth/config.toml.",
    ]
    for section in SECTIONS:
        lines += ["", f"[{section}]"]
        for setting in SETTINGS:
            if setting.section != section:
                continue
            lines.append(f"# {setting.help}")
            if setting.choices:
                lines.append(f"# allowed: {', '.join(map(str, setting.choices))}")
            lines.append(f"{setting.key} = {_toml_value(setting.default)}")
    return "\n".join(lines) + "\n"


def settings_markdown() -> str:
    """The README's settings table."""
    rows = ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    for setting in SETTINGS:
        cells = [
            f"`{setting.name}`",
            f"`{_toml_value(setting.default)}`",
            setting.allowed(),
            setting.help,
        ]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"
