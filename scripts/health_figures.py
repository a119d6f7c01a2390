"""The figures behind device/health.py's settings, as the README quotes them.

- card: the bytes a saved memoji takes with its gallery thumbnail (the full-size PNG
  of a random look, and its 600-pixel thumbnail), the most of `--looks` looks: what
  CARD_LOW_MB is measured against;
- check: the median time of one HealthMonitor check, and of one sample of the
  under-voltage alarm, on a fake Pi 4 sysfs tree (`--checks` of each).

    .venv/bin/python scripts/health_figures.py
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # for `python scripts/health_figures.py`
    sys.path.insert(0, str(REPO))

# What a Pi 4's kernel shows: its CPU's hwmon, the supply's, and the CPU's thermal zone.
FAKE_PI = {
    "sys/class/hwmon/hwmon0": {"name": "cpu_thermal", "temp1_input": "48300"},
    "sys/class/hwmon/hwmon1": {"name": "rpi_volt", "in0_lcrit_alarm": "0"},
    "sys/class/thermal/thermal_zone0": {"type": "cpu-thermal", "temp": "48300"},
}


def make_fake_pi(root: Path) -> None:
    """FAKE_PI's files under ``root``, as the kernel writes them."""
    for folder, files in FAKE_PI.items():
        (root / folder).mkdir(parents=True)
        for name, text in files.items():
            (root / folder / name).write_text(text + "\n")


def largest_saved_bytes(looks: int, seed: int = 1) -> int:
    """The most bytes one saved memoji and its thumbnail took, over `looks` random looks."""
    from device.avatar import Look, render_png
    from device.gallery import SAVED_PX, Gallery
    from device.labels import EXPRESSIONS

    rng = random.Random(seed)
    largest = 0
    with tempfile.TemporaryDirectory() as folder:
        gallery = Gallery(folder, keep=looks)
        for number in range(looks):
            look, expression = Look.random(rng), EXPRESSIONS[number % len(EXPRESSIONS)]
            entry = gallery.save(render_png(look, expression, size=SAVED_PX),
                                 expression=expression, score=0.9, look=look)
            saved = gallery.path_of(entry.name).stat().st_size
            largest = max(largest, saved + gallery.thumb_of(entry.name).stat().st_size)
    return largest


def median_s(action: Callable[[], object], times: int) -> float:
    taken = []
    for _ in range(times):
        started = time.perf_counter()
        action()
        taken.append(time.perf_counter() - started)
    return statistics.median(taken)


def check_times(checks: int) -> tuple[float, float]:
    """Median seconds of one check and of one alarm sample, on a fake Pi 4 tree."""
    from device.health import HealthMonitor, PiSensors

    with tempfile.TemporaryDirectory() as root:
        make_fake_pi(Path(root))
        monitor = HealthMonitor(PiSensors(root, root=root))
        return median_s(lambda: monitor.check(0.0), checks), median_s(monitor.sample, checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--looks", type=int, default=14, help="random looks saved (card)")
    parser.add_argument("--checks", type=int, default=2000, help="checks timed (check)")
    args = parser.parse_args(argv)
    if args.looks < 1 or args.checks < 1:
        parser.error("--looks and --checks must be at least 1")
    print(f"card: a memoji with its thumbnail took at most {largest_saved_bytes(args.looks):,} "
          f"bytes ({args.looks} random looks)")
    check, sample = check_times(args.checks)
    print(f"check: {check * 1e6:.0f} us, an alarm sample {sample * 1e6:.0f} us "
          f"(median of {args.checks} each, a fake Pi 4 tree)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
