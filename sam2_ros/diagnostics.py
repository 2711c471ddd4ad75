"""Per-camera throughput and latency statistics, reported on /diagnostics."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

WINDOW = 100  # frames the rates and percentiles are computed over


@dataclass
class CameraSnapshot:
    """What the node reports for one camera."""

    fps: float
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


class CameraStatistics:
    """Thread-safe counters for one camera (written by the worker, read by the timer)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: deque[float] = deque(maxlen=WINDOW)
        self._latency: deque[float] = deque(maxlen=WINDOW)
        self._engine: deque[float] = deque(maxlen=WINDOW)
        self._frames = self._skipped = self._bad = self._objects = self._memory = 0
        self._last_received = float("-inf")
        self._input_problem = ""
        self._without_depth = 0

    def record_unpaired_depth(self) -> None:
        """A tracked frame for which no depth image was paired."""
        with self._lock:
            self._without_depth += 1

    def record_received(self) -> None:
        """A frame arrived from the camera: whatever kept frames away is over."""
        with self._lock:
            self._last_received = time.monotonic()
            self._input_problem = ""

    def last_received(self) -> float:
        """``time.monotonic()`` of the last frame received (-inf: none yet)."""
        with self._lock:
            return self._last_received

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

    def record_bad_frame(self) -> None:
        """A frame that could not be decoded or tracked."""
        with self._lock:
            self._bad += 1

    def snapshot(self) -> CameraSnapshot:
        """Current rates (over the last frames) and totals."""
        with self._lock:
            done = list(self._done)
            recent = len(done) > 1 and time.monotonic() - done[-1] < 5.0
            fps = (len(done) - 1) / (done[-1] - done[0]) if recent and done[-1] > done[0] else 0.0
            latency = np.array(self._latency) * 1000.0
            engine = np.array(self._engine) * 1000.0
            return CameraSnapshot(
                fps=fps,
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
            )


def camera_status(
    node_name: str, camera: str, device: str, snap: CameraSnapshot
) -> DiagnosticStatus:
    """A DiagnosticStatus for one camera (WARN while no frames arrive)."""
    values = {
        "fps": f"{snap.fps:.2f}",
        "latency_p50_ms": f"{snap.latency_p50_ms:.1f}",
        "latency_p95_ms": f"{snap.latency_p95_ms:.1f}",
        "engine_p50_ms": f"{snap.engine_p50_ms:.1f}",
        "frames_processed": str(snap.frames),
        "frames_skipped": str(snap.skipped),
        "bad_frames": str(snap.bad_frames),
        "objects": str(snap.objects),
        "memory_bank_bytes": str(snap.memory_bytes),
        "frames_without_depth": str(snap.frames_without_depth),
        "device": device,
    }
    healthy = snap.fps > 0.0 and not snap.input_problem
    if snap.input_problem:
        message = snap.input_problem
    else:
        message = "tracking" if healthy else "no frames processed in the last 5 s"
    return DiagnosticStatus(
        level=DiagnosticStatus.OK if healthy else DiagnosticStatus.WARN,
        name=f"{node_name}: {camera}",
        message=message,
        hardware_id=device,
        values=[KeyValue(key=k, value=v) for k, v in values.items()],
    )
