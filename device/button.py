"""The GPIO capture button (and its optional LED), at the hardware edge.

gpiozero runs ``when_pressed`` on its own thread, so the callback only hands
an event to the booth loop (``on_press`` is the loop queue's put); it never
draws or does I/O. Off a Raspberry Pi gpiozero finds no pin library: the
button is then disabled with one log line and the booth works from the
keyboard and the web page. Tests and demos get a working button by setting
``GPIOZERO_PIN_FACTORY=mock`` (or ``Device.pin_factory = MockFactory()``) or
by passing ``pin_factory``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable

log = logging.getLogger(__name__)

__all__ = ["CaptureButton"]


class CaptureButton:
    """A pulled-up, debounced push button on a BCM pin; a press calls ``on_press()``."""

    def __init__(
        self,
        pin: int,
        *,
        on_press: Callable[[], object],
        led_pin: int | None = None,
        bounce_s: float = 0.05,
        pin_factory: object | None = None,
    ) -> None:
        self.pin = pin
        self.on_press = on_press
        self._button = None
        self._led = None
        try:
            from gpiozero import LED, Button
            from gpiozero.exc import BadPinFactory
        except ImportError:  # gpiozero itself missing: same outcome as no pin library
            log.warning("capture button disabled: gpiozero is not installed")
            return
        try:
            with warnings.catch_warnings():
                # One log line instead of gpiozero's PinFactoryFallback warning per library.
                warnings.simplefilter("ignore")
                self._button = Button(
                    pin, pull_up=True, bounce_time=bounce_s or None, pin_factory=pin_factory
                )
        except BadPinFactory:
            self._close_devices()
            log.info(
                "capture button disabled: no GPIO pin library here (not a Raspberry Pi?); "
                "set GPIOZERO_PIN_FACTORY=mock to simulate one"
            )
            return
        except Exception as error:  # pin libraries raise their own classes
            # gpiozero's errors, OSError, and e.g. lgpio's `error` ("GPIO busy": another
            # process or an overlay holds the pin), which derives from Exception only.
            # The booth must start without its button rather than not at all.
            self._close_devices()
            log.warning("capture button disabled: GPIO%s cannot be used: %s", pin, error)
            return
        self._button.when_pressed = self._pressed
        if led_pin:
            self._led = self._open_led(LED, led_pin, pin_factory)
        log.info("capture button on GPIO%s%s", pin, f", LED on GPIO{led_pin}" if self._led else "")

    @staticmethod
    def _open_led(led_class: type, pin: int, pin_factory: object | None) -> object | None:
        """The LED is a nicety: a pin it cannot have costs the LED, never the button."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return led_class(pin, pin_factory=pin_factory)
        except Exception as error:  # any pin library's error, as for the button
            log.warning("status LED disabled: GPIO%s cannot be used: %s", pin, error)
            return None

    @property
    def enabled(self) -> bool:
        """True when a real (or mock) pin backs the button."""
        return self._button is not None

    def _pressed(self) -> None:
        """Runs on gpiozero's thread: post the event and return."""
        self.on_press()

    def led_on(self) -> None:
        self._drive_led("on")

    def led_off(self) -> None:
        self._drive_led("off")

    def blink(self, on_time: float = 0.25, off_time: float = 0.25) -> None:
        """Blink the LED in the background (gpiozero's thread), e.g. during the countdown."""
        self._drive_led("blink", on_time=on_time, off_time=off_time, background=True)

    def _drive_led(self, action: str, **options: object) -> None:
        """The LED is a nicety: these calls come from the display loop, so a pin that
        fails switches the LED off for good (one log line) instead of stopping the loop."""
        if self._led is None:
            return
        try:
            getattr(self._led, action)(**options)
        except Exception as error:  # any pin library's error
            log.warning("status LED disabled: %s failed: %s", action, error)
            led, self._led = self._led, None
            try:
                led.close()
            except Exception:
                log.debug("closing the LED failed", exc_info=True)

    def _close_devices(self) -> None:
        for device in (self._led, self._button):
            if device is not None:
                try:
                    device.close()
                except Exception:  # closing must never mask the original problem
                    log.debug("closing a GPIO device failed", exc_info=True)
        self._button = self._led = None

    def close(self) -> None:
        """Release the pins (idempotent)."""
        self._close_devices()

    def __enter__(self) -> CaptureButton:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
