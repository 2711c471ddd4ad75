"""Throttled problem reports: one log line per kind of problem per period."""

from __future__ import annotations

import re
import threading
import time


class ProblemThrottle:
    """One log line per kind of problem per period, so a stream of bad frames cannot flood the
    log while a different problem still gets reported (kind = the message with numbers masked)."""

    def __init__(self, period_s: float) -> None:
        self._period_s = period_s
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def allow(self, message: str, now: float | None = None) -> bool:
        """Whether this message should be logged now (``now``: a monotonic time, default the
        clock's)."""
        kind = re.sub(r"[-+.\d]+", "#", message)
        now = time.monotonic() if now is None else now
        with self._lock:
            if now - self._last.get(kind, -self._period_s) < self._period_s:
                return False
            self._last[kind] = now
            return True
