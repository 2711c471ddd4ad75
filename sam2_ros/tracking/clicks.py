"""Clicks waiting for their frame, without ROS: a click is made on the frame the user saw, which
may not be tracked yet when the click arrives; it falls due once that frame (or a newer one) is
tracked, and then lands on the newest tracked frame stamped at or before it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Click:
    """A click waiting to start an object on the frame the user saw (stamp None: the newest).
    ``source`` says where it came from (an ``EventSource``)."""

    x: float
    y: float
    source: Any
    seen_stamp: int | None


@dataclass(frozen=True)
class ClickOutcome:
    """What a click did: its object on the frame of that stamp, or why it was refused."""

    click: Click
    answer: Any = None  # the engine's PromptResult; None when refused
    stamp: int = 0
    refused: str = ""


class WaitingClicks:
    """One camera's clicks not applied yet (thread-safe: clicks arrive on the executor's thread,
    fall due on the tracking thread)."""

    def __init__(self) -> None:
        self._clicks: list[Click] = []
        self._lock = threading.Lock()

    def add(self, click: Click) -> None:
        """Queue a click."""
        with self._lock:
            self._clicks.append(click)

    def clear(self) -> int:
        """Forget every waiting click; how many there were."""
        with self._lock:
            count, self._clicks = len(self._clicks), []
        return count

    def take_due(self, newest_stamp: int | None) -> list[Click]:
        """Remove and return the clicks whose frame was tracked (or skipped for a newer one),
        oldest first: those made on a frame stamped at most ``newest_stamp``, or on the newest
        frame; every click before any frame was tracked. A frame received but not tracked yet
        holds its clicks."""

        def due(click: Click) -> bool:
            return (
                newest_stamp is None or click.seen_stamp is None or click.seen_stamp <= newest_stamp
            )

        with self._lock:
            ready = [c for c in self._clicks if due(c)]
            self._clicks = [c for c in self._clicks if not due(c)]
        return ready
