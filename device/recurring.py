"""A fault that may come again and again, logged so that days of it neither flood the
journal nor go unreported: when it starts, then at most every REPEAT_LOG_S with its
count, and when it ends."""

from __future__ import annotations

import math
import threading

__all__ = ["REPEAT_LOG_S", "RecurringFault"]

REPEAT_LOG_S = 300.0  # a fault that recurs (every frame, every request) is logged again at most this often


class RecurringFault:
    """Counts one kind of failure; says which of them to log. Safe to share between
    threads (the web page's workers)."""

    def __init__(self, every_s: float = REPEAT_LOG_S) -> None:
        self.total = 0  # ever
        self.every_s = every_s
        self.in_a_row = 0  # since the last success
        self._logged_at = -math.inf
        self._reported = False  # this run of failures was logged: log its end too
        self._lock = threading.Lock()

    @property
    def logged_at(self) -> float:
        """When a line about it was last logged (-inf: never)."""
        return self._logged_at

    def failed(self, now: float) -> bool:
        """Count one; True when this one is to be logged."""
        with self._lock:
            self.total += 1
            self.in_a_row += 1
            if not self._due(now):
                return False
            self._reported = True
            return True

    def remind(self, now: float) -> bool:
        """True, and taken as a line logged now, when none was in the last every_s: for
        news of the fault told between failures (how often it came and went)."""
        with self._lock:
            return self._due(now)

    def _due(self, now: float) -> bool:
        """True, and the line taken as logged now, when none was in the last every_s (the
        caller holds the lock)."""
        if now - self._logged_at < self.every_s:
            return False
        self._logged_at = now
        return True

    def ended(self) -> int:
        """A good one came: how many failures in a row it ends, if they were logged, else 0."""
        with self._lock:
            in_a_row, reported = self.in_a_row, self._reported
            self.in_a_row, self._reported = 0, False
            return in_a_row if reported else 0
