"""Session cookies that survive the booth's wall clock jumping.

A Pi has no battery-backed clock: it boots at the time saved at its last shutdown (or
its image's date), and NTP moves that on by hours or months once a network answers,
perhaps never at an event without internet. Flask dates a session by that clock twice:
the cookie's Expires, which a phone compares with its own clock (a booth more than the
login's 12 hours behind the phone sent cookies the phone dropped at once: nobody could
log in, and every form failed its CSRF check), and the signature's timestamp, which
Flask refuses once it is older than the lifetime or newer than now (any jump, even a few
seconds back, logged every phone out and voided the token of every open page).

Here the phone is told the lifetime in seconds (Max-Age, which browsers follow rather
than Expires), and signatures are dated by a clock that never jumps within a process:
the wall time when it started, moved on by the monotonic clock. After a restart, the
wall clock is read again: a jump that came before the restart may log phones out once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

__all__ = ["SteadyClock", "SteadySessionInterface"]


class SteadyClock:
    """Seconds since the epoch as the wall clock read when this was made, moved on by the
    monotonic clock since: steady however the wall clock is set meanwhile."""

    def __init__(self, wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._offset = wall() - monotonic()

    def __call__(self) -> float:
        return self._offset + self._monotonic()


class _SteadySigner(TimestampSigner):
    """itsdangerous's timed signer, dated by the clock it is given instead of time.time()."""

    def __init__(self, *args: Any, clock: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock())


class _LifetimeInSeconds:
    """The response as Flask's save_session sees it: a cookie's end goes out as Max-Age,
    seconds by the phone's own clock, instead of a date by this booth's."""

    def __init__(self, response: Any, seconds: int) -> None:
        self._response = response
        self._seconds = seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._response, name)

    def set_cookie(self, key: str, value: str = "", *, expires: Any = None, **options: Any) -> None:
        max_age = self._seconds if expires is not None else None  # None: until the browser closes
        self._response.set_cookie(key, value, max_age=max_age, **options)


class SteadySessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the two changes above."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock or SteadyClock()

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        serializer = super().get_signing_serializer(app)
        if serializer is not None:
            serializer.signer = _SteadySigner
            serializer.signer_kwargs = {**serializer.signer_kwargs, "clock": self.clock}
        return serializer

    def save_session(self, app: Flask, session: SessionMixin, response: Any) -> None:
        seconds = int(app.permanent_session_lifetime.total_seconds())
        super().save_session(app, session, _LifetimeInSeconds(response, seconds))
