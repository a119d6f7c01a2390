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
    """Resident memory (MB), threads and open file descriptors of this process (Linux)."""
    rss_kb = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    return {"rss_mb": round(rss_kb / 1024, 1),
            "threads": len(os.listdir("/proc/self/task")),
            "fds": len(os.listdir("/proc/self/fd"))}


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
    started = time.monotonic()

    def take_sample() -> None:
        status = booth.status()
        samples.append({"t_s": round(time.monotonic() - started, 1), "frames": status["frames"],
                        "saved": len(booth.gallery.entries()), **resources()})

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
    done.set()
    for thread in (sampler, timer, guests):
        thread.join(timeout=30)

    settled = next((s for s in samples if s["t_s"] >= warmup_s), samples[0])
    last = samples[-1]
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
    report = soak(args.source, args.minutes, args.every, args.capture_every, args.warmup)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            if key != "samples":
                print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
