"""The node's threads by role, from their native names."""

from __future__ import annotations

from sam2_ros.runtime.process_stats import ThreadTime
from sam2_ros.runtime.threads import EXECUTOR_THREAD_NAME, thread_role
from sam2_ros.runtime.worker import THREAD_NAME


def test_threads_are_told_apart_by_name_and_the_main_thread_by_id():
    def role(tid: int, name: str) -> str:
        return thread_role(ThreadTime(tid, name, 0.0), main_tid=100)

    assert role(105, THREAD_NAME) == "torch_threads"  # and the OpenMP workers it starts
    assert role(100, "python") == "ros_threads"  # the main thread spins the executor
    assert role(106, EXECUTOR_THREAD_NAME) == "ros_threads"
    assert role(107, "dds.udp.7400") == "dds_threads"
    assert role(108, "python") == "other_threads"
