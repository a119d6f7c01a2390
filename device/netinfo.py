"""The address a phone on the same LAN uses to reach the booth's web page.

The idle screen shows this URL and a QR code of it. The kiosk has no DNS name
a guest could type, so we find the IP of the interface that routes to the LAN:
connecting a UDP socket only asks the kernel for a route and sends no packet.
"""

from __future__ import annotations

import ipaddress
import socket

# Private addresses used only as routing questions: nothing is ever sent to them.
_PROBE_TARGETS = ("10.255.255.254", "192.168.255.254", "172.31.255.254")
_WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}


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


def lan_address() -> str:
    """This machine's LAN IPv4 address; the hostname's address, or 127.0.0.1, as fallbacks."""
    for target in _PROBE_TARGETS:
        address = _routed_address(target)
        if address and _usable(address):
            return address
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        address = ""
    return address if _usable(address) else "127.0.0.1"


def web_url(port: int, path: str = "", host: str | None = None) -> str:
    """The URL a phone opens, e.g. http://192.168.1.20:8000/gallery.

    `host` is the configured `web.host`: a specific address is used as is; a
    wildcard (0.0.0.0, ::) means "every interface", so the LAN address is shown.
    """
    if host is None or host in _WILDCARD_HOSTS:
        host = lan_address()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    if path and not path.startswith("/"):
        path = "/" + path
    return f"http://{host}:{int(port)}{path}"
