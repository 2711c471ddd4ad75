"""The node's threads by role, from the names the operating system shows for them: what
/diagnostics and ``sam2-ros bench --node`` report the node's CPU by."""

from __future__ import annotations

from sam2_ros.runtime.process_stats import ThreadTime
from sam2_ros.runtime.worker import THREAD_NAME

#: Native name of the executor's pool threads (services, lifecycle transitions, timers).
EXECUTOR_THREAD_NAME = "ros_executor"
#: Roles, as /diagnostics names them (``cpu_<role>``).
ROLES = ("torch_threads", "ros_threads", "dds_threads", "other_threads")


def thread_role(thread: ThreadTime, main_tid: int) -> str:
    """What a thread of the node process does: torch (the tracking thread, where every torch call
    starts, and the OpenMP workers torch starts from it, which inherit its name), ROS executor
    threads (the main thread spins, the pool runs services and transitions), Fast DDS's threads
    (transport, discovery), or other threads."""
    if thread.name == THREAD_NAME:
        return "torch_threads"
    if thread.tid == main_tid or thread.name == EXECUTOR_THREAD_NAME:
        return "ros_threads"
    if thread.name.startswith("dds."):
        return "dds_threads"
    return "other_threads"
