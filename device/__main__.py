"""The `memoji-booth` command line (also `python -m device`).

Subcommands: run (the kiosk), classify (expressions in image files), render
(one memoji to PNG), bench (speed of the loop), config (default settings, or
check a settings file), web (the LAN page alone), erase (every saved memoji,
at the end of an event). Problems a user can fix
(bad settings, a missing model, a camera that cannot be opened) end with one
line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from device.labels import EXPRESSIONS
from device.words import how_many

if TYPE_CHECKING:  # imported when erase runs: the gallery needs OpenCV
    from device.gallery import ToErase

log = logging.getLogger("memoji-booth")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# Exceptions that mean "the user can fix this": (module, class name). Looked up only
# in modules already imported, so a subcommand never imports what it does not use.
_USER_ERRORS = (
    ("device.config", "ConfigError"),
    ("device.infer", "ModelMissingError"),
    ("device.capture", "CameraError"),
    ("device.display", "DisplayError"),
    ("device.avatar", "LookError"),
    ("device.storage", "DataFolderError"),
)


def _user_error_types() -> tuple[type[BaseException], ...]:
    types = []
    for module_name, class_name in _USER_ERRORS:
        module = sys.modules.get(module_name)
        error = getattr(module, class_name, None) if module is not None else None
        if isinstance(error, type):
            types.append(error)
    return tuple(types)


# ---------------------------------------------------------------- subcommands

def cmd_run(args: argparse.Namespace) -> int:
    from device.app import Booth
    from device.config import load_config

    config = load_config(args.config, {"camera.source": args.source, "display.mode": args.display})
    data_dir = Path(config.storage.data_dir)
    with sole_booth_on(data_dir) as alone:
        if not alone:
            _print_error(f"another memoji-booth is already running with the data folder "
                         f"{data_dir} (the service, or one started by hand): stop it first (on the "
                         "Pi: sudo systemctl stop memoji-booth), or give this one its own "
                         "storage.data_dir")
            return EXIT_USAGE
        return Booth(config).run(frames=args.frames)


DATA_FOLDER_LOCK = ".memoji-booth.lock"


@contextlib.contextmanager
def sole_booth_on(data_dir: Path) -> Iterator[bool]:
    """Lock the data folder while this booth runs; yields False if another booth holds it.

    A booth started by hand while the service runs would share its gallery, look and
    login key, and fail for want of the camera and the screen, under misleading messages.
    A folder that cannot be made or locked yields True: the booth then names what is wrong
    with it. The lock is the kernel's (flock): it goes when the process does, even killed.
    """
    import fcntl

    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        # Read-only, 0644: a lock file left by a root run still opens for the service's user.
        # Not through a link: one the service's user put there must not make a root run
        # create its target (an empty /etc/nologin, say).
        fd = os.open(data_dir / DATA_FOLDER_LOCK, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW,
                     0o644)
    except OSError as error:
        log.debug("data folder not locked: %s", error)
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        except OSError as error:  # a file system without locks
            log.debug("data folder not locked: %s", error)
        yield True
    finally:
        os.close(fd)


def cmd_classify(args: argparse.Namespace) -> int:
    import cv2

    from device.pipeline import Analyser

    analyser = Analyser.from_config(_config_or_defaults(args.config))
    status = EXIT_OK
    for path in args.images:
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            print(f"memoji-booth: {path}: not a readable image", file=sys.stderr)
            status = EXIT_FAILED
            continue
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        results = analyser.analyse(rgb, all_faces=True)
        faces = [{"box": [int(v) for v in r.face.box], "label": r.expression.label,
                  "scores": {k: round(float(v), 4) for k, v in r.expression.scores.items()}}
                 for r in results if r.expression is not None]
        if args.json:
            print(json.dumps({"path": path, "faces": faces}), flush=True)
        elif not faces:
            print(f"{path}: no face found", flush=True)
        else:
            described = "; ".join(
                f"{face['label']} {face['scores'][face['label']]:.0%} at {tuple(face['box'])}"
                for face in faces)
            print(f"{path}: {described}", flush=True)
    return status


def cmd_render(args: argparse.Namespace) -> int:
    from device.avatar import DEFAULT_LOOK, Look, render_png
    from device.storage import atomic_write_bytes

    look = DEFAULT_LOOK
    if args.look:
        try:
            data = json.loads(Path(args.look).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            print(f"memoji-booth: {args.look}: cannot read the look: {error}", file=sys.stderr)
            return EXIT_USAGE
        look = Look.from_dict(data)
    png = render_png(look, args.expression, size=args.size)
    out = Path(args.out)
    try:
        # A device (/dev/null), a pipe or stdout (/dev/stdout) is written into: replacing it,
        # as a file is, would put a plain file in its place (in /dev, for root). A file, or
        # the file a link names, is replaced whole, so a failed write leaves it as it was.
        target = out.resolve()
        stream = (out.absolute().parts[1:2] in (("dev",), ("proc",))
                  or (target.exists() and not target.is_file()))
        if stream:
            out.write_bytes(png)
        else:
            atomic_write_bytes(target, png)
    except (OSError, RuntimeError) as error:  # RuntimeError: a link that loops (Python 3.11)
        reason = getattr(error, "strerror", None) or error
        print(f"memoji-booth: cannot write {args.out}: {reason}", file=sys.stderr)
        return EXIT_USAGE
    if not stream:  # where the PNG went; never after it, into stdout
        print(args.out)
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    from device.bench import run_bench

    report = run_bench(args.source, frames=args.frames, config_path=args.config)
    print(report.to_json() if args.json else report.to_text())
    return EXIT_OK


def cmd_config(args: argparse.Namespace) -> int:
    from device.config import default_toml, load_config

    if args.check is None:
        sys.stdout.write(default_toml())
        return EXIT_OK
    # What `run` would refuse or show as an error, found before the service restarts.
    from device.pipeline import Analyser

    config = load_config(args.check)
    Analyser.from_config(config)  # the face detector and the expression model load
    print(f"{args.check}: the settings are valid and the models load")
    return EXIT_OK


def cmd_web(args: argparse.Namespace) -> int:
    from device.config import load_config
    from device.storage import ensure_writable_folder
    from device.webui import create_app, listen_advice, serve

    config = load_config(args.config, {"web.host": args.host, "web.port": args.port,
                                       "storage.data_dir": args.data_dir}, uses_camera=False)
    ensure_writable_folder(config.storage.data_dir)  # as `run` does: says which folder to set
    try:
        app = create_app(config)
    except OSError as error:  # its login key cannot be read or made
        _print_error(f"cannot use the data folder {config.storage.data_dir}: "
                     f"{error.strerror or error} ({error.filename or ''}); this user must be "
                     "able to read and write it")
        return EXIT_USAGE
    try:
        serve(app, config.web.host, config.web.port)
    except OSError as error:
        _print_error(f"cannot serve on {config.web.host}:{config.web.port}: "
                     f"{error.strerror or error}{listen_advice(error)}")
        return EXIT_USAGE
    return EXIT_OK


def cmd_erase(args: argparse.Namespace) -> int:
    from device.config import load_config
    from device.gallery import Gallery

    # No camera: one unplugged at the end of an event must not keep its gallery.
    config = load_config(args.config, {"storage.data_dir": args.data_dir}, uses_camera=False)
    data_dir = Path(config.storage.data_dir)
    folder = data_dir / "gallery"
    if not folder.is_dir():
        print(f"no memojis to erase: {folder} does not exist")
        return EXIT_OK
    with sole_booth_on(data_dir) as alone:
        if not alone:  # its saves would race this; the page's "Delete all" runs inside it
            return _booth_is_running(data_dir)
        try:
            gallery = Gallery(folder, keep=config.storage.keep)
            doomed = gallery.to_erase()  # damaged memojis too: erase removes them
        except OSError as error:
            return _cannot_erase(folder, error)
    # Asked with the folder unlocked: a question left unanswered must not keep the booth from
    # starting. What was counted goes, and any damaged memoji: one saved meanwhile
    # (`memoji-booth web`) is kept.
    if doomed.memojis and not args.yes and not _confirmed_erase(folder, doomed):
        print("nothing was erased")
        return EXIT_FAILED
    with sole_booth_on(data_dir) as alone:
        if not alone:  # started while the question was asked
            return _booth_is_running(data_dir)
        try:
            erased = gallery.erase(through=doomed.through)
        except OSError as error:
            return _cannot_erase(folder, error)
    kept = f"; kept {how_many(erased.kept, 'memoji')} saved since" if erased.kept else ""
    print(f"erased {how_many(erased.memojis, 'memoji')} and "
          f"{how_many(erased.photos, 'camera photo')} from {folder}, with their thumbnails; "
          f"the look and the settings are kept{kept}")
    for failure in erased.failed:
        _print_error(f"could not remove {failure}")
    return EXIT_FAILED if erased.failed else EXIT_OK


def _booth_is_running(data_dir: Path) -> int:
    _print_error(f"the booth is running with the data folder {data_dir}: stop it first "
                 "(on the Pi: sudo systemctl stop memoji-booth), erase, then start it "
                 "again; or log in on its page and use \"Delete all\" in the gallery")
    return EXIT_USAGE


def _cannot_erase(folder: Path, error: OSError) -> int:
    """Not this user's folder: it cannot be listed, or its files removed."""
    _print_error(f"cannot erase {folder}: {error.strerror or error}; run it as the "
                 "booth's user (sudo -u memoji-booth ...) or as root")
    return EXIT_USAGE


def _confirmed_erase(folder: Path, doomed: ToErase) -> bool:
    """Asks for the number of memojis to be typed; False unless it is (or with no terminal)."""
    count = doomed.memojis
    if not sys.stdin.isatty():
        _print_error("erase asks before it deletes, and there is no terminal to ask on: add "
                     "--yes to erase without being asked")
        return False
    damaged = (f" ({doomed.damaged} of them damaged: the gallery cannot show "
               f"{'it' if doomed.damaged == 1 else 'them'})" if doomed.damaged else "")
    kept = f", with their {how_many(doomed.photos, 'camera photo')}" if doomed.photos else ""
    print(f"This deletes the {how_many(count, 'memoji')} in {folder}{damaged}{kept} and their "
          "thumbnails, for good. The look and the settings stay.")
    try:
        typed = input(f"Type {count} to delete them: ")
    except EOFError:
        return False
    return typed.strip() == str(count)


def _config_or_defaults(path: str | None) -> Any:
    """The settings of a command that opens no camera (classify)."""
    from device.config import load_config

    return load_config(path, uses_camera=False)


# ---------------------------------------------------------------- parsing

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memoji-booth",
        description="A kiosk that turns your facial expression into a live cartoon avatar.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    # also accepted after the subcommand (`memoji-booth run -v`)
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", parents=[verbose], help="run the kiosk (camera, screen, button, web page)")
    run.add_argument("--config", help="settings file (TOML); see `memoji-booth config`")
    run.add_argument("--source", help="auto, picamera2[:N], webcam[:N], a webcam's device file "
                                      "(/dev/v4l/by-id/...), or a file/folder to replay")
    run.add_argument("--display", choices=["auto", "fullscreen", "window", "none"])
    run.add_argument("--frames", type=_positive_int, help="stop after N frames (tests, demos)")
    run.set_defaults(handler=cmd_run)

    classify = commands.add_parser(
        "classify", parents=[verbose], help="print the expression of each face in images")
    classify.add_argument("images", nargs="+", metavar="IMAGE")
    classify.add_argument("--json", action="store_true", help="one JSON object per image per line")
    classify.add_argument("--config", help="settings file (model path, detector threshold)")
    classify.set_defaults(handler=cmd_classify)

    render = commands.add_parser(
        "render", parents=[verbose], help="draw one memoji to a PNG file")
    render.add_argument("--expression", required=True, choices=EXPRESSIONS)
    render.add_argument("--look", help="a look as JSON (as the web page saves it)")
    render.add_argument("--size", type=_render_size, default=512,
                        help=f"pixels, up to {MAX_RENDER_PX} (default 512)")
    render.add_argument("--out", required=True, help="PNG file to write")
    render.set_defaults(handler=cmd_render)

    bench = commands.add_parser(
        "bench", parents=[verbose], help="measure the loop's speed on a replay")
    bench.add_argument("--source", required=True, help="image, folder of images or video")
    bench.add_argument("--frames", type=_positive_int, default=300)
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--config", help="settings file (model path, detector threshold)")
    bench.set_defaults(handler=cmd_bench)

    config = commands.add_parser(
        "config", parents=[verbose],
        help="print the default settings file, or check one with --check")
    config.add_argument("--check", metavar="FILE",
                        help="validate FILE and load the models it names; exit 2 with the "
                             "problem otherwise")
    config.set_defaults(handler=cmd_config)

    web = commands.add_parser(
        "web", parents=[verbose], help="serve the LAN page alone (no camera)")
    web.add_argument("--config", help="settings file (TOML)")
    web.add_argument("--host")
    web.add_argument("--port", type=int)
    web.add_argument("--data-dir", help="where the gallery and the look are kept")
    web.set_defaults(handler=cmd_web)

    erase = commands.add_parser(
        "erase", parents=[verbose],
        help="delete every saved memoji, with its photo and thumbnail (the end of an event)")
    erase.add_argument("--config", help="settings file (TOML): its storage.data_dir")
    erase.add_argument("--data-dir", help="the data folder, if not the settings' storage.data_dir")
    erase.add_argument("--yes", action="store_true",
                       help="do not ask for the number of memojis first (scripts)")
    erase.set_defaults(handler=cmd_erase)
    return parser


MAX_RENDER_PX = 4096  # a 4096x4096 RGBA surface is 64 MB; beyond that cairo fails or memory runs out


def _render_size(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_RENDER_PX:
        raise argparse.ArgumentTypeError(f"at most {MAX_RENDER_PX} pixels, got {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:  # argparse would name this function: "invalid _positive_int value"
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def setup_logging(verbose: bool) -> None:
    """To stderr; without timestamps under systemd (the journal adds its own), and there
    with each line's priority. The module's name only with -v: the operator reads words."""
    under_journal = bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))
    fmt = "%(levelname)s %(name)s: %(message)s" if verbose else "%(levelname)s: %(message)s"
    if not under_journal:
        fmt = "%(asctime)s " + fmt
    level = logging.DEBUG if verbose else logging.INFO
    journal = _stderr_is_the_journal()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter((_JournalFormatter if journal else logging.Formatter)(fmt, datefmt="%H:%M:%S"))
    logging.basicConfig(level=level, handlers=[handler])
    logging.getLogger().setLevel(level)  # also when a host (pytest) configured handlers first
    if journal:  # a crash's traceback, Python prints plain: "info" there
        threading.excepthook = _log_thread_crash


def _log_thread_crash(crash: threading.ExceptHookArgs) -> None:
    if crash.exc_type is not SystemExit:
        name = crash.thread.name if crash.thread is not None else "a thread"
        log.critical("%s stopped on an unexpected error (a bug)", name,
                     exc_info=(crash.exc_type, crash.exc_value, crash.exc_traceback))


def _stderr_is_the_journal() -> bool:
    """systemd names the journal's stream in $JOURNAL_STREAM (device:inode): when stderr is
    that stream, a line may start with its priority (<3> ...), which journald keeps."""
    try:
        device, inode = (int(part) for part in os.environ.get("JOURNAL_STREAM", "").split(":"))
        stat = os.fstat(sys.stderr.fileno())
    except (ValueError, OSError, AttributeError):  # unset, malformed, or no real stderr
        return False
    return (stat.st_dev, stat.st_ino) == (device, inode)


def _syslog_priority(level: int) -> int:
    if level >= logging.CRITICAL:
        return 2
    if level >= logging.ERROR:
        return 3
    if level >= logging.WARNING:
        return 4
    return 6 if level >= logging.INFO else 7


class _JournalFormatter(logging.Formatter):
    """Every line, a traceback's too, starts with its syslog priority: the journal then
    shows errors and warnings in colour, and `journalctl -p warning` shows them alone
    (without it every line of stderr is the same "info")."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_syslog_priority(record.levelno)}>"
        return prefix + super().format(record).replace("\n", "\n" + prefix)


def _print_error(text: str) -> None:
    """A line that ends the command, on stderr; an error (<3>) in the journal."""
    prefix = f"<{_syslog_priority(logging.ERROR)}>" if _stderr_is_the_journal() else ""
    print(f"{prefix}memoji-booth: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return args.handler(args)
    except KeyboardInterrupt as stop:
        if str(stop):  # what was cut short (bench: no report from half a run)
            print(f"memoji-booth: interrupted: {stop}", file=sys.stderr)
        return 130
    except Exception as error:
        if isinstance(error, _user_error_types()):
            _print_error(f"{error}{_sandbox_advice(error)}")
            return EXIT_USAGE
        if _stderr_is_the_journal():  # its traceback at its priority, not as "info"
            log.critical("stopped on an unexpected error (a bug)", exc_info=error)
            return EXIT_FAILED  # as an uncaught exception exits
        raise


def _sandbox_advice(error: BaseException) -> str:
    """Under the service every folder but its own is read-only (ProtectSystem=strict): a
    data folder moved to a USB stick reads 'Read-only file system' until it is allowed."""
    cause = error.__cause__
    under_systemd = bool(os.environ.get("INVOCATION_ID"))
    if not (under_systemd and isinstance(cause, OSError) and cause.errno == errno.EROFS):
        return ""
    return ("; the service may write only to /var/lib/memoji-booth: allow another folder with "
            "`sudo systemctl edit memoji-booth`, adding [Service] and ReadWritePaths=THE_FOLDER")


if __name__ == "__main__":
    sys.exit(main())
