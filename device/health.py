"""Pi health: the supply voltage, the processor's heat and the card's free space, read on a
thread of its own and said in the journal while something is wrong.

The commonest failures of a kiosk left running for days are a weak power supply (the
camera drops out, the card is corrupted), heat (the firmware slows the processor, so
expressions are followed more slowly) and a card filling up. Only documented kernel
interfaces are read, never the firmware itself (no vcgencmd, no mailbox):

- under-voltage: ``in0_lcrit_alarm`` of the hwmon device named ``rpi_volt`` (the kernel's
  Documentation/hwmon/raspberrypi-hwmon.rst), found by name since its ``hwmonN`` number
  changes. Its driver asks the firmware every 2 s whether the supply sagged since it last
  asked, and the file says what it was told; so it is sampled every ``SAMPLE_EVERY_S``, to
  miss none. (The firmware node ``soc:firmware/get_throttled`` is not used: deprecated
  since kernel 4.19, each boot's first read of it put a stack trace in the kernel log, and
  Raspberry Pi's kernel removed it in 2025.)
- temperature: ``/sys/class/thermal/thermal_zone*/temp`` (millidegrees Celsius) of the
  zone whose ``type`` is the processor's, ``cpu-thermal`` on a Pi 4 and a Pi 5
  (Documentation/ABI/testing/sysfs-class-thermal). From 80 °C the firmware throttles the
  Arm cores (Raspberry Pi's "Frequency management and thermal control").
- free space: ``shutil.disk_usage`` of the data folder: what the booth's user may still
  write, the root-reserved part left out.

A file that is absent (a laptop, a container) or unreadable, or holds what no kernel
writes, means "not known": never an error and never a journal line. The decisions
(``faults_of``) are pure; the reads sit at the edge (``PiSensors``, given a root so tests
point it at a fake tree).
"""

from __future__ import annotations

import logging
import math
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from device.recurring import RecurringFault
from device.storage import FULL_CARD_ADVICE

__all__ = ["CARD_LOW_MB", "HEAT_ADVICE", "POWER_ADVICE", "THROTTLE_C", "Fault", "HealthMonitor",
           "PiSensors", "Reading", "faults_of"]

log = logging.getLogger(__name__)

CHECK_EVERY_S = 10.0  # temperature and free space change slowly; one check costs well under 1 ms
SAMPLE_EVERY_S = 1.0  # the under-voltage alarm holds each 2-second answer of the firmware
THROTTLE_C = 80.0  # the firmware throttles the Arm cores from here (Raspberry Pi documentation)
COOLED_C = 75.0  # ... and holds them at 80-85 °C meanwhile: "too hot" ends only below this
# A saved memoji with its thumbnail measured at most 153 kB (memoji + 600 px thumbnail of
# 14 random looks; scripts/health_figures.py): 500 MB holds over 3,000 of them, a busy
# event's day and more, and leaves the system room for its journal and updates. Ends above
# CARD_OK_MB, not at the first prune.
CARD_LOW_MB = 500
CARD_OK_MB = 550
MIB = 1024 * 1024  # df -h's "M"
POWER_ADVICE = ("Use the official power supply and its cable: 5.1 V 3 A for a Pi 4, 5.1 V 5 A "
                "for a Pi 5; USB devices that need power on a powered hub")
HEAT_ADVICE = ("Give it air: a heatsink or fan (a Pi 5's Active Cooler), a case with vents, out "
               "of the sun")

_VOLT_HWMON = "rpi_volt"  # raspberrypi-hwmon's device name
_CPU_ZONES = frozenset({"cpu-thermal", "cpu_thermal"})  # the zone's type on Pi 4 and Pi 5
_PLAUSIBLE_C = (-40.0, 150.0)  # outside this, a sensor's reading is garbage, not a temperature


class Fault(StrEnum):
    """What the journal and the operator's phone are told of, each in its own words."""

    UNDER_VOLTAGE = "under_voltage"
    HOT = "hot"
    CARD_LOW = "card_low"


@dataclass(frozen=True)
class Reading:
    """One check; None: not known here."""

    under_voltage: bool | None = None  # seen since the previous check
    temperature_c: float | None = None
    card_free_mb: float | None = None


def faults_of(reading: Reading, ongoing: frozenset[Fault] = frozenset()) -> frozenset[Fault]:
    """What is wrong now. Heat and a low card end only past a margin (the firmware holds a
    throttled Pi at 80-85 °C; each save and prune moves the free space a little), so neither
    comes and goes with every check. What is not known keeps what was known."""
    celsius, free = reading.temperature_c, reading.card_free_mb
    hot, low = Fault.HOT in ongoing, Fault.CARD_LOW in ongoing
    now = {  # None: not known
        Fault.UNDER_VOLTAGE: reading.under_voltage,
        Fault.HOT: None if celsius is None else celsius >= (COOLED_C if hot else THROTTLE_C),
        Fault.CARD_LOW: None if free is None else free < (CARD_OK_MB if low else CARD_LOW_MB),
    }
    faults = {fault for fault, wrong in now.items() if (fault in ongoing if wrong is None else wrong)}
    return frozenset(faults)


def describe(fault: Fault, reading: Reading) -> str:
    """What is wrong and what to do, for the journal and the operator's phone alike."""
    if fault is Fault.UNDER_VOLTAGE:
        return ("Under-voltage: the power supply cannot hold the Pi's voltage (the camera may drop "
                f"out, the memory card may be corrupted). {POWER_ADVICE}.")
    if fault is Fault.HOT:
        celsius = reading.temperature_c
        where = "is hot" if celsius is None else f"is at {celsius:.0f} °C"
        return (f"The processor {where}: from {THROTTLE_C:.0f} °C the Pi slows it, and "
                f"expressions are followed more slowly. {HEAT_ADVICE}.")
    left = "" if reading.card_free_mb is None else f" ({math.floor(reading.card_free_mb)} MB left)"
    return f"The memory card is nearly full{left}: saves fail when it is full. {FULL_CARD_ADVICE}."


_ENDED = {
    Fault.UNDER_VOLTAGE: "the supply voltage is normal again",
    Fault.HOT: f"the processor has cooled below {COOLED_C:.0f} °C",
    Fault.CARD_LOW: "the memory card has room again",
}


# ------------------------------------------------------------------ the edge: sysfs and the card


class PiSensors:
    """Reads the kernel's files under `root` and the free space of `data_dir`. Never raises:
    what cannot be read is None. `find()` looks the devices up again (each check does)."""

    def __init__(self, data_dir: Path | str, root: Path | str = "/") -> None:
        self.data_dir = Path(data_dir)
        self.root = Path(root)
        self._alarm: Path | None = None
        self._zone_temp: Path | None = None

    def find(self) -> None:
        """Locate the under-voltage alarm and the processor's thermal zone (a driver may load
        late; a hwmonN number may change)."""
        self._alarm = self._hwmon_file(_VOLT_HWMON, "in0_lcrit_alarm")
        self._zone_temp = self._zone_file(_CPU_ZONES, "temp")

    def under_voltage(self) -> bool | None:
        """The alarm: True if the supply sagged in the firmware's last 2 s."""
        text = _read(self._alarm)
        return {"0": False, "1": True}.get(text) if text is not None else None

    def temperature_c(self) -> float | None:
        text = _read(self._zone_temp)
        try:
            celsius = int(text) / 1000 if text is not None else None
        except ValueError:
            return None
        low, high = _PLAUSIBLE_C
        return celsius if celsius is not None and low <= celsius <= high else None

    def card_free_mb(self) -> float | None:
        try:
            return shutil.disk_usage(self.data_dir).free / MIB
        except OSError:
            return None

    def _hwmon_file(self, name: str, attribute: str) -> Path | None:
        for device in _entries(self.root / "sys/class/hwmon", "hwmon*"):
            if _read(device / "name") == name:
                return device / attribute
        return None

    def _zone_file(self, types: frozenset[str], attribute: str) -> Path | None:
        for zone in _entries(self.root / "sys/class/thermal", "thermal_zone*"):
            if _read(zone / "type") in types:
                return zone / attribute
        return None


def _entries(folder: Path, pattern: str) -> list[Path]:
    try:
        return sorted(folder.glob(pattern))
    except OSError:
        return []


def _read(path: Path | None) -> str | None:
    """A small sysfs file's text, stripped; None when absent, unreadable or not text."""
    if path is None:
        return None
    try:
        with open(path, encoding="ascii") as file:
            return file.read(64).strip()
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:  # EINVAL from a sensor not ready, EACCES, not ASCII
        log.debug("cannot read %s: %s", path, error)
        return None


# ------------------------------------------------------------------ the monitor


class HealthMonitor:
    """Checks `sensors` every `check_every_s` (the under-voltage alarm every `sample_every_s`)
    on its own thread, so a slow read never holds the screen; logs each fault when it starts,
    every REPEAT_LOG_S while it lasts, and when it ends. `status()` is safe from any thread."""

    def __init__(self, sensors: Any, *, clock: Callable[[], float] = time.monotonic,
                 check_every_s: float = CHECK_EVERY_S,
                 sample_every_s: float = SAMPLE_EVERY_S) -> None:
        self.sensors = sensors
        self.check_every_s = check_every_s
        self.sample_every_s = sample_every_s
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: bool | None = None  # under-voltage sampled since the last check
        self._ever: bool | None = None  # ... since the start
        self._reading = Reading()
        self._faults: frozenset[Fault] = frozenset()
        self._recurring = {fault: RecurringFault() for fault in Fault}
        self._broken = RecurringFault()  # a bug in a check: logged, never the end of the thread
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        """Read the under-voltage alarm once; remember it till the next check."""
        now = self.sensors.under_voltage()
        if now is None:
            return
        with self._lock:
            self._seen = bool(self._seen) or now
            self._ever = bool(self._ever) or now

    def check(self, now: float) -> Reading:
        """Read everything, decide, log what started, goes on or ended; returns the reading."""
        self.sensors.find()
        self.sample()
        with self._lock:
            seen, self._seen = self._seen, None
        reading = Reading(seen, self.sensors.temperature_c(), self.sensors.card_free_mb())
        faults = faults_of(reading, self._faults)
        for fault in Fault:
            if fault in faults:
                self._log_fault(fault, reading, now)
            elif ended := self._recurring[fault].ended():
                log.info("%s, after %d checks", _ENDED[fault], ended)
        with self._lock:
            self._reading, self._faults = reading, faults
        return reading

    def _log_fault(self, fault: Fault, reading: Reading, now: float) -> None:
        recurring = self._recurring[fault]
        if recurring.failed(now):
            still = f" (still, {recurring.in_a_row} checks in a row)" if recurring.in_a_row > 1 else ""
            log.warning("%s%s", describe(fault, reading), still)

    def status(self) -> dict[str, Any]:
        """What the operator's page shows; None where not known (or not checked yet)."""
        with self._lock:
            reading, faults, ever = self._reading, self._faults, self._ever
        temperature = reading.temperature_c
        free = reading.card_free_mb
        return {
            "under_voltage": reading.under_voltage,
            "under_voltage_since_start": ever,
            "throttled": None if temperature is None else temperature >= THROTTLE_C,
            "temperature_c": None if temperature is None else round(temperature, 1),
            "card_free_mb": None if free is None else math.floor(free),
            "warnings": [describe(fault, reading) for fault in Fault if fault in faults],
        }

    def start(self) -> None:
        """Check now and then every `check_every_s`, on a thread of its own."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="pi-health", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 2.0) -> None:
        """Stop; waits at most `timeout` (a read hung on a failing card ends with the process)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        next_check = -math.inf
        while not self._stop.is_set():
            now = self._clock()
            try:
                if now >= next_check:
                    next_check = now + self.check_every_s
                    self.check(now)
                else:
                    self.sample()
            except Exception:
                if self._broken.failed(now):
                    log.exception("checking the Pi's health failed (%d so far)", self._broken.total)
            self._stop.wait(self.sample_every_s)
