"""The LAN address shown on the idle screen: found by a route lookup, never by a packet."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading

import pytest

from device import netinfo


class FakeUdpSocket:
    """Records what netinfo does with a socket; answers like a kernel with a LAN route."""

    calls: list[str] = []
    local_address = "192.168.1.20"
    fail_connect = False

    def __init__(self, family=socket.AF_INET, kind=socket.SOCK_DGRAM, *args):
        assert kind == socket.SOCK_DGRAM, "the probe must be UDP: a TCP connect sends a SYN"
        self.calls.append("socket")

    def connect(self, address):
        self.calls.append(f"connect {address[0]}")
        if self.fail_connect:
            raise OSError(101, "Network is unreachable")

    def getsockname(self):
        return (self.local_address, 40000)

    def send(self, *args):  # pragma: no cover - failing is the point
        raise AssertionError("lan_address must not send anything")

    sendto = sendall = send

    def close(self):
        self.calls.append("close")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture
def fake_socket(monkeypatch):
    FakeUdpSocket.calls = []
    FakeUdpSocket.local_address = "192.168.1.20"
    FakeUdpSocket.fail_connect = False
    monkeypatch.setattr(netinfo.socket, "socket", FakeUdpSocket)
    return FakeUdpSocket


def test_lan_address_is_the_routed_interface_address_and_sends_nothing(fake_socket):
    assert netinfo.lan_address() == "192.168.1.20"
    assert fake_socket.calls[0] == "socket"
    assert fake_socket.calls[1].startswith("connect ")
    target = fake_socket.calls[1].split()[1]
    assert ipaddress.ip_address(target).is_private
    assert fake_socket.calls[-1] == "close"


def test_without_a_route_it_falls_back_to_the_hostname_address(fake_socket, monkeypatch):
    fake_socket.fail_connect = True
    monkeypatch.setattr(netinfo.socket, "gethostname", lambda: "booth")
    monkeypatch.setattr(netinfo.socket, "gethostbyname", lambda name: "10.0.0.7")
    assert netinfo.lan_address() == "10.0.0.7"


def test_with_nothing_but_loopback_it_says_127_0_0_1(fake_socket, monkeypatch):
    fake_socket.local_address = "127.0.0.1"
    monkeypatch.setattr(netinfo.socket, "gethostname", lambda: "booth")

    def no_such_host(name):
        raise socket.gaierror("unknown host")

    monkeypatch.setattr(netinfo.socket, "gethostbyname", no_such_host)
    assert netinfo.lan_address() == "127.0.0.1"


def test_on_this_machine_it_returns_a_real_ipv4_address():
    address = ipaddress.ip_address(netinfo.lan_address())
    assert address.version == 4


def test_web_url_uses_the_lan_address_for_a_wildcard_host(fake_socket):
    assert netinfo.web_url(8000) == "http://192.168.1.20:8000"
    assert netinfo.web_url(8000, "gallery") == "http://192.168.1.20:8000/gallery"
    assert netinfo.web_url(8080, "/gallery/x.png", host="0.0.0.0") == (
        "http://192.168.1.20:8080/gallery/x.png"
    )


def test_web_url_keeps_a_specific_host():
    assert netinfo.web_url(8000, host="10.1.2.3") == "http://10.1.2.3:8000"
    assert netinfo.web_url(8000, "/", host="fd00::5") == "http://[fd00::5]:8000/"


class BlockingResolver:
    """socket.gethostbyname stand-in like a resolver that hangs: blocks until `answer`
    is set. Called on `forbidden_thread` (the display's) it fails the test instead."""

    def __init__(self, address="10.0.0.7", forbidden_thread=None):
        self.address = address
        self.forbidden_thread = forbidden_thread
        self.asked = threading.Event()
        self.answer = threading.Event()

    def __call__(self, name):
        if threading.current_thread() is self.forbidden_thread:
            raise AssertionError("DNS lookup on the display thread")
        self.asked.set()
        self.answer.wait(timeout=30)  # a bound only in case the test itself fails
        return self.address


@pytest.fixture
def no_route_slow_dns(fake_socket, monkeypatch):
    """No route to the LAN, so the address must come from DNS, which hangs until answered."""
    fake_socket.fail_connect = True
    resolver = BlockingResolver(forbidden_thread=threading.current_thread())
    monkeypatch.setattr(netinfo.socket, "gethostname", lambda: "booth")
    monkeypatch.setattr(netinfo.socket, "gethostbyname", resolver)
    yield resolver
    resolver.answer.set()


def test_lan_address_watcher_answers_at_once_while_dns_hangs(no_route_slow_dns):
    watcher = netinfo.LanAddress(refresh_s=3600)
    try:
        assert no_route_slow_dns.asked.wait(timeout=10)  # the lookup runs, elsewhere
        assert watcher.current == ""  # not known yet, and no waiting for it
        no_route_slow_dns.answer.set()
        assert watcher.wait(timeout=10) == "10.0.0.7"
        assert watcher.current == "10.0.0.7"
    finally:
        watcher.close()


def test_lan_address_watcher_knows_the_routed_address_before_its_first_lookup(fake_socket):
    resolver = BlockingResolver(address="192.168.1.99")
    watcher = netinfo.LanAddress(refresh_s=3600, lookup=lambda: resolver("booth"))
    try:
        assert watcher.current == "192.168.1.20"  # the route lookup: instant, no DNS
        resolver.answer.set()
        assert watcher.wait(timeout=10) == "192.168.1.99"
    finally:
        watcher.close()
        resolver.answer.set()


def test_lan_address_watcher_follows_a_new_dhcp_address():
    answers = ["192.168.1.20", "192.168.1.57", "192.168.1.57"]
    asked = [threading.Event() for _ in answers]  # lookup n has begun
    answer = [threading.Event() for _ in answers]  # lookup n may return

    def lookup():
        n = sum(event.is_set() for event in asked)
        asked[n].set()
        answer[n].wait(timeout=30)  # a bound only in case the test itself fails
        return answers[n]

    watcher = netinfo.LanAddress(refresh_s=0.001, lookup=lookup)
    try:
        answer[0].set()
        assert asked[1].wait(timeout=10)  # lookup 1 began, so lookup 0's answer is in
        assert watcher.current == "192.168.1.20"
        answer[1].set()  # the lease was renewed with another address
        assert asked[2].wait(timeout=10)
        assert watcher.current == "192.168.1.57"
    finally:
        watcher.close()
        for event in answer:
            event.set()


def test_lan_address_watcher_survives_a_failing_lookup():
    calls = []
    second = threading.Event()

    def lookup():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("resolver crashed")
        second.set()
        return "192.168.1.20"

    watcher = netinfo.LanAddress(refresh_s=0.001, lookup=lookup)
    try:
        assert second.wait(timeout=10)
        assert watcher.wait(timeout=10) == "192.168.1.20"
    finally:
        watcher.close()


def test_lan_address_watcher_shows_no_loopback_address(fake_socket, monkeypatch, caplog):
    """No route (no network yet, or only the Pi's own hotspot) and the hostname at
    127.0.1.1, as Raspberry Pi OS's /etc/hosts has it: the screen shows no URL, not
    http://127.0.0.1:..., which no phone can open; and the journal says what to do, once,
    though the address was "" from the start too."""
    fake_socket.fail_connect = True
    monkeypatch.setattr(netinfo.socket, "gethostname", lambda: "raspberrypi")
    monkeypatch.setattr(netinfo.socket, "gethostbyname", lambda name: "127.0.1.1")
    with caplog.at_level(logging.INFO, logger="device.netinfo"):
        watcher = netinfo.LanAddress(refresh_s=3600)
        try:
            assert watcher.wait(timeout=10) == ""
            assert watcher.current == ""
        finally:
            watcher.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "device.netinfo"]
    assert lines == ["LAN address: none found (no route to a network; a Pi that is its own "
                     "hotspot: set web.public_url)"]
