"""Waiting for the booth's own threads in tests.

A close() waits a short, fixed time for its thread (a hung camera or card must not hold
the booth's stop); a busy machine may take longer, so a test that then looks at what the
thread leaves waits for the thread itself, without stopping it."""

from __future__ import annotations

import threading


def join_threads(name: str, timeout: float = 30) -> None:
    """Wait (``timeout`` s at most each) for the running threads whose name starts with ``name``."""
    for thread in threading.enumerate():
        if thread.name.startswith(name) and thread is not threading.current_thread():
            thread.join(timeout=timeout)
