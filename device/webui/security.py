"""The operator PIN, cross-site request forgery protection, the session key and safe headers.

- PIN (`web.pin`): when set, changing the look, capturing and deleting need
  it; a login stores a mark of the PIN (keyed with the session key, so the
  readable cookie tells nothing about it) in the signed session cookie, so a
  new PIN ends every login made with the old one; API clients may send it in
  the `X-Booth-Pin` header instead. Viewing and downloading
  never need it. Five wrong PINs from one client within five minutes lock it
  out for five minutes from the fifth (429, with Retry-After); twenty from all
  clients together lock every client out the same way, since a guest may take
  address after address on the venue's network (logged-in phones stay in).
- CSRF: every state-changing request from a browser carries the per-session
  token that the pages put in `<meta name="csrf-token">` (the JS sends it as
  `X-CSRF-Token`, forms as the field `csrf_token`). A script on the LAN
  (curl, no cookie, no `Origin`) may call the API without one: a cross-site
  page cannot forge such a request, because browsers always send `Origin`
  with a cross-site POST, PUT or DELETE. An operator-only request from
  someone not logged in gets the login's answer (401, the login page) first:
  a login that ended took the session's token with it.
- Host: the page answers to IP addresses, localhost, this machine's hostname
  (and `<hostname>.local`) and the host of `web.public_url`, and refuses any
  other name, so a web page on a DNS name rebound to the booth cannot use it.
- The session key lives in `<data_dir>/secret_key` (0600), so logins survive
  a restart; sessions are dated so that the Pi's clock jumping keeps them
  (`sessions.py`).
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
import math
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from werkzeug.exceptions import TooManyRequests

from device.storage import atomic_write_bytes
from device.webui.sessions import SteadySessionInterface
from device.words import how_many

log = logging.getLogger(__name__)

SECRET_KEY_BYTES = 32
PIN_HEADER = "X-Booth-Pin"
WRONG_PIN_HEADER = f"Wrong operator PIN in the {PIN_HEADER} header."
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_WRONG_PINS = 5
MAX_WRONG_PINS_ALL = 20
WRONG_PIN_WINDOW_S = 300.0
PIN_LOCKOUT_S = 300.0
# Each saved photo pushes the oldest memoji out once the gallery holds storage.keep:
# one phone may save this many in the window, so nobody can flush the gallery.
MAX_PHOTOS_PER_CLIENT = 20
PHOTO_WINDOW_S = 600.0

# Served with every response: everything is local, nothing may frame the page.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def load_or_create_secret_key(data_dir: Path) -> bytes:
    """The Flask session key kept in `<data_dir>/secret_key`; made (0600, atomically) on first start."""
    path = Path(data_dir) / "secret_key"
    try:
        key = path.read_bytes()
        if len(key) >= SECRET_KEY_BYTES:
            _keep_private(path)
            return key
        log.warning("%s is too short; making a new session key (operators must log in again)", path)
    except FileNotFoundError:
        pass
    Path(data_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(SECRET_KEY_BYTES)
    atomic_write_bytes(path, key, mode=0o600)
    return key


def _keep_private(path: Path) -> None:
    """Whoever reads the key can sign themselves an operator's login: a key file others may
    read (copied in, restored from a backup) is made the owner's alone."""
    try:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
            log.warning("%s could be read by other users; it is now readable by its owner only", path)
    except OSError as error:  # not ours to change: say so, the page still works
        log.warning("%s can be read by other users and cannot be changed: %s", path, error)


# ---------------------------------------------------------------- CSRF

def csrf_token() -> str:
    """This session's token, made on first use (the pages put it in a meta tag and forms)."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _same(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _is_script_call() -> bool:
    """An API call from a non-browser client: no cookie, no Origin, no fetch metadata."""
    return (
        request.path.startswith("/api/")
        and not request.cookies
        and "Origin" not in request.headers
        and "Sec-Fetch-Site" not in request.headers
    )


def check_csrf() -> None:
    """Refuse a state-changing request that carries no valid token (before every request)."""
    if request.method in SAFE_METHODS:
        return
    if request.headers.get(PIN_HEADER) and pin_from_header_ok():
        return
    token = request.headers.get(CSRF_HEADER)
    if token is None and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        token = request.form.get(CSRF_FIELD)
    if _same(token, session.get("csrf")):
        return
    if _is_script_call():
        return
    if _refused_to_guests():  # a lapsed login took the page's token with it: say to log in
        return
    abort(403, description="This form has expired or came from another site (missing or wrong CSRF "
                           "token). Reload the page and try again.")


# ---------------------------------------------------------------- PIN

class ClientWindow:
    """Counts events per client address over a sliding window; `full` once `limit` are recent."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._events: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> list[float]:
        recent = [t for t in self._events.get(client, []) if now - t < self.window_s]
        if recent:
            self._events[client] = recent
        else:
            self._events.pop(client, None)
        return recent

    def full(self, client: str) -> bool:
        with self._lock:
            return len(self._recent(client, self._clock())) >= self.limit

    def add(self, client: str) -> None:
        with self._lock:
            now = self._clock()
            self._events[client] = [*self._recent(client, now), now]

    def clear(self, client: str) -> None:
        with self._lock:
            self._events.pop(client, None)

    def reserve(self, client: str) -> bool:
        """Count an event now if there is room (check and count in one step, so
        requests running side by side cannot all pass); False when full."""
        with self._lock:
            now = self._clock()
            recent = self._recent(client, now)
            if len(recent) >= self.limit:
                return False
            self._events[client] = [*recent, now]
            return True

    def release(self, client: str) -> None:
        """Give back the newest reserved event (the thing it counted did not happen)."""
        with self._lock:
            recent = self._events.get(client, [])
            if recent:
                recent.pop()


class PinLockout:
    """Wrong PINs per client: `limit` of them within `window_s` lock that client out for
    `lock_s` from the last of them, whenever the first was; `limit_all` of them from all
    clients together lock out every client the same way."""

    EVERYONE = "*"  # not an address

    def __init__(self, limit: int, window_s: float, lock_s: float,
                 clock: Callable[[], float] = time.monotonic, *, limit_all: int | None = None) -> None:
        self.lock_s = lock_s
        self._clock = clock
        self._wrong = ClientWindow(limit, window_s, clock)
        self._wrong_all = ClientWindow(limit_all, window_s, clock) if limit_all else None
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def locked_for(self, client: str) -> float:
        """Seconds until this client may try again; 0 when it may now."""
        with self._lock:
            return self._left(client)

    def everyone_locked(self) -> bool:
        """Is every client locked out (by `limit_all`), not only some?"""
        with self._lock:
            return self._locked_until.get(self.EVERYONE, 0.0) > self._clock()

    def attempt(self, client: str, right: bool) -> float:
        """One try, checked and counted under one lock (tries sent side by side on several
        connections must not all pass the check before one of them locks): the seconds
        this client must still wait (the try is not counted), else 0."""
        with self._lock:
            left = self._left(client)
            if left:
                return left
            if right:
                self._wrong.clear(client)
            else:
                self._count_wrong(client)
            return 0.0

    def _left(self, client: str) -> float:
        """Seconds of this client's lockout, or everyone's, still to run (caller holds the
        lock); an ended one is forgotten."""
        lefts = [0.0]
        for who in (client, self.EVERYONE):
            left = self._locked_until.get(who, 0.0) - self._clock()
            if left <= 0:
                self._locked_until.pop(who, None)
            lefts.append(left)
        return max(lefts)

    def _count_wrong(self, client: str) -> None:
        """Count a wrong PIN; the one that fills a window starts that lockout."""
        for window, who in ((self._wrong, client), (self._wrong_all, self.EVERYONE)):
            if window is None:
                continue
            window.add(who)
            if window.full(who):
                window.clear(who)
                self._locked_until[who] = self._clock() + self.lock_s
                self._log_lockout(window, everyone=who == self.EVERYONE)

    def _log_lockout(self, window: ClientWindow, *, everyone: bool) -> None:
        """Once per lockout: an operator locked out of their own page learns why, and how to
        end it. Not the phone's address: nothing the operator needs."""
        tries = f"{window.limit} wrong operator PINs within {wait_in_words(window.window_s)}"
        if everyone:
            log.warning("%s from all phones together: no phone can log in for %s (someone may "
                        "be guessing the PIN; phones logged in stay in). "
                        "`sudo systemctl restart memoji-booth` ends this at once", tries,
                        wait_in_words(self.lock_s))
        else:
            log.warning("%s from one phone: it cannot log in for %s. If that was the operator, "
                        "`sudo systemctl restart memoji-booth` ends this at once", tries,
                        wait_in_words(self.lock_s))


def wait_in_words(seconds: float) -> str:
    """How long someone must wait, rounded up: "5 minutes", "1 minute", "40 seconds"."""
    count, unit = (math.ceil(seconds / 60), "minute") if seconds >= 60 else (math.ceil(seconds), "second")
    return how_many(count, unit)


def photo_slot_or_429() -> Callable[[], None]:
    """Take one of this client's MAX_PHOTOS_PER_CLIENT photos in the window, or refuse
    (429); returns what to call when no photo was saved after all, to give it back.
    A logged-in operator is not counted."""
    if pin_configured() and is_operator():
        return lambda: None
    window: ClientWindow = current_app.extensions["photo_window"]
    client = request.remote_addr or "?"
    if not window.reserve(client):
        minutes = round(window.window_s / 60)
        abort(429, description=f"This phone has saved {window.limit} photos in {minutes} minutes, "
                               "and each one pushes the oldest memoji out of the gallery. Wait a "
                               "few minutes and try again.")
    return lambda: window.release(client)


def pin_configured() -> bool:
    return bool(current_app.config.get("OPERATOR_PIN"))


def pin_locked_for() -> float:
    """Seconds this client must wait before it may try a PIN again (0: it may now)."""
    return current_app.extensions["wrong_pins"].locked_for(request.remote_addr or "?")


def pin_locked_for_everyone() -> bool:
    """Are all phones locked out together, the operator's too (so "this phone" is wrong)?"""
    return current_app.extensions["wrong_pins"].everyone_locked()


def check_pin(given: str | None) -> bool:
    """Compare a PIN someone typed or sent, counting wrong ones; 429 while a client is locked out."""
    wrong_pins: PinLockout = current_app.extensions["wrong_pins"]
    right = _same(given, current_app.config.get("OPERATOR_PIN"))
    wait = wrong_pins.attempt(request.remote_addr or "?", right)
    if wait:
        raise TooManyRequests(description=f"Too many wrong PINs. Try again in {wait_in_words(wait)}.",
                              retry_after=math.ceil(wait))
    return right


def pin_from_header_ok() -> bool:
    """Did this request send the right PIN in its header? Checked (and counted) once per request."""
    if "pin_header_ok" not in g:
        g.pin_header_ok = pin_configured() and check_pin(request.headers.get(PIN_HEADER))
    return g.pin_header_ok


def operator_mark() -> str:
    """What a login keeps in the session: the PIN keyed with the session key. The cookie is
    signed, not encrypted, so it must not carry the PIN itself, nor a plain hash of it."""
    key = current_app.secret_key
    key = key if isinstance(key, bytes) else str(key).encode()
    pin = str(current_app.config.get("OPERATOR_PIN") or "")
    return hmac.new(key, b"operator-pin:" + pin.encode(), "sha256").hexdigest()


def logged_in() -> bool:
    """Did this session log in with the PIN now set (not an earlier one)?"""
    mark = session.get("operator")
    return isinstance(mark, str) and _same(mark, operator_mark())


def is_operator() -> bool:
    """May this request change things? Always, when no PIN is set."""
    if not pin_configured():
        return True
    if logged_in():
        return True
    return bool(request.headers.get(PIN_HEADER)) and pin_from_header_ok()


def operator_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Guard a view that changes the look, captures or deletes: 401 for the API, the login page for forms."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if is_operator():
            return view(*args, **kwargs)
        if request.path.startswith("/api/"):
            if request.headers.get(PIN_HEADER):  # a script sent one: say it was wrong, not missing
                abort(401, description=WRONG_PIN_HEADER)
            abort(401, description=f"This needs the operator PIN: log in at /login, or send it in the "
                                   f"{PIN_HEADER} header.")
        return redirect(url_for("auth.login", next=_come_back_to()))

    # Itself, not True: functools.wraps copies it to a wrapper put around this one later,
    # whose own code would then run on a request the CSRF check let through.
    guarded.operator_only = guarded  # type: ignore[attr-defined]
    return guarded


def _refused_to_guests() -> bool:
    """Is this request for a view that refuses it anyway, as not the operator's? When the
    operator's login ends (its cookie's 12 hours), the session's CSRF token goes with it:
    the view's own answer (log in, then come back; the look editor keeps the edits) is the
    one to give, not "this form has expired or came from another site". The view does
    nothing but that, so no check is skipped for anything it would do."""
    view = current_app.view_functions.get(request.endpoint or "")
    return view is not None and getattr(view, "operator_only", None) is view and not is_operator()


def _come_back_to() -> str:
    """Where the login should return: this page, or for a form that posted here (a lapsed
    login), the page the form was on, since its POST-only address cannot be opened."""
    if request.method in SAFE_METHODS:
        return request.full_path.rstrip("?")
    try:
        referrer = urlsplit(request.referrer or "")
    except ValueError:
        referrer = None
    if referrer is not None and referrer.netloc == request.host and referrer.path:
        return safe_next(referrer.path + (f"?{referrer.query}" if referrer.query else ""),
                         url_for("look.edit"))
    return url_for("look.edit")


def safe_next(target: str | None, fallback: str = "/") -> str:
    """A redirect target on this site only (no `//evil.example` or absolute URLs).

    Control characters are refused outright: browsers and Werkzeug strip tabs
    and newlines from a Location, so `/\t/evil.example` would become
    `//evil.example` after this check had passed it.
    """
    if not target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return fallback
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    try:
        parts = urlsplit(target)
    except ValueError:  # e.g. an unclosed "[" where a host would be
        return fallback
    return fallback if parts.scheme or parts.netloc else target


# ---------------------------------------------------------------- host names

def allowed_host_names(public_url: str = "", listen_host: str = "") -> frozenset[str]:
    """The names this page answers to besides IP addresses: localhost, this machine's
    hostname (and its mDNS .local name), the host of `web.public_url`, and `web.host`
    when that is a name (the QR codes then carry it)."""
    names = {"localhost"}
    hostname = socket.gethostname().lower()
    if hostname:
        names |= {hostname, f"{hostname}.local"}
    public_host = urlsplit(public_url).hostname if public_url else None
    for name in (public_host, listen_host):
        if name:
            names.add(name.rstrip(".").lower())
    return frozenset(names)


def host_allowed(host_header: str, names: frozenset[str]) -> bool:
    """Is the request's Host one of ours? An IP literal always is (phones open the QR code's
    address); any other name must be listed, so a web page on a rebound DNS name
    cannot read the page or use its CSRF token."""
    host = urlsplit(f"//{host_header}").hostname if host_header else None
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return host.rstrip(".").lower() in names


def check_host() -> None:
    """400 for a request whose Host names someone else (DNS rebinding)."""
    if not host_allowed(request.host, current_app.extensions["allowed_hosts"]):
        abort(400, description=(
            f"This booth does not answer to the name {request.host!r}. Open it by its address "
            f"(as on the kiosk's screen), or set web.public_url to the address you use."))


# ---------------------------------------------------------------- wiring

def _security_headers(response: Any) -> Any:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def install_security(app: Flask) -> None:
    """Host and CSRF checks before every request, safe headers after, template helpers, and
    sessions that outlast the wall clock's jumps."""
    app.session_interface = SteadySessionInterface()
    # After MAX_WRONG_PINS wrong PINs in the window a client is refused for PIN_LOCKOUT_S,
    # and after MAX_WRONG_PINS_ALL from all clients, everyone is.
    app.extensions["wrong_pins"] = PinLockout(MAX_WRONG_PINS, WRONG_PIN_WINDOW_S, PIN_LOCKOUT_S,
                                              limit_all=MAX_WRONG_PINS_ALL)
    app.extensions["photo_window"] = ClientWindow(MAX_PHOTOS_PER_CLIENT, PHOTO_WINDOW_S)
    app.extensions["allowed_hosts"] = allowed_host_names(app.config.get("PUBLIC_URL", ""),
                                                         app.config.get("LISTEN_HOST", ""))
    app.before_request(check_host)
    app.before_request(check_csrf)
    app.after_request(_security_headers)
    app.jinja_env.globals.update(
        csrf_token=csrf_token,
        is_operator=lambda: not pin_configured() or logged_in(),
        pin_configured=pin_configured,
    )
