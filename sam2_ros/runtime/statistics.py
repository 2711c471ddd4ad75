"""Per-camera throughput, latency and error counts of the node (reported on /diagnostics by
:mod:`sam2_ros.messages.diagnostics`)."""

from __future__ import annotations

import copy
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from sam2_ros.tracking.detections import DetectionOutcome

WINDOW = 100  # frames the rates and percentiles are computed over


@dataclass
class DetectionCounts:
    """What a camera's detection messages did, since the node was configured."""

    messages: int = 0
    applied: int = 0  # messages that landed on a tracked frame
    matched: int = 0
    started: int = 0
    reconditioned: int = 0
    forgotten: int = 0  # objects
    confirmed: int = 0  # tentative objects published
    unconfirmed: int = 0  # tentative objects removed, never published
    duplicates: int = 0  # objects removed as a duplicate of another
    dropped: Counter[str] = field(default_factory=Counter)  # reason -> detections

    def add(self, outcome: DetectionOutcome) -> None:
        """Count one message's outcome."""
        self.applied += outcome.frame_index is not None
        self.matched += outcome.matched
        self.started += len(outcome.started)
        self.reconditioned += len(outcome.reconditioned)
        self.forgotten += len(outcome.forgotten)
        self.confirmed += len(outcome.confirmed)
        self.unconfirmed += len(outcome.unconfirmed)
        self.dropped.update(outcome.dropped)


@dataclass
class CameraSnapshot:
    """What the node reports for one camera."""

    fps: float  # frames tracked and published per second (the rate a user gets)
    received_fps: float  # frames received from the camera per second
    latency_p50_ms: float
    latency_p95_ms: float
    engine_p50_ms: float
    frames: int
    skipped: int
    bad_frames: int
    objects: int
    memory_bytes: int
    frames_without_depth: int
    input_problem: str  # '' = none: why frames do not arrive
    detections: DetectionCounts
    events: int = 0  # changes to the objects published on ~/<camera>/events
    events_ms_per_frame: float = 0.0  # time publishing them, per processed frame
    time_jumps: int = 0  # times the camera's stamps went back
    clicks_dropped: int = 0  # clicks that waited for a frame of a timeline left behind


class CameraStatistics:
    """Thread-safe counters for one camera (written by the worker, read by the timer)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: deque[float] = deque(maxlen=WINDOW)
        self._received: deque[float] = deque(maxlen=WINDOW)
        self._latency: deque[float] = deque(maxlen=WINDOW)
        self._engine: deque[float] = deque(maxlen=WINDOW)
        self._frames = self._skipped = self._bad = self._objects = self._memory = 0
        self._input_problem = ""
        self._without_depth = 0
        self._detections = DetectionCounts()
        self._events = 0
        self._events_s = 0.0
        self._time_jumps = self._clicks_dropped = 0

    def record_unpaired_depth(self) -> None:
        """A tracked frame for which no depth image was paired."""
        with self._lock:
            self._without_depth += 1

    def record_received(self) -> None:
        """A frame arrived from the camera: whatever kept frames away is over."""
        with self._lock:
            self._received.append(time.monotonic())
            self._input_problem = ""

    def set_input_problem(self, message: str) -> None:
        """Why frames do not arrive (reported until the next frame is received)."""
        with self._lock:
            self._input_problem = message

    def record_frame(self, latency_s: float, engine_s: float, objects: int, memory: int) -> None:
        """A processed frame: input stamp to publish latency, engine time, tracking state."""
        with self._lock:
            self._done.append(time.monotonic())
            self._latency.append(latency_s)
            self._engine.append(engine_s)
            self._frames += 1
            self._objects, self._memory = objects, memory

    def record_skipped(self, count: int) -> None:
        """Frames replaced by newer ones before being processed."""
        with self._lock:
            self._skipped += count

    def record_detection_message(self) -> None:
        """A detection message arrived."""
        with self._lock:
            self._detections.messages += 1

    def record_detections(self, outcome: DetectionOutcome) -> None:
        """What a detection message did (or why it was dropped)."""
        with self._lock:
            self._detections.add(outcome)

    def record_event(self, seconds: float) -> None:
        """An event was published, taking ``seconds``."""
        with self._lock:
            self._events += 1
            self._events_s += seconds

    def record_time_jump(self, clicks_dropped: int) -> None:
        """The camera's stamps went back; the clicks that waited for old frames were dropped."""
        with self._lock:
            self._time_jumps += 1
            self._clicks_dropped += clicks_dropped

    def record_duplicate(self) -> None:
        """An object was removed as a duplicate of another."""
        with self._lock:
            self._detections.duplicates += 1

    def record_bad_frame(self) -> None:
        """A frame that could not be decoded or tracked."""
        with self._lock:
            self._bad += 1

    def snapshot(self) -> CameraSnapshot:
        """Current rates (over the last frames) and totals."""
        with self._lock:
            now = time.monotonic()
            latency = np.array(self._latency) * 1000.0
            engine = np.array(self._engine) * 1000.0
            return CameraSnapshot(
                fps=_rate(self._done, now),
                received_fps=_rate(self._received, now),
                latency_p50_ms=float(np.percentile(latency, 50)) if latency.size else 0.0,
                latency_p95_ms=float(np.percentile(latency, 95)) if latency.size else 0.0,
                engine_p50_ms=float(np.percentile(engine, 50)) if engine.size else 0.0,
                frames=self._frames,
                skipped=self._skipped,
                bad_frames=self._bad,
                objects=self._objects,
                memory_bytes=self._memory,
                frames_without_depth=self._without_depth,
                input_problem=self._input_problem,
                detections=copy.deepcopy(self._detections),
                events=self._events,
                events_ms_per_frame=1000.0 * self._events_s / max(self._frames, 1),
                time_jumps=self._time_jumps,
                clicks_dropped=self._clicks_dropped,
            )


def _rate(times: deque[float], now: float) -> float:
    """Events per second over the recent ``times`` (0 when the last is over 5 s old)."""
    recent = len(times) > 1 and now - times[-1] < 5.0
    return (len(times) - 1) / (times[-1] - times[0]) if recent and times[-1] > times[0] else 0.0
