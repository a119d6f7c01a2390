"""Tell systemd how the booth is doing (the sd_notify protocol), in pure stdlib.

Under `Type=notify` systemd waits for READY=1 before it calls the unit
started, and with `WatchdogSec=` it restarts the service unless WATCHDOG=1
arrives in time. The loop sends WATCHDOG=1 only while frames really flow, so a
hung camera or a stuck loop gets the kiosk restarted.

Outside systemd (no NOTIFY_SOCKET) every call is a silent no-op, so the loop
calls the Notifier unconditionally. A failed send is logged once and never
raised: a kiosk must not die because its supervisor went away.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings: half of WATCHDOG_USEC, as systemd advises.

    None when systemd set no watchdog for this process (WATCHDOG_USEC unset,
    zero or malformed, or WATCHDOG_PID naming another process).
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    try:
        value = int(usec)
    except ValueError:
        return None
    if value <= 0:
        return None
    return value / 2_000_000


def _socket_address(notify_socket: str) -> str | bytes | None:
    """The address to send to: a path, or an abstract name ('@name' -> b'\\0name')."""
    if notify_socket.startswith("@"):
        return b"\0" + notify_socket[1:].encode()
    if notify_socket.startswith("/"):
        return notify_socket
    # systemd >= 256 may also hand out "vsock:CID:PORT"; a Pi kiosk never needs it.
    log.warning("NOTIFY_SOCKET=%r is not a unix socket address; systemd notifications are off",
                notify_socket)
    return None


class Notifier:
    """Sends state changes to systemd; does nothing when not run by systemd."""

    def __init__(self, notify_socket: str | None, *, watchdog_s: float | None = None):
        self._address = _socket_address(notify_socket) if notify_socket else None
        self._sock: socket.socket | None = None
        self._warned = False
        self.watchdog_s = watchdog_s

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """A Notifier for $NOTIFY_SOCKET and $WATCHDOG_USEC (a no-op one when unset)."""
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET") or None, watchdog_s=watchdog_interval(env))

    @property
    def enabled(self) -> bool:
        """True when messages actually go to systemd."""
        return self._address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings (half of WatchdogSec), or None without a watchdog."""
        return self.watchdog_s

    def notify(self, *assignments: str) -> bool:
        """Send 'KEY=value' lines in one datagram; True when it was sent."""
        if self._address is None:
            return False
        message = "\n".join(assignments).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # Never block the display loop: a receiver that stops reading fills its
                # queue (net.unix.max_dgram_qlen, often 10) and a blocking send would hang.
                self._sock.setblocking(False)
            self._sock.sendto(message, self._address)
        except OSError as error:
            if not self._warned:
                log.warning("cannot notify systemd at %r: %s", self._address, error)
                self._warned = True
            return False
        return True

    def ready(self) -> bool:
        """Start-up is over: the booth shows frames (systemd now calls the unit active)."""
        return self.notify("READY=1", "STATUS=running")

    def watchdog(self) -> bool:
        """Frames are flowing; call at least every watchdog_interval() seconds."""
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """One line shown by `systemctl status memoji-booth`."""
        return self.notify("STATUS=" + " ".join(text.split()))

    def stopping(self) -> bool:
        """Shutdown has begun, so systemd does not mistake it for a hang."""
        return self.notify("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
