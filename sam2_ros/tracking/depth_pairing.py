"""Pairing each tracked colour frame with the depth image nearest in time.

Depth images arrive on their own topic, sometimes after the colour frame they belong to has been
tracked (a 1 MB depth image can trail its colour frame by 100 ms under default DDS settings). The
buffer keeps the last depth images by stamp; the tracking thread asks for a frame's partner and
waits a bounded time for it while subscription callbacks keep adding depth images.

Stamps can go back (a looped bag, a restarted camera): a depth image stamped back by more than
the tolerance the camera's frames follow
(:meth:`~sam2_ros.tracking.frame_stamps.TrackedFrames.jump_back`) makes the buffer drop what it
held, so that a stamp that comes again pairs with a depth image of its own timeline (a depth image
stamped ahead by mistake is dropped the same way when the right stamps come back).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

CAPACITY = 30


class DepthBuffer:
    """The last depth images by stamp (nanoseconds), thread-safe. ``jump_tolerance``: how much
    older than the newest depth image one may be stamped before the buffer takes it for a jump
    back in time and drops the images it held (nanoseconds)."""

    def __init__(self, capacity: int = CAPACITY, jump_tolerance: int = 0) -> None:
        self._items: deque[tuple[int, Any]] = deque(maxlen=capacity)
        self._arrived = threading.Condition()
        self._jump_tolerance = jump_tolerance
        self._newest: int | None = None  # on the current timeline, kept when cleared
        #: Times the depth stamps went back so far: the number of the current timeline.
        self.timeline = 0

    def add(self, stamp: int, item: Any) -> None:
        """A depth image arrived (subscription callback)."""
        with self._arrived:
            if self._newest is not None and stamp < self._newest - self._jump_tolerance:
                self._items.clear()  # the old timeline's, whose stamps may come again
                self._newest = None
                self.timeline += 1
            self._newest = stamp if self._newest is None else max(self._newest, stamp)
            self._items.append((stamp, item))
            self._arrived.notify_all()

    def complete(self, stamp: int) -> bool:
        """Whether no closer depth image can come for a frame stamped ``stamp``: one stamped at
        or after it arrived."""
        with self._arrived:
            return any(s >= stamp for s, _ in self._items)

    def clear(self) -> None:
        """Forget every depth image (the timeline goes on)."""
        with self._arrived:
            self._items.clear()

    def pair(self, stamp: int, max_diff: int, wait_s: float) -> Any | None:
        """The depth image nearest to ``stamp`` within ``max_diff`` (None if there is none).

        While no depth image stamped at or after ``stamp`` has arrived, a closer one may still
        come: wait for it up to ``wait_s`` seconds.
        """
        deadline = time.monotonic() + wait_s
        with self._arrived:
            while True:
                items = list(self._items)
                complete = any(s >= stamp for s, _ in items)
                remaining = deadline - time.monotonic()
                if complete or remaining <= 0:
                    break
                self._arrived.wait(remaining)
        near = [(abs(s - stamp), i, item) for i, (s, item) in enumerate(items)]
        near = [entry for entry in near if entry[0] <= max_diff]
        return min(near, key=lambda entry: entry[:2])[2] if near else None
