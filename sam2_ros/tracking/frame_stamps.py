"""Which tracked frame a stamp names: the header stamps of a camera's last tracked frames.

The engine numbers frames; ROS users name them by the header stamp of the image. A camera keeps
the stamps of the frames its engine can still prompt (its prompt history) to translate one into
the other.

Stamps can go back: a looped bag starts again, a camera restarts. A frame stamped earlier than the
newest tracked frame by more than a small tolerance (frames delivered out of order) is a jump back
in time; from then on the camera's stamps name only frames tracked since the jump (the same stamp
may have been tracked before it, on another image), as tf2 and rviz2 drop what they buffered from
the old timeline.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np


class StampNotHeldError(LookupError):
    """No tracked frame carries (or is close enough to) the stamp asked for."""


def stamp_ns(stamp: object) -> int:
    """Nanoseconds of a ``builtin_interfaces/Time``."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def stamp_text(nanoseconds: int) -> str:
    """A stamp as ``sec.nanosec``."""
    return f"{nanoseconds // 1_000_000_000}.{nanoseconds % 1_000_000_000:09d}"


@dataclass(frozen=True)
class TimeJumpSettings:
    """What a camera does when its stamps go back."""

    #: Nanoseconds a frame may be stamped before the newest tracked one without counting as a
    #: jump (frames delivered out of order).
    tolerance: int = 100_000_000
    #: Forget the camera's objects at a jump (else SAM 2's memory carries them on).
    reset: bool = False


@dataclass(frozen=True)
class TimeJump:
    """A camera's stamps went back: from the newest tracked frame's to the next frame's."""

    from_stamp: int
    to_stamp: int

    def __str__(self) -> str:
        went = f"from {stamp_text(self.from_stamp)} to {stamp_text(self.to_stamp)}"
        return f"the stamps went back {went}"


class TrackedFrames:
    """The stamps and engine frame indices of the last ``size`` tracked frames of the current
    timeline (thread-safe). ``jump_tolerance`` (nanoseconds): how much older than the newest
    tracked frame a frame may be stamped before it counts as a jump back in time."""

    def __init__(self, size: int, jump_tolerance: int = 0) -> None:
        self._frames: deque[tuple[int, int]] = deque(maxlen=max(size, 1))
        self._lock = threading.Lock()
        self._jump_tolerance = jump_tolerance
        self._timeline_newest: int | None = None  # kept when the frames are cleared
        #: The latest jump back in time since the frames were last cleared (None: none).
        self.last_jump: TimeJump | None = None
        #: Jumps back in time so far: the number of the current timeline.
        self.timeline = 0

    def add(self, stamp: int, frame_index: int) -> None:
        """Note a tracked frame (the oldest is forgotten once ``size`` are held)."""
        with self._lock:
            self._frames.append((stamp, frame_index))
            newest = self._timeline_newest
            self._timeline_newest = stamp if newest is None else max(newest, stamp)

    def jump_back(self, stamp: int) -> TimeJump | None:
        """The jump back in time a frame stamped ``stamp`` makes (None: it continues the
        timeline, or is older than its newest frame by at most the tolerance). Frames cleared
        since still count: the camera's timeline is not the objects'."""
        with self._lock:
            newest = self._timeline_newest
            if newest is None or stamp >= newest - self._jump_tolerance:
                return None
            return TimeJump(newest, stamp)

    def start_timeline(self, jump: TimeJump) -> None:
        """The stamps went back: forget the frames of the old timeline (their stamps may name
        other images from now on)."""
        with self._lock:
            self._frames.clear()
            self._timeline_newest = None
            self.last_jump = jump
            self.timeline += 1

    def clear(self) -> None:
        """Forget every frame (the engine's frames were reset); the timeline goes on."""
        with self._lock:
            self._frames.clear()
            self.last_jump = None

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
            frames, jump = list(self._frames), self.last_jump
        since = (
            ""
            if jump is None
            else f" ({jump}: frames tracked before that can no longer be named by their stamps)"
        )
        if not frames:
            raise StampNotHeldError(
                f"no frame tracked yet, so none is stamped {stamp_text(stamp)}{since}"
            )
        stamps = np.array([s for s, _ in frames], np.int64)
        nearest = int(np.argmin(np.abs(stamps - stamp)))
        distance = abs(int(stamps[nearest]) - stamp)
        interval = np.median(np.diff(np.sort(stamps))) if len(stamps) > 1 else 0
        if distance == 0 or distance <= interval / 2:
            return frames[nearest][1]
        raise StampNotHeldError(
            f"no tracked frame is stamped {stamp_text(stamp)} (or within half a frame interval "
            f"of it): the {len(frames)} frames held are stamped {stamp_text(int(stamps.min()))} "
            f"(oldest) to {stamp_text(int(stamps.max()))} (newest){since}"
        )


class Timelines:
    """The timeline of each stamp of a stream, in order, by :meth:`TrackedFrames.jump_back`'s
    rule: what tells apart frames with the same stamp on two timelines (a bag of concatenated
    recordings, a recorded session whose camera looped)."""

    def __init__(self, jump_tolerance: int = 0) -> None:
        self._frames = TrackedFrames(1, jump_tolerance)

    def of(self, stamp: int) -> int:
        """The timeline of the stream's next stamp (0 until its stamps first go back)."""
        jump = self._frames.jump_back(stamp)
        if jump is not None:
            self._frames.start_timeline(jump)
        self._frames.add(stamp, 0)
        return self._frames.timeline
