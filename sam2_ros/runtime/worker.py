"""The one thread that owns the model: it builds it, warms it up, tracks camera frames, runs
commands (prompts, removals, resets, saving and loading objects) strictly one at a time, and
releases it, so ROS callbacks never block on inference and never race it.

One owner of torch work per process is also what keeps torch fast on few cores: PyTorch's CPU
kernels run on OpenMP, and GNU OpenMP (libgomp, which the PyTorch wheels ship) gives every thread
that starts parallel work a team of its own that lives as long as that thread. Once more OpenMP
threads exist than CPUs, libgomp stops spinning at its barriers (``gomp_managed_threads >
gomp_available_cpus`` selects the throttled spin count in ``config/linux/wait.h``) and every
parallel region ends in futex sleeps and wake-ups. A model built on a ROS executor thread (which
lives on) and run on another thread therefore ran at about half speed on 2 cores
(doc/architecture.md, "Threads").
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from sam2_ros.runtime.process_stats import set_native_thread_name

T = TypeVar("T")

#: The worker thread's name (also its native name: ``top -H`` and ``/proc`` show it).
THREAD_NAME = "sam2_tracking"


class WorkerStoppedError(RuntimeError):
    """The worker is not tracking (node inactive) or not running, so the command was not
    executed."""


@dataclass
class _Command:
    run: Callable[[], Any]
    future: Future
    #: Dropped (failed) when tracking stops: prompts and the like, not lifecycle steps.
    while_tracking: bool


class TrackingWorker:
    """Serialises model work on one thread that lives from :meth:`start` (configure) to
    :meth:`stop` (cleanup). Commands run before waiting frames, in the order they arrived.

    Frames and :meth:`call` are accepted only between :meth:`start_tracking` and
    :meth:`stop_tracking` (active); :meth:`run` (lifecycle steps: build the model, save, forget,
    release) works whenever the thread runs. With ``drop_frames`` only each camera's newest
    frame waits (older ones are counted as skipped); otherwise frames wait in arrival order in a
    queue of ``queue_size``, and :meth:`submit_frame` blocks while it is full.
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
        self._commands: deque[_Command] = deque()
        self._latest: dict[str, Any] = {}
        self._queue: deque[tuple[str, Any]] = deque()
        self._skipped: Counter[str] = Counter()
        self._running = False
        self._tracking = False
        self._thread: threading.Thread | None = None

    @property
    def tracking(self) -> bool:
        """Whether frames and :meth:`call` commands are accepted."""
        with self._lock:
            return self._tracking

    @property
    def native_id(self) -> int | None:
        """The thread's id in the operating system (None before it started)."""
        return self._thread.native_id if self._thread is not None else None

    def start(self) -> None:
        """Start the thread (commands through :meth:`run` only, until :meth:`start_tracking`)."""
        with self._lock:
            self._running = True
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._thread.start()

    def start_tracking(self) -> None:
        """Accept frames and :meth:`call` commands."""
        with self._lock:
            self._tracking = True

    def stop_tracking(self, reason: str) -> None:
        """Refuse frames and :meth:`call` commands again; drop waiting frames and fail waiting
        :meth:`call` commands (the frame in progress finishes)."""
        with self._lock:
            self._tracking = False
            dropped = [c for c in self._commands if c.while_tracking]
            self._commands = deque(c for c in self._commands if not c.while_tracking)
            self._latest.clear()
            self._queue.clear()
            self._lock.notify_all()
        for command in dropped:
            command.future.set_exception(WorkerStoppedError(reason))

    def stop(self, reason: str) -> None:
        """Finish the frame or command in progress, fail everything waiting, end the thread."""
        with self._lock:
            self._running = self._tracking = False
            dropped = list(self._commands)
            self._commands.clear()
            self._latest.clear()
            self._queue.clear()
            self._lock.notify_all()
        for command in dropped:
            command.future.set_exception(WorkerStoppedError(reason))
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def submit_frame(self, camera: str, message: Any) -> None:
        """Hand a camera frame to the worker (never blocks when dropping frames)."""
        with self._lock:
            if not self._tracking:
                return
            if self._drop_frames:
                if camera in self._latest:
                    self._skipped[camera] += 1
                self._latest[camera] = message
            else:
                while self._tracking and len(self._queue) >= self._queue_size:
                    self._lock.wait()
                if not self._tracking:
                    return
                self._queue.append((camera, message))
            self._lock.notify_all()

    def call(self, command: Callable[[], T]) -> Future[T]:
        """Run ``command`` on the worker thread before the next frame; its result arrives on
        the returned future (a :class:`WorkerStoppedError` when not tracking)."""
        return self._enqueue(command, while_tracking=True)

    def run(self, command: Callable[[], T]) -> T:
        """Run ``command`` on the worker thread (after what waits before it) and return its
        result or raise its exception; works whenever the thread runs (lifecycle steps)."""
        return self._enqueue(command, while_tracking=False).result()

    def take_skipped(self, camera: str) -> int:
        """Frames of ``camera`` replaced by newer ones since the last call."""
        with self._lock:
            return self._skipped.pop(camera, 0)

    def _enqueue(self, command: Callable[[], T], while_tracking: bool) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            refused = not self._running or (while_tracking and not self._tracking)
            if not refused:
                self._commands.append(_Command(command, future, while_tracking))
                self._lock.notify_all()
        if refused:
            reason = "tracking is not running" if while_tracking else "the worker is not running"
            future.set_exception(WorkerStoppedError(reason))
        return future

    def _next_job(self) -> tuple[str, Any, Any] | None:
        with self._lock:
            while self._running and not (self._commands or self._latest or self._queue):
                self._lock.wait()
            if not self._running:
                return None
            if self._commands:
                return "command", self._commands.popleft(), None
            if self._drop_frames:
                camera = next(iter(self._latest))
                return "frame", camera, self._latest.pop(camera)
            camera, message = self._queue.popleft()
            self._lock.notify_all()  # room in the queue
            return "frame", camera, message

    def _run(self) -> None:
        set_native_thread_name(THREAD_NAME)
        while (job := self._next_job()) is not None:
            kind, first, second = job
            if kind == "command":
                if first.future.set_running_or_notify_cancel():
                    try:
                        first.future.set_result(first.run())
                    except Exception as err:  # the caller gets every failure
                        first.future.set_exception(err)
                continue
            try:
                self._handle_frame(first, second)
            except Exception as err:  # a bad frame must never stop tracking
                self._on_error(first, err)
