"""The node's executor: camera inputs handled on the spinning thread, everything else (services
and lifecycle transitions, which wait for the tracking thread) on a pool of threads.

rclpy's MultiThreadedExecutor hands every ready callback to a pool thread, and its Python loop
rebuilds the wait set (every subscription, service, timer and event of the node) after the
hand-off and again when the callback ends. For a camera publishing faster than SAM 2 tracks,
that is work for every frame the node then drops, on the cores the model needs (measured in
doc/performance.md, "The node at its engine's speed"). Input callbacks only hand work on, so
running them inline blocks nothing.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from rclpy.callback_groups import CallbackGroup
from rclpy.context import Context
from rclpy.executors import (
    Executor,
    ExternalShutdownException,
    ShutdownException,
    TimeoutException,
)
from rclpy.task import Task

from sam2_ros.runtime.process_stats import set_native_thread_name
from sam2_ros.runtime.threads import EXECUTOR_THREAD_NAME


class InputsInlineExecutor(Executor):
    """Runs callbacks of ``inline_group`` on the spinning thread, and every other callback in a
    pool of ``num_threads`` threads (as rclpy's MultiThreadedExecutor runs all of them). A
    callback's exception is raised from :meth:`spin_once`, as rclpy's executors do."""

    def __init__(
        self, inline_group: CallbackGroup, num_threads: int = 4, *, context: Context | None = None
    ) -> None:
        super().__init__(context=context)
        self._inline_group = inline_group
        self._pool = ThreadPoolExecutor(
            num_threads,
            thread_name_prefix=EXECUTOR_THREAD_NAME,
            initializer=set_native_thread_name,
            initargs=(EXECUTOR_THREAD_NAME,),
        )
        self._pooled: list[Task] = []

    def spin_once(self, timeout_sec: float | None = None) -> None:
        """Wait for one ready callback and run it (inline or in the pool)."""
        try:
            handler, entity, _ = self.wait_for_ready_callbacks(timeout_sec=timeout_sec)
        except (ExternalShutdownException, ShutdownException, TimeoutException):
            return
        if entity is not None and entity.callback_group is self._inline_group:
            handler()
            handler.result()
        else:
            self._pool.submit(handler)
            self._pooled.append(handler)
        for task in [task for task in self._pooled if task.done()]:
            self._pooled.remove(task)
            task.result()

    def shutdown(self, timeout_sec: float | None = None) -> bool:
        """Stop spinning, then wait for the pool's callbacks to end."""
        done = super().shutdown(timeout_sec)
        self._pool.shutdown()
        return done
