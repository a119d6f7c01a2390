"""Pi health: the kernel's files read from fake sysfs trees, the decisions, the journal lines
and the monitor's thread. No Pi needed: what a Pi 4 or 5 would show is written by hand."""

from __future__ import annotations

import builtins
import errno
import logging
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from device import health
from device.health import (
    CARD_LOW_MB,
    HEAT_ADVICE,
    POWER_ADVICE,
    Fault,
    HealthMonitor,
    PiSensors,
    Reading,
    faults_of,
)
from device.recurring import REPEAT_LOG_S
from device.storage import FULL_CARD_ADVICE

# What a Pi 4 on Raspberry Pi OS Bookworm has (hwmon numbers vary: found by name).
PI_HWMON = {"hwmon0": {"name": "cpu_thermal", "temp1_input": "48300"},
            "hwmon1": {"name": "rpi_volt", "in0_lcrit_alarm": "0"}}
PI_ZONES = {"thermal_zone0": {"type": "cpu-thermal", "temp": "48300"}}


def sysfs(root: Path, hwmon: dict | None = None, zones: dict | None = None) -> Path:
    """A fake /sys under `root`: {"hwmon1": {"name": "rpi_volt", ...}}, {"thermal_zone0": {...}}."""
    for folder, devices in (("hwmon", hwmon or {}), ("thermal", zones or {})):
        for device, files in devices.items():
            for name, text in files.items():
                path = root / "sys/class" / folder / device / name
                path.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(text, bytes):
                    path.write_bytes(text)
                else:
                    path.write_text(text + "\n")
    return root


def sensors_on(root: Path, data_dir: Path | None = None) -> PiSensors:
    sensors = PiSensors(data_dir or root, root=root)
    sensors.find()
    return sensors


# ------------------------------------------------------------------ reading the kernel's files


def test_a_pi_tree_gives_the_alarm_and_the_temperature(tmp_path):
    sensors = sensors_on(sysfs(tmp_path, PI_HWMON, PI_ZONES))
    assert sensors.under_voltage() is False
    assert sensors.temperature_c() == pytest.approx(48.3)
    (tmp_path / "sys/class/hwmon/hwmon1/in0_lcrit_alarm").write_text("1\n")
    assert sensors.under_voltage() is True


def test_the_alarm_is_found_by_the_devices_name_not_its_number(tmp_path):
    """hwmonN numbers follow the order drivers load in: rpi_volt is hwmon0 on one Pi, 1 or 3
    on another."""
    sensors = sensors_on(sysfs(tmp_path, {
        "hwmon0": {"name": "cpu_thermal", "in0_lcrit_alarm": "0"},  # not the one
        "hwmon2": {"name": "pwmfan"},
        "hwmon3": {"name": "rpi_volt", "in0_lcrit_alarm": "1"},
    }))
    assert sensors.under_voltage() is True


def test_the_processors_zone_is_chosen_by_its_type(tmp_path):
    sensors = sensors_on(sysfs(tmp_path, zones={
        "thermal_zone0": {"type": "rp1_adc", "temp": "30000"},
        "thermal_zone1": {"type": "cpu-thermal", "temp": "81234"},
    }))
    assert sensors.temperature_c() == pytest.approx(81.234)


def test_a_laptop_knows_nothing_and_says_nothing(tmp_path, caplog):
    """No rpi_volt, no cpu-thermal zone (a laptop's zones are ACPI's): not known, no line."""
    root = sysfs(tmp_path, {"hwmon0": {"name": "acpitz", "temp1_input": "45000"},
                            "hwmon1": {"temp1_input": "45000"}},  # no name: an old driver
                 {"thermal_zone0": {"type": "x86_pkg_temp", "temp": "52000"},
                  "thermal_zone1": {"temp": "52000"}})
    with caplog.at_level(logging.DEBUG, logger="device"):
        sensors = sensors_on(root)
        assert (sensors.under_voltage(), sensors.temperature_c()) == (None, None)
        empty = sensors_on(tmp_path / "container")  # no /sys/class at all
        assert (empty.under_voltage(), empty.temperature_c()) == (None, None)
        assert PiSensors(tmp_path / "no-such-folder", root=root).card_free_mb() is None
    assert caplog.records == []


@pytest.mark.parametrize("alarm, expected", [("0", False), ("1", True), ("2", None), ("", None),
                                             ("yes", None), (b"\xff\xfe", None)])
def test_an_alarm_that_is_not_0_or_1_is_not_known(tmp_path, alarm, expected):
    sensors = sensors_on(sysfs(tmp_path, {"hwmon0": {"name": "rpi_volt", "in0_lcrit_alarm": alarm}}))
    assert sensors.under_voltage() is expected


@pytest.mark.parametrize("temp, expected", [("48300", 48.3), ("-5000", -5.0), ("banana", None),
                                            ("", None), ("48.3", None), ("-274000", None),
                                            ("999999999", None), (b"\x00\x9c", None)])
def test_a_temperature_no_sensor_could_give_is_not_known(tmp_path, temp, expected):
    sensors = sensors_on(sysfs(tmp_path, zones={"thermal_zone0": {"type": "cpu-thermal", "temp": temp}}))
    assert sensors.temperature_c() == (pytest.approx(expected) if expected is not None else None)


def test_files_that_cannot_be_read_are_not_known(tmp_path, monkeypatch):
    """A sensor not ready answers EINVAL (seen on Pi kernels); a file may be anything."""
    root = sysfs(tmp_path, PI_HWMON, PI_ZONES)
    sensors = sensors_on(root)
    alarm = root / "sys/class/hwmon/hwmon1/in0_lcrit_alarm"
    alarm.unlink()
    alarm.mkdir()  # IsADirectoryError
    real_open = builtins.open

    def einval(path, *args, **kwargs):
        if str(path).endswith("thermal_zone0/temp"):
            raise OSError(errno.EINVAL, "Invalid argument", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", einval)
    assert (sensors.under_voltage(), sensors.temperature_c()) == (None, None)


def test_a_device_that_comes_later_is_found_at_the_next_look(tmp_path):
    sensors = sensors_on(tmp_path)
    assert sensors.under_voltage() is None
    sysfs(tmp_path, PI_HWMON)
    assert sensors.under_voltage() is None  # looked up again only by find() (each check)
    sensors.find()
    assert sensors.under_voltage() is False


def test_free_space_is_the_data_folders(tmp_path, monkeypatch):
    seen = []

    def disk_usage(path):
        seen.append(Path(path))
        return SimpleNamespace(total=64 << 30, used=60 << 30, free=420 * health.MIB)

    monkeypatch.setattr(health.shutil, "disk_usage", disk_usage)
    assert PiSensors(tmp_path / "data", root=tmp_path).card_free_mb() == pytest.approx(420)
    assert seen == [tmp_path / "data"]


def test_free_space_of_a_real_folder_is_a_number(tmp_path):
    assert PiSensors(tmp_path, root=tmp_path).card_free_mb() > 0


# ------------------------------------------------------------------ deciding


@pytest.mark.parametrize("reading, ongoing, expected", [
    (Reading(), set(), set()),
    (Reading(under_voltage=True), set(), {Fault.UNDER_VOLTAGE}),
    (Reading(under_voltage=False), {Fault.UNDER_VOLTAGE}, set()),
    (Reading(temperature_c=79.9), set(), set()),
    (Reading(temperature_c=80.0), set(), {Fault.HOT}),
    (Reading(temperature_c=77.0), {Fault.HOT}, {Fault.HOT}),  # held at 80-85: not ended at 79
    (Reading(temperature_c=74.9), {Fault.HOT}, set()),
    (Reading(card_free_mb=CARD_LOW_MB), set(), set()),
    (Reading(card_free_mb=CARD_LOW_MB - 1), set(), {Fault.CARD_LOW}),
    (Reading(card_free_mb=CARD_LOW_MB + 20), {Fault.CARD_LOW}, {Fault.CARD_LOW}),  # one prune
    (Reading(card_free_mb=health.CARD_OK_MB + 1), {Fault.CARD_LOW}, set()),
    # not known keeps what was known: a sensor that failed once ends nothing
    (Reading(), {Fault.UNDER_VOLTAGE, Fault.HOT, Fault.CARD_LOW},
     {Fault.UNDER_VOLTAGE, Fault.HOT, Fault.CARD_LOW}),
])
def test_what_is_wrong(reading, ongoing, expected):
    assert faults_of(reading, frozenset(ongoing)) == expected


# ------------------------------------------------------------------ the monitor


class FakeSensors:
    """Values a test sets; `under_voltage` may be a list, one per read (the last repeats)."""

    def __init__(self, under_voltage=None, temperature_c=None, card_free_mb=None):
        self.volts, self.celsius, self.free = under_voltage, temperature_c, card_free_mb
        self.finds = 0
        self.threads: set[str] = set()
        self.checked = threading.Event()

    def find(self):
        self.finds += 1
        self.threads.add(threading.current_thread().name)

    def under_voltage(self):
        if isinstance(self.volts, list):
            return self.volts.pop(0) if len(self.volts) > 1 else self.volts[0]
        return self.volts

    def temperature_c(self):
        return self.celsius

    def card_free_mb(self):
        self.checked.set()
        return self.free


def test_a_dip_between_checks_is_not_missed(tmp_path):
    """The alarm holds each 2 s answer of the firmware; a check every 10 s would see one dip
    in five. Samples in between remember it until the check."""
    sensors = FakeSensors(under_voltage=[False, True, False, False])
    monitor = HealthMonitor(sensors)
    monitor.sample()
    monitor.sample()
    assert monitor.check(10.0).under_voltage is True  # the dip, gone by the check
    assert monitor.check(20.0).under_voltage is False
    status = monitor.status()
    assert status["under_voltage"] is False and status["under_voltage_since_start"] is True


def test_the_status_says_null_for_what_is_not_known():
    monitor = HealthMonitor(FakeSensors())
    expected = {"under_voltage": None, "under_voltage_since_start": None, "throttled": None,
                "temperature_c": None, "card_free_mb": None, "warnings": []}
    assert monitor.status() == expected  # before any check
    monitor.check(0.0)
    assert monitor.status() == expected


def test_the_status_of_a_hot_pi_on_a_weak_supply_with_a_full_card():
    monitor = HealthMonitor(FakeSensors(under_voltage=True, temperature_c=82.46, card_free_mb=420.7))
    monitor.check(0.0)
    status = monitor.status()
    assert {key: status[key] for key in status if key != "warnings"} == {
        "under_voltage": True, "under_voltage_since_start": True, "throttled": True,
        "temperature_c": 82.5, "card_free_mb": 420}
    power, heat, card = status["warnings"]
    assert POWER_ADVICE in power and "82 °C" in heat and HEAT_ADVICE in heat
    assert "420 MB left" in card and FULL_CARD_ADVICE in card


def journal(caplog) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "device.health"]


@pytest.mark.parametrize("fault, bad, good, advice, end", [
    ("volts", True, False, POWER_ADVICE, "the supply voltage is normal again, after 91 checks"),
    ("celsius", 83.0, 70.0, HEAT_ADVICE, "the processor has cooled below 75 °C, after 91 checks"),
    ("free", 300.0, 900.0, FULL_CARD_ADVICE, "the memory card has room again, after 91 checks"),
])
def test_a_fault_is_logged_when_it_starts_every_five_minutes_and_when_it_ends(
        caplog, fault, bad, good, advice, end):
    """15 minutes of it, checked every 10 s: 91 checks, 4 lines, not 91."""
    sensors = FakeSensors()
    monitor = HealthMonitor(sensors)
    setattr(sensors, fault, good)
    with caplog.at_level(logging.INFO, logger="device.health"):
        monitor.check(0.0)
        setattr(sensors, fault, bad)
        for step in range(91):
            monitor.check(10.0 + 10.0 * step)
        setattr(sensors, fault, good)
        monitor.check(920.0)
        monitor.check(930.0)
    lines = journal(caplog)
    assert [level for level, _ in lines] == ["WARNING"] * 4 + ["INFO"], lines
    assert all(advice in message for _, message in lines[:4])
    assert "still" not in lines[0][1]
    assert [message.rsplit("(still, ", 1)[-1] for _, message in lines[1:4]] == [
        f"{n} checks in a row)" for n in (31, 61, 91)]  # every REPEAT_LOG_S of 10 s checks
    assert REPEAT_LOG_S == 300
    assert lines[-1][1] == end


def test_a_healthy_pi_writes_nothing(caplog):
    monitor = HealthMonitor(FakeSensors(under_voltage=False, temperature_c=55.0, card_free_mb=9000.0))
    with caplog.at_level(logging.DEBUG, logger="device.health"):
        for step in range(100):
            monitor.check(10.0 * step)
    assert journal(caplog) == []
    assert monitor.status()["warnings"] == [] and monitor.status()["throttled"] is False


def test_the_monitor_checks_on_its_own_thread_and_stops():
    sensors = FakeSensors(card_free_mb=9000.0)
    monitor = HealthMonitor(sensors, sample_every_s=0.01)
    monitor.start()
    try:
        assert sensors.checked.wait(10)
    finally:
        monitor.close(timeout=30)  # the check under way ends first, however slowly
    assert sensors.threads == {"pi-health"}
    assert not any(t.name == "pi-health" for t in threading.enumerate())
    assert monitor.status()["card_free_mb"] == 9000


def test_a_bug_in_a_check_is_logged_and_the_thread_goes_on(caplog):
    sensors = FakeSensors(card_free_mb=9000.0)
    calls = []

    def broken_once():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return FakeSensors.temperature_c(sensors)

    sensors.temperature_c = broken_once
    monitor = HealthMonitor(sensors, check_every_s=0.0, sample_every_s=0.01)
    with caplog.at_level(logging.ERROR, logger="device.health"):
        monitor.start()
        try:
            assert sensors.checked.wait(10)
        finally:
            monitor.close()
    assert [m for _, m in journal(caplog)] == ["checking the Pi's health failed (1 so far)"]
