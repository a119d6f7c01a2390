"""The capture button on gpiozero's MockFactory: presses post events, the LED follows."""

from __future__ import annotations

import logging
import queue
import time

import pytest
from gpiozero.exc import BadPinFactory

from device.button import CaptureButton


def test_press_posts_one_event(mock_pins):
    events: queue.Queue[str] = queue.Queue()
    button = CaptureButton(17, on_press=lambda: events.put("capture"), bounce_s=None)
    assert button.enabled
    mock_pins.pin(17).drive_low()  # pulled up: a press connects the pin to ground
    assert events.get(timeout=1) == "capture"
    mock_pins.pin(17).drive_high()
    assert events.empty()
    button.close()
    assert not button.enabled


def test_pin_is_pulled_up(mock_pins):
    button = CaptureButton(27, on_press=lambda: None)
    assert mock_pins.pin(27).state == 1  # idle reads high
    button.close()


def test_led_on_off_blink(mock_pins):
    button = CaptureButton(17, on_press=lambda: None, led_pin=22)
    led = mock_pins.pin(22)
    button.led_on()
    assert led.state == 1
    button.led_off()
    assert led.state == 0
    button.blink(on_time=0.01, off_time=0.01)
    seen = set()
    deadline = time.monotonic() + 30  # gpiozero's thread blinks it: however late it starts
    while time.monotonic() < deadline and len(seen) < 2:
        seen.add(led.state)
        time.sleep(0.002)
    assert seen == {0, 1}
    button.led_off()
    button.close()


def test_led_methods_are_harmless_without_led(mock_pins):
    button = CaptureButton(17, on_press=lambda: None)
    button.led_on()
    button.blink()
    button.led_off()
    assert button.enabled and button._led is None
    button.close()


class GpioBusy(Exception):
    """Like lgpio.error: a pin library's own class, outside gpiozero's and OSError."""


class FailingPins:
    """A pin factory whose every use raises `error`: pins held by another process
    (lgpio's "GPIO busy"), or gpiozero off a Pi (BadPinFactory)."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    def __getattr__(self, name):
        raise self._error


def test_a_busy_pin_disables_the_button_not_the_booth(caplog):
    caplog.set_level(logging.WARNING, logger="device.button")
    button = CaptureButton(17, on_press=lambda: None, led_pin=22, pin_factory=FailingPins(GpioBusy("GPIO busy")))
    assert not button.enabled
    assert "GPIO17 cannot be used: GPIO busy" in caplog.text
    button.led_on()
    button.close()


def test_an_led_pin_in_use_costs_the_led_not_the_button(mock_pins, caplog):
    caplog.set_level(logging.WARNING, logger="device.button")
    presses = []
    with CaptureButton(22, on_press=lambda: None):  # something else holds GPIO22
        button = CaptureButton(17, on_press=lambda: presses.append(1), led_pin=22)
        assert button.enabled and button._led is None
        assert "status LED disabled: GPIO22 cannot be used" in caplog.text
        assert "GPIO17 cannot be used" not in caplog.text
        mock_pins.pin(17).drive_low()
        button.led_on()  # harmless without its LED
        button.close()
    assert presses == [1]


def test_an_led_that_fails_is_switched_off_for_good_not_raised(mock_pins, monkeypatch, caplog):
    button = CaptureButton(17, on_press=lambda: None, led_pin=22)

    def fails(*args, **kwargs):
        raise GpioBusy("GPIO busy")

    monkeypatch.setattr(type(button._led), "on", fails)
    button.led_on()  # from the display loop: must not raise
    assert "status LED disabled" in caplog.text and button._led is None
    button.blink()
    assert button.enabled  # the button itself still works
    button.close()


def test_disabled_off_a_pi_with_one_log_line(caplog):
    caplog.set_level(logging.INFO, logger="device.button")
    button = CaptureButton(17, on_press=lambda: None, led_pin=22, pin_factory=FailingPins(BadPinFactory("Unable to load any default pin factory!")))
    assert not button.enabled
    lines = [r for r in caplog.records if r.name == "device.button"]
    assert len(lines) == 1
    assert "disabled" in lines[0].getMessage()
    button.blink()  # still harmless
    button.close()


@pytest.mark.skip_ok_in_ci  # skips only on a Pi or with a GPIO library: not a missing tool
def test_default_factory_off_a_pi_is_disabled(monkeypatch, caplog):
    """With no mock configured, this (non-Pi) machine has no pin library."""
    from gpiozero.devices import Device as _Device

    try:
        import lgpio  # noqa: F401

        pytest.skip("a GPIO library is installed here")
    except ImportError:
        pass
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    monkeypatch.setattr(_Device, "pin_factory", None)
    caplog.set_level(logging.INFO, logger="device.button")
    button = CaptureButton(17, on_press=lambda: None)
    if button.enabled:  # a real Pi running the tests
        button.close()
        pytest.skip("running on a Raspberry Pi")
    assert len([r for r in caplog.records if r.name == "device.button"]) == 1
