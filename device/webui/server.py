"""Serving the page with waitress: in the foreground (`memoji-booth web`) or on a thread (`run`, tests).

waitress is a production WSGI server with a fixed pool of worker threads, so
a slow phone or a slow request occupies one worker, never the booth's display
loop, which runs on its own thread and is only reached through the booth's
thread-safe methods.
"""

from __future__ import annotations

import errno
import logging
import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from waitress import create_server
from waitress.server import BaseWSGIServer

from device.netinfo import is_wildcard

log = logging.getLogger(__name__)
# waitress logs a warning each time a request waits for a free worker: two phones paging
# the gallery made hundreds an hour, burying the journal's real errors. A wait is normal.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)

__all__ = ["ServerHandle", "listen_advice", "serve", "start_in_thread"]

# Workers: a preview or photo takes one for the time it draws (CPU), so the gallery's
# images and the status polls need others beside them.
THREADS = 8

# Idle connections. A phone's browser keeps the ones it opened to the page (headless Chromium
# kept 6 after loading the gallery, and 20 s later), and waitress accepts no new connection
# at connection_limit until idle ones pass channel_timeout, checked every cleanup_interval.
# With waitress's defaults (100, 120 s, 30 s) 17 phones that browsed in the last two minutes
# held every new page load for up to 150 s. An open idle connection costs a socket and little
# memory; waitress watches them with select(), which takes descriptors below 1024 only.
CONNECTION_LIMIT = 200
# Also how long a download may stall (the phone takes no byte) once the page has written the
# rest of it out, before it is cut: long enough for a phone on weak Wi-Fi.
IDLE_TIMEOUT_S = 60
CLEANUP_INTERVAL_S = 10


# How far beyond the upload limit a body still reaches Flask, whose 413 is the page's own
# message ("the limit is 10 MB. Send a smaller photo."); a larger one waitress refuses from
# its Content-Length alone, with a plain-text 413 that a phone shows as raw text. Covers the
# form's framing and a 48 MP phone photo (12 to 25 MB); waitress keeps at most 512 KiB of a
# body in memory (inbuf_overflow) and the rest in a temporary file on the card, deleted with
# the request. Kept small because CONNECTION_LIMIT bodies may be in flight at once.
OVERSIZE_HEADROOM_BYTES = 16 * 1024 * 1024


def _body_limit(app: Any) -> int | None:
    """The largest request body waitress should accept, from the app's upload limit.

    Flask only applies MAX_CONTENT_LENGTH once the body has arrived, and
    waitress buffers up to 1 GiB by default (spilling to a temporary file on
    the SD card), so a bound is kept here too, before buffering, but far
    enough above Flask's that a guest's too-large photo gets the page's message.
    """
    limit = getattr(app, "config", {}).get("MAX_CONTENT_LENGTH")
    return None if limit is None else int(limit) + OVERSIZE_HEADROOM_BYTES


def listen_advice(error: OSError) -> str:
    """What to do when the page cannot listen, in the operator's words ('' if unsure)."""
    if error.errno == errno.EADDRINUSE:
        return ("; another program uses that port (another memoji-booth, perhaps the "
                "service): stop it, or choose another port with --port or web.port")
    if error.errno == errno.EADDRNOTAVAIL:
        return ("; that is not an address of this machine: use 0.0.0.0 (every address) "
                "or one that `hostname -I` prints")
    if error.errno == errno.EACCES:
        return "; ports below 1024 need root: use 1024 or above, such as 8000"
    return ""


def _listening_socket(host: str, port: int) -> socket.socket:
    """The page's socket, bound here rather than by waitress: waitress starts its
    worker threads before it binds, and leaves them running when the bind fails
    (port in use, address not up yet), so every retry would leak them."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart while old ones linger
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


class SteadyIdleSweep:
    """waitress's check for idle connections (its `maintenance`), timed by the monotonic clock.

    waitress times it by the wall clock, which a Pi without a battery clock sets by leaps:
    set back (a power cut, a year at worst) it checked nothing until the clock caught up, so
    the connections of phones gone out of range piled up to CONNECTION_LIMIT and the page
    stopped answering; set forward, it cut every idle connection at once, and with them the
    last buffered megabytes of a download. A connection's activity is seen here as a change
    of the wall-clock time waitress notes for it, whatever that time says.
    """

    def __init__(self, server: BaseWSGIServer, clock: Callable[[], float] = time.monotonic) -> None:
        self._server = server
        self._clock = clock
        self._next = -math.inf
        self._seen: dict[int, tuple[Any, float, float]] = {}  # fd: channel, its activity, seen since

    def __call__(self, _wall_now: float) -> None:
        server = self._server
        server.next_channel_cleanup = 0  # so waitress asks again on its next turn, whatever the date
        now = self._clock()
        if now < self._next:
            return
        self._next = now + server.adj.cleanup_interval
        seen = {}
        for fd, channel in list(server.active_channels.items()):
            known, activity, since = self._seen.get(fd, (None, None, now))
            if known is not channel or activity != channel.last_activity:
                since = now
            seen[fd] = (channel, channel.last_activity, since)
            if not channel.requests and now - since > server.adj.channel_timeout:
                channel.will_close = True
        self._seen = seen


def _make_server(app: Any, host: str, port: int, threads: int,
                 idle_clock: Callable[[], float] = time.monotonic) -> BaseWSGIServer:
    # ident: do not advertise the server software; clear_untrusted_proxy_headers: no proxy is trusted.
    options: dict[str, Any] = {}
    limit = _body_limit(app)
    if limit is not None:
        options["max_request_body_size"] = limit
    sock = _listening_socket(host, port)
    try:
        server = create_server(app, sockets=[sock], threads=threads, ident="memoji-booth",
                               clear_untrusted_proxy_headers=True, connection_limit=CONNECTION_LIMIT,
                               channel_timeout=IDLE_TIMEOUT_S, cleanup_interval=CLEANUP_INTERVAL_S,
                               **options)
    except BaseException:
        sock.close()
        raise
    server.maintenance = SteadyIdleSweep(server, idle_clock)
    return server


def _url(server: BaseWSGIServer) -> str:
    host = server.effective_host
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"
    if ":" in str(host):
        host = f"[{host}]"
    return f"http://{host}:{server.effective_port}"


def serve(app: Any, host: str, port: int, threads: int = THREADS) -> None:
    """Serve `app` until interrupted (Ctrl-C or SIGTERM via the caller); blocks."""
    server = _make_server(app, host, port, threads)
    log.info("web page listening on %s", _listening_on(server))
    try:
        server.run()
    finally:
        server.close()


@dataclass
class ServerHandle:
    """A server running on a daemon thread: `url` to reach it, `close()` to stop it."""

    url: str
    server: BaseWSGIServer
    thread: threading.Thread
    _closed: bool = field(default=False, repr=False)

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection and wait for the thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        # Close the sockets from inside the server's own loop thread, which then exits
        # because nothing is left to watch; closing them from here would race its select().
        try:
            self.server.trigger.pull_trigger(lambda: _close_all(self.server))
        except OSError:
            # The loop already stopped and closed its trigger: nothing races us now.
            _close_all(self.server)
        self.thread.join(timeout)
        self.server.task_dispatcher.shutdown(timeout=timeout)
        if self.thread.is_alive():
            log.warning("web server thread did not stop within %.1f s", timeout)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_all(server: BaseWSGIServer) -> None:
    for channel in list(server._map.values()):
        try:
            channel.close()
        except OSError:
            pass


def start_in_thread(app: Any, host: str, port: int, threads: int = THREADS) -> ServerHandle:
    """Start serving on a daemon thread and return at once (port 0 picks a free port)."""
    server = _make_server(app, host, port, threads)
    thread = threading.Thread(target=server.run, name="memoji-web", daemon=True)
    thread.start()
    handle = ServerHandle(url=_url(server), server=server, thread=thread)
    # The booth logs the address phones use (the LAN one); this is the socket's.
    log.debug("web page listening on %s", _listening_on(server))
    return handle


def _listening_on(server: BaseWSGIServer) -> str:
    """For the log: a wildcard host is every address, not just the loopback `_url` gives."""
    if is_wildcard(server.effective_host):
        return f"port {server.effective_port} of every address of this machine ({_url(server)} here)"
    return _url(server)
