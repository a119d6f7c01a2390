"""The address a phone on the same LAN uses to reach the booth's web page.

The idle screen shows this URL and a QR code of it. The kiosk has no DNS name
a guest could type, so we find the IP of the interface that routes to the LAN:
connecting a UDP socket only asks the kernel for a route and sends no packet.
Only when there is no route does `lan_address` ask DNS for the hostname, which
can block for seconds: the display reads a `LanAddress` instead, whose thread
does the lookups.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

# Private addresses used only as routing questions: nothing is ever sent to them.
_PROBE_TARGETS = ("10.255.255.254", "192.168.255.254", "172.31.255.254")
_WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}
LAN_REFRESH_S = 30.0  # DHCP may hand out a new address over days of uptime


def _usable(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_unspecified or ip.is_link_local or ip.is_multicast)


def _routed_address(target: str) -> str | None:
    """The local address the kernel would use to reach target (no packet leaves)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((target, 9))  # UDP connect: a route lookup, not a send
            return probe.getsockname()[0]
    except OSError:
        return None


def routed_lan_address() -> str | None:
    """The LAN address by route lookups alone (never blocks: no DNS, no packet); None without a route."""
    for target in _PROBE_TARGETS:
        address = _routed_address(target)
        if address and _usable(address):
            return address
    return None


def lan_address() -> str:
    """This machine's LAN IPv4 address; the hostname's address, or 127.0.0.1, as fallbacks.

    The hostname fallback asks DNS and may block for seconds: never call this on
    the display thread (use `LanAddress`).
    """
    address = routed_lan_address()
    if address:
        return address
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        address = ""
    return address if _usable(address) else "127.0.0.1"


def is_wildcard(host: str | None) -> bool:
    """True for a `web.host` that means "every interface" (the LAN address is shown)."""
    return host is None or host in _WILDCARD_HOSTS


class LanAddress:
    """The LAN address, looked up on a thread of its own and repeated every
    `refresh_s`: `current` never blocks, so the display can read it every frame.

    It starts from a route lookup (instant, no DNS), so the URL is usually
    shown from the first frame; "" means not known yet.
    """

    def __init__(self, refresh_s: float = LAN_REFRESH_S,
                 lookup: Callable[[], str] = lan_address) -> None:
        """lookup: the blocking lookup run on the thread (a seam for tests)."""
        self.refresh_s = refresh_s
        self._lookup = lookup
        self._current = routed_lan_address() or ""
        self._looked_up = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._refresh, name="lan-address", daemon=True)
        self._thread.start()

    @property
    def current(self) -> str:
        """The newest address found, or "" before any or while none is usable; returns at once."""
        return self._current

    def wait(self, timeout: float | None = None) -> str:
        """Block until the first full lookup is done (at most `timeout`): for callers
        off the display thread only."""
        self._looked_up.wait(timeout)
        return self._current

    def _refresh(self) -> None:
        while not self._stop.is_set():
            try:
                address = self._lookup()
            except Exception:  # keep the last address; try again next period
                log.warning("looking up the LAN address failed", exc_info=True)
            else:
                # A loopback address (no route: no network yet, or only the Pi's own hotspot,
                # and the hostname is 127.0.1.1) reaches no phone: no URL rather than that one.
                address = address if _usable(address) else ""
                if address != self._current or not (address or self._looked_up.is_set()):
                    log.info("LAN address: %s", address or "none found (no route to a network; "
                             "a Pi that is its own hotspot: set web.public_url)")
                self._current = address
                self._looked_up.set()
            self._stop.wait(self.refresh_s)

    def close(self) -> None:
        """Stop refreshing; returns at once (a lookup blocked in DNS ends on its own)."""
        self._stop.set()


def web_url(port: int, path: str = "", host: str | None = None) -> str:
    """The URL a phone opens, e.g. http://192.168.1.20:8000/gallery.

    `host` is the configured `web.host`: a specific address is used as is; a
    wildcard (0.0.0.0, ::) means "every interface", so the LAN address is
    looked up, which may block on DNS: the display passes `LanAddress.current`.
    """
    if is_wildcard(host):
        host = lan_address()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    if path and not path.startswith("/"):
        path = "/" + path
    return f"http://{host}:{int(port)}{path}"
