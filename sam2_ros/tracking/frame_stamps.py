"""Which tracked frame a stamp names: the header stamps of a camera's last tracked frames.

The engine numbers frames; ROS users name them by the header stamp of the image. A camera keeps
the stamps of the frames its engine can still prompt (its prompt history) to translate one into
the other.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np


class StampNotHeldError(LookupError):
    """No tracked frame carries (or is close enough to) the stamp asked for."""


def stamp_ns(stamp: object) -> int:
    """Nanoseconds of a ``builtin_interfaces/Time``."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def stamp_text(nanoseconds: int) -> str:
    """A stamp as ``sec.nanosec``."""
    return f"{nanoseconds // 1_000_000_000}.{nanoseconds % 1_000_000_000:09d}"


class TrackedFrames:
    """The stamps and engine frame indices of the last ``size`` tracked frames (thread-safe)."""

    def __init__(self, size: int) -> None:
        self._frames: deque[tuple[int, int]] = deque(maxlen=max(size, 1))
        self._lock = threading.Lock()

    def add(self, stamp: int, frame_index: int) -> None:
        """Note a tracked frame (the oldest is forgotten once ``size`` are held)."""
        with self._lock:
            self._frames.append((stamp, frame_index))

    def clear(self) -> None:
        """Forget every frame (the engine's frames were reset)."""
        with self._lock:
            self._frames.clear()

    def newest_stamp(self) -> int | None:
        """Stamp of the newest tracked frame (None: none yet)."""
        with self._lock:
            return self._frames[-1][0] if self._frames else None

    def oldest_stamp(self) -> int | None:
        """Stamp of the oldest held frame (None: none yet)."""
        with self._lock:
            return self._frames[0][0] if self._frames else None

    def stamp_of(self, frame_index: int) -> int | None:
        """Stamp of a held frame."""
        with self._lock:
            return next((s for s, i in self._frames if i == frame_index), None)

    def at_or_before(self, stamp: int | None) -> int | None:
        """Frame index of the newest held frame stamped at or before ``stamp`` (None: the newest
        frame); None when there is none."""
        with self._lock:
            frames = [i for s, i in self._frames if stamp is None or s <= stamp]
            return frames[-1] if frames else None

    def find(self, stamp: int) -> int:
        """Frame index of the frame stamped ``stamp``, or of the nearest one within half the
        median frame interval; :class:`StampNotHeldError` naming the stamps held otherwise."""
        with self._lock:
            frames = list(self._frames)
        if not frames:
            raise StampNotHeldError(f"no frame tracked yet, so none is stamped {stamp_text(stamp)}")
        stamps = np.array([s for s, _ in frames], np.int64)
        nearest = int(np.argmin(np.abs(stamps - stamp)))
        distance = abs(int(stamps[nearest]) - stamp)
        interval = np.median(np.diff(np.sort(stamps))) if len(stamps) > 1 else 0
        if distance == 0 or distance <= interval / 2:
            return frames[nearest][1]
        raise StampNotHeldError(
            f"no tracked frame is stamped {stamp_text(stamp)} (or within half a frame interval "
            f"of it): the {len(frames)} frames held are stamped {stamp_text(int(stamps.min()))} "
            f"(oldest) to {stamp_text(int(stamps.max()))} (newest)"
        )
