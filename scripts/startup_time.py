"""Time the booth's start: from process start to the page, READY=1 and the first memoji.

The booth starts on boot and after every crash (systemd's Restart=always), and
until it is up the screen is dark and the phone page is down. This starts
`memoji-booth run` as systemd does (a headless SDL screen, the replay as its
camera, a temporary data folder, NOTIFY_SOCKET pointed at a socket listened to
here) and records, from the moment the process is started:

- web: the page first answers `/api/status`;
- ready: READY=1 arrives (the booth sends it right after it shows its first frame);
- memojis: the seven memojis of the look are ready (their log line; until then the
  screen shows a stand-in);
- gallery_request: then, once the start's work is over (SETTLE_S later), how long the
  page takes to list the gallery's first page (the first listing after a start reads
  every memoji's metadata).

    .venv/bin/python scripts/startup_time.py --source runs/bench-replay --runs 7
    .venv/bin/python scripts/startup_time.py --source runs/bench-replay --gallery 1000

`--gallery N` fills the data folder with N memojis (and their thumbnails) first, as
after a busy event; `--draw-memojis` removes the memojis the booth keeps drawn in the
data folder before each start, as at the first start with a new look or screen;
`--checkout DIR` (repeatable) times other checkouts too, in turn with each other
run, so that a busy machine slows them alike.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # for `python scripts/startup_time.py`
    sys.path.insert(0, str(REPO))

MARKS = ("web", "ready", "memojis")
SETTLE_S = 1.0  # after the last mark: what the booth does right after it starts is done
MEMOJIS_READY = "memojis ready"  # device/avatar.py's debug line when a set is done


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fill_gallery(data_dir: Path, count: int) -> None:
    """`count` saved memojis with their thumbnails, as a booth has after a busy event."""
    from device.avatar import DEFAULT_LOOK, render_png
    from device.gallery import SAVED_PX, Gallery

    gallery = Gallery(data_dir / "gallery", keep=count)
    png = render_png(DEFAULT_LOOK, "happy", size=SAVED_PX)
    thumb = None
    for _ in range(count):
        entry = gallery.save(png, expression="happy", score=0.9, look=DEFAULT_LOOK)
        if thumb is None:
            thumb = gallery.thumb_of(entry.name)
        else:  # the same picture: copied, not drawn again
            shutil.copyfile(thumb, thumb.parent / entry.name)


def write_config(data_dir: Path, source: Path, port: int) -> Path:
    path = data_dir / "config.toml"
    path.write_text(f"[camera]\nsource = {json.dumps(str(source))}\n"
                    f"[storage]\ndata_dir = {json.dumps(str(data_dir))}\n"
                    f"[web]\nhost = \"127.0.0.1\"\nport = {port}\n"
                    "[button]\nenabled = false\n", encoding="utf-8")
    return path


def forget_drawn_memojis(data_dir: Path) -> None:
    from device.app import MEMOJI_STORE

    shutil.rmtree(data_dir / MEMOJI_STORE, ignore_errors=True)


def time_one_start(source: Path, data_dir: Path, checkout: Path = REPO,
                   timeout_s: float = 60.0) -> dict:
    """One start of the booth in `checkout`: seconds from process start to each mark, the
    gallery request's seconds, and `exit` (its exit code after SIGTERM). A start that
    does not reach every mark also gets `log`, its stderr."""
    port = free_port()
    config = write_config(data_dir, source, port)
    notify_path = data_dir / "notify.sock"
    notify_path.unlink(missing_ok=True)
    env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy",
               NOTIFY_SOCKET=str(notify_path), PYTHONUNBUFFERED="1")
    for name in ("JOURNAL_STREAM", "INVOCATION_ID", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(name, None)
    marks: dict = {}
    lines: list[str] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(notify_path))
        notify.settimeout(0.05)
        started = time.monotonic()
        booth = subprocess.Popen(
            [sys.executable, "-m", "device", "run", "-v", "--config", str(config),
             "--display", "window"],
            cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        done = threading.Event()

        def read_log() -> None:
            for line in booth.stderr:
                lines.append(line)
                if MEMOJIS_READY in line:
                    marks.setdefault("memojis", time.monotonic() - started)

        def read_notify() -> None:
            while not done.is_set():
                try:
                    message = notify.recv(4096).decode()
                except TimeoutError:
                    continue
                if "READY=1" in message.split("\n"):
                    marks.setdefault("ready", time.monotonic() - started)

        readers = [threading.Thread(target=read_log, daemon=True),
                   threading.Thread(target=read_notify, daemon=True)]
        for reader in readers:
            reader.start()
        base = f"http://127.0.0.1:{port}"
        try:
            while time.monotonic() - started < timeout_s and booth.poll() is None:
                if "web" not in marks:  # only until it answers: a busy client slows the rest
                    try:
                        with urllib.request.urlopen(base + "/api/status", timeout=5) as reply:
                            reply.read()
                        marks["web"] = time.monotonic() - started
                    except (OSError, http.client.HTTPException):  # not up, or going down
                        pass
                if all(mark in marks for mark in MARKS):
                    time.sleep(SETTLE_S)
                    asked = time.monotonic()
                    with urllib.request.urlopen(base + "/api/gallery?per_page=12",
                                                timeout=30) as reply:
                        reply.read()
                    marks["gallery_request"] = time.monotonic() - asked
                    break
                time.sleep(0.005)
        finally:
            if booth.poll() is None:
                booth.send_signal(signal.SIGTERM)
            try:
                booth.wait(20)
            except subprocess.TimeoutExpired:
                booth.kill()
                booth.wait()
            done.set()
            for reader in readers:
                reader.join(timeout=30)  # the log ends when the booth does
    marks["exit"] = booth.returncode
    if not all(mark in marks for mark in MARKS):
        marks["log"] = "".join(lines)
    return marks


def medians(runs: list[dict]) -> dict:
    """The median of each mark over the runs that reached it."""
    found = {}
    for mark in (*MARKS, "gallery_request"):
        values = [run[mark] for run in runs if mark in run]
        if values:
            found[mark] = round(statistics.median(values), 3)
    return found


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _time_starts(args: argparse.Namespace, checkouts: list[Path],
                 runs: dict[Path, list[dict]]) -> None:
    with tempfile.TemporaryDirectory(prefix="memoji-startup-") as temp:
        data_dir = Path(temp)
        if args.gallery:
            fill_gallery(data_dir, args.gallery)
        for _ in range(args.runs):
            for checkout in checkouts:
                if args.draw_memojis:
                    forget_drawn_memojis(data_dir)
                run = time_one_start(args.source.resolve(), data_dir, checkout)
                runs[checkout].append(run)
                if "log" in run:
                    print(f"{checkout}: a start did not get through:\n{run['log']}",
                          file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True,
                        help="replay folder (make bench writes runs/bench-replay)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--gallery", type=int, default=0, help="memojis saved before the runs")
    parser.add_argument("--draw-memojis", action="store_true",
                        help="remove the memojis kept drawn before each start")
    parser.add_argument("--checkout", type=Path, action="append", default=[],
                        help="also time this checkout, in turn (repeatable)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not args.source.exists():
        parser.error(f"--source {args.source}: no such file or folder "
                     "(make bench writes runs/bench-replay)")
    if args.runs < 1 or args.gallery < 0:
        parser.error("--runs must be at least 1 and --gallery at least 0")
    checkouts = [REPO, *(path.resolve() for path in args.checkout)]
    runs: dict[Path, list[dict]] = {checkout: [] for checkout in checkouts}
    # SIGTERM as Ctrl+C: killed outright, it left the booth it had started running, and the
    # temporary data folder behind
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        _time_starts(args, checkouts, runs)
    except KeyboardInterrupt:
        print("startup_time: interrupted, no report", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    report = {str(checkout): {"median_s": medians(found), "runs": found}
              for checkout, found in runs.items()}
    if args.json:
        print(json.dumps(report))
    else:
        for checkout, found in report.items():
            print(f"{checkout}: median of {len(found['runs'])} starts, seconds: "
                  f"{json.dumps(found['median_s'])}")
    failed = any("log" in run or run["exit"] != 0 for found in runs.values() for run in found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
