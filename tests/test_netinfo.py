"""The LAN address shown on the idle screen: found by a route lookup, never by a packet."""

from __future__ import annotations

import ipaddress
import socket

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
