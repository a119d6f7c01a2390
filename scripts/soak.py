"""Run the whole booth for a while under steady use and watch it for leaks.

The kiosk runs for days, so what must not grow with time is measured here:
the process's resident memory, its threads and its open files. The booth
runs as `memoji-booth run` does (camera replay, headless screen, the web page
on 127.0.0.1), while a client thread uses it the way guests and the operator
do: it asks for the status, starts captures (countdown 0, so many are saved
and retention keeps pruning), changes the look and pages the gallery.
Replayed frames come as fast as the loop takes them, so a run of minutes
shows as many frames as hours at a camera's 30 per second.

    .venv/bin/python scripts/soak.py --source runs/bench-replay --minutes 15 --json

(`make bench` writes runs/bench-replay.) Samples every --every seconds;
the summary compares the first sample after the warm-up with the last.
Open files are named, not only counted: each sample lists the descriptors
opened and closed since the one before ("17: /path/font.ttf", sockets as
"tcp 127.0.0.1:5000 LISTEN"), `files_after_warmup` those that differ between
the two compared samples, and `open_files_at_end` all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # for `python scripts/soak.py`
    sys.path.insert(0, str(REPO))

WARMUP_S = 60.0  # models loaded, caches filled, first memojis saved: growth is measured after


def resources() -> dict[str, float]:
    """Resident memory (MiB, as `rss_mb`), threads and open file descriptors of this process
    (Linux)."""
    rss_kb = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    return {"rss_mb": round(rss_kb / 1024, 1),
            "threads": len(os.listdir("/proc/self/task")),
            "fds": len(os.listdir("/proc/self/fd"))}


TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
              "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
              "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}


def _address(hex_address: str) -> str:
    """'0100007F:1F90' (/proc/net/tcp, each 32-bit word in host order) -> '127.0.0.1:8080'."""
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4)) if sys.byteorder == "little" else raw
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return f"{socket.inet_ntop(family, raw)}:{int(port, 16)}"


def socket_names(proc_net: Path = Path("/proc/net")) -> dict[str, str]:
    """Socket inode -> what it is ('tcp 127.0.0.1:5000 LISTEN', 'unix /run/x.sock'), from
    /proc/net; an inode not found there (a netlink socket, say) is left out."""
    names: dict[str, str] = {}
    for kind in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = (proc_net / kind).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            ends = _address(local)
            if int(remote.rsplit(":", 1)[1], 16):  # a connection, not a listener
                ends += "->" + _address(remote)
            state_name = TCP_STATES.get(state, state) if kind.startswith("tcp") else ""
            names[inode] = " ".join(part for part in (kind, ends, state_name) if part)
    try:
        lines = (proc_net / "unix").read_text().splitlines()[1:]
    except OSError:
        lines = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 7:
            names[fields[6]] = "unix " + (fields[7] if len(fields) > 7 else "(no name)")
    return names


def open_files() -> dict[str, str]:
    """This process's open file descriptors: number -> what it is (a path, 'pipe:[...]',
    'anon_inode:[eventfd]', or a socket named from /proc/net). Linux only."""
    fd_dir = Path("/proc/self/fd")
    targets: dict[str, str] = {}
    for fd in os.listdir(fd_dir):
        try:
            targets[fd] = os.readlink(fd_dir / fd)
        except OSError:  # closed meanwhile (the listing's own descriptor, for one)
            continue
    names = socket_names() if any(t.startswith("socket:[") for t in targets.values()) else {}
    for fd, target in targets.items():
        if target.startswith("socket:["):
            targets[fd] = names.get(target[len("socket:["):-1], target)
    return dict(sorted(targets.items(), key=lambda item: int(item[0])))


def fd_changes(before: dict[str, str], after: dict[str, str]) -> dict[str, list[str]]:
    """The descriptors opened and closed between two open_files() listings ('fd: what')."""
    return {"opened": [f"{fd}: {what}" for fd, what in after.items() if before.get(fd) != what],
            "closed": [f"{fd}: {what}" for fd, what in before.items() if after.get(fd) != what]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Guests(threading.Thread):
    """Uses the booth through its web page, as phones and the operator would."""

    def __init__(self, base: str, capture_every: float, stop: threading.Event) -> None:
        super().__init__(name="soak-guests", daemon=True)
        self.base, self.capture_every, self.stop = base, capture_every, stop
        self.requests = self.errors = self.captures = 0

    def call(self, method: str, path: str, body: dict | None = None) -> int:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            self.errors += 1
            return 0

    def run(self) -> None:
        presets, turn, next_capture = ("female", "male"), 0, time.monotonic()
        while not self.stop.wait(1.0):
            if self.call("GET", "/api/status") != 200:
                self.errors += 1
            if time.monotonic() >= next_capture:
                next_capture += self.capture_every
                status = self.call("POST", "/api/capture")
                if status == 202:
                    self.captures += 1
                elif status != 409:  # 409: the previous save is still under way
                    self.errors += 1
                turn += 1
                if self.call("PUT", "/api/look", {"preset": presets[turn % 2]}) != 200:
                    self.errors += 1
                if self.call("GET", "/api/gallery?per_page=12") != 200:
                    self.errors += 1


def soak(source: Path, minutes: float, every: float = 10.0, capture_every: float = 5.0,
         warmup_s: float = WARMUP_S) -> dict:
    """Run the booth for `minutes` under steady use; the report as a dict (see the module doc).
    The memojis it saves go to a temporary folder, removed at the end."""
    with tempfile.TemporaryDirectory(prefix="memoji-soak-") as data_dir:
        return _soak(source, Path(data_dir), minutes, every, capture_every, warmup_s)


def _soak(source: Path, data_dir: Path, minutes: float, every: float, capture_every: float,
          warmup_s: float) -> dict:
    from device.app import Booth
    from device.config import load_config

    port = free_port()
    config = load_config(None, {
        "camera.source": str(source), "display.mode": "none", "button.enabled": False,
        "booth.countdown_s": 0, "storage.data_dir": str(data_dir), "storage.keep": 25,
        "web.enabled": True, "web.host": "127.0.0.1", "web.port": port,
    })
    booth = Booth(config)
    done = threading.Event()
    guests = Guests(f"http://127.0.0.1:{port}", capture_every, done)
    samples: list[dict] = []
    listings: list[dict[str, str]] = []  # open_files() of each sample
    started = time.monotonic()

    def take_sample() -> None:
        status = booth.status()
        listing = open_files()
        changes = fd_changes(listings[-1] if listings else {}, listing)
        listings.append(listing)
        samples.append({"t_s": round(time.monotonic() - started, 1), "frames": status["frames"],
                        "saved": len(booth.gallery.entries()), **resources(),
                        "files_opened": changes["opened"], "files_closed": changes["closed"]})

    def sample_until_done() -> None:
        take_sample()
        while not done.wait(every):
            take_sample()
        take_sample()  # the last one, while everything still runs

    sampler = threading.Thread(target=sample_until_done, name="soak-sample", daemon=True)

    def finish() -> None:
        done.wait(minutes * 60)
        done.set()
        sampler.join(timeout=30)
        booth.stop()

    timer = threading.Thread(target=finish, name="soak-timer", daemon=True)
    sampler.start()
    timer.start()
    guests.start()
    booth.run()  # on this (main) thread, as under systemd
    # the timer sets `done` before it stops the booth: unset, the booth stopped on Ctrl+C or
    # SIGTERM, which its loop takes as its stop, and a report would pass for a whole run
    stopped_early = not done.is_set()
    done.set()
    for thread in (sampler, timer, guests):
        thread.join(timeout=30)
    if stopped_early:
        raise KeyboardInterrupt(f"stopped after {time.monotonic() - started:.0f} of "
                                f"{minutes * 60:.0f} seconds")

    at = next((i for i, s in enumerate(samples) if s["t_s"] >= warmup_s), 0)
    settled, last = samples[at], samples[-1]
    hours = (last["t_s"] - settled["t_s"]) / 3600
    return {
        "source": str(source),
        "minutes": minutes,
        "frames": last["frames"],
        "frames_per_second": round(last["frames"] / max(last["t_s"], 1), 1),
        "captures_started": guests.captures,
        "requests": guests.requests,
        "request_errors": guests.errors,
        "saved_now": last["saved"],
        "after_warmup": settled,
        "end": last,
        "growth_after_warmup": {key: round(last[key] - settled[key], 1)
                                for key in ("rss_mb", "threads", "fds")},
        "files_after_warmup": fd_changes(listings[at], listings[-1]),
        "open_files_at_end": listings[-1],
        "hours_after_warmup": round(hours, 3),
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="replay folder (make bench writes one)")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--capture-every", type=float, default=5.0, help="seconds between captures")
    parser.add_argument("--warmup", type=float, default=WARMUP_S,
                        help="seconds before the sample that growth is measured from")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not args.source.exists():
        parser.error(f"--source {args.source}: no such file or folder (make bench writes runs/bench-replay)")
    if args.minutes <= 0 or args.every <= 0 or args.capture_every <= 0:
        parser.error("--minutes, --every and --capture-every must be greater than 0")
    if args.minutes * 60 <= args.warmup:  # else growth is measured from the sample at 0 s
        parser.error(f"--minutes {args.minutes:g} ends before the {args.warmup:g} s warm-up "
                     "that growth is measured from: run longer, or pass a shorter --warmup")
    try:
        report = soak(args.source, args.minutes, args.every, args.capture_every, args.warmup)
    except KeyboardInterrupt as interrupt:
        print(f"soak: interrupted, no report{': ' if str(interrupt) else ''}{interrupt}",
              file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            if key != "samples":
                print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
