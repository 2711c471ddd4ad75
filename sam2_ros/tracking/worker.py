"""The one thread that runs the model: camera frames and commands (prompts, removals, resets),
strictly one at a time, so ROS callbacks never block on inference and never race it."""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class WorkerStoppedError(RuntimeError):
    """The worker is not running (node inactive), so the command was not executed."""


class TrackingWorker:
    """Serialises model work. Commands run before waiting frames, in the order they arrived.

    With ``drop_frames`` only each camera's newest frame waits (older ones are counted as
    skipped); otherwise frames wait in arrival order in a queue of ``queue_size``, and
    :meth:`submit_frame` blocks while it is full.
    """

    def __init__(
        self,
        handle_frame: Callable[[str, Any], None],
        on_error: Callable[[str, Exception], None],
        drop_frames: bool,
        queue_size: int,
    ) -> None:
        self._handle_frame = handle_frame
        self._on_error = on_error
        self._drop_frames = drop_frames
        self._queue_size = queue_size
        self._lock = threading.Condition()
        self._commands: deque[tuple[Callable[[], Any], Future]] = deque()
        self._latest: dict[str, Any] = {}
        self._queue: deque[tuple[str, Any]] = deque()
        self._skipped: Counter[str] = Counter()
        self._running = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread."""
        with self._lock:
            self._running = True
        self._thread = threading.Thread(target=self._run, name="sam2_tracking", daemon=True)
        self._thread.start()

    def stop(self, reason: str) -> None:
        """Finish the frame in progress, drop waiting frames, fail waiting commands."""
        with self._lock:
            self._running = False
            commands = list(self._commands)
            self._commands.clear()
            self._latest.clear()
            self._queue.clear()
            self._lock.notify_all()
        for _, future in commands:
            future.set_exception(WorkerStoppedError(reason))
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def submit_frame(self, camera: str, message: Any) -> None:
        """Hand a camera frame to the worker (never blocks when dropping frames)."""
        with self._lock:
            if not self._running:
                return
            if self._drop_frames:
                if camera in self._latest:
                    self._skipped[camera] += 1
                self._latest[camera] = message
            else:
                while self._running and len(self._queue) >= self._queue_size:
                    self._lock.wait()
                self._queue.append((camera, message))
            self._lock.notify_all()

    def call(self, command: Callable[[], T]) -> Future[T]:
        """Run ``command`` on the worker thread before the next frame; its result arrives on
        the returned future (a :class:`WorkerStoppedError` when the worker is not running)."""
        future: Future[T] = Future()
        with self._lock:
            if not self._running:
                future.set_exception(WorkerStoppedError("tracking is not running"))
                return future
            self._commands.append((command, future))
            self._lock.notify_all()
        return future

    def take_skipped(self, camera: str) -> int:
        """Frames of ``camera`` replaced by newer ones since the last call."""
        with self._lock:
            return self._skipped.pop(camera, 0)

    def _next_job(self) -> tuple[str, Any, Any] | None:
        with self._lock:
            while self._running and not (self._commands or self._latest or self._queue):
                self._lock.wait()
            if not self._running:
                return None
            if self._commands:
                command, future = self._commands.popleft()
                return "command", command, future
            if self._drop_frames:
                camera = next(iter(self._latest))
                return "frame", camera, self._latest.pop(camera)
            camera, message = self._queue.popleft()
            self._lock.notify_all()  # room in the queue
            return "frame", camera, message

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            kind, first, second = job
            if kind == "command":
                if second.set_running_or_notify_cancel():
                    try:
                        second.set_result(first())
                    except Exception as err:  # the caller gets every failure
                        second.set_exception(err)
                continue
            try:
                self._handle_frame(first, second)
            except Exception as err:  # a bad frame must never stop tracking
                self._on_error(first, err)
