"""Process and thread statistics read from /proc (no ROS imports: the engine benchmark runs
without ROS)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: prctl option that names the calling thread (linux/prctl.h); names are cut to 15 bytes.
_PR_SET_NAME = 15


def rss_bytes(pid: int | str = "self") -> int:
    """Resident memory of a process (this one by default), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def set_native_thread_name(name: str) -> None:
    """Give the calling thread ``name`` where the operating system shows it (``top -H``,
    ``/proc/<pid>/task/<tid>/comm``); Python 3.11 names threads only for itself. A no-op where
    prctl is missing."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    libc = ctypes.CDLL(libc_name, use_errno=True)
    if hasattr(libc, "prctl"):
        libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)


@dataclass(frozen=True)
class ThreadTime:
    """CPU time one thread of a process has used so far."""

    tid: int
    name: str
    cpu_s: float


def thread_times(pid: int | str = "self") -> list[ThreadTime]:
    """Every live thread of a process with its name and user + system CPU seconds, from
    ``/proc/<pid>/task`` (threads that end while being read are left out)."""
    ticks = os.sysconf("SC_CLK_TCK")
    threads = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[11] and [12] are utime and stime (fields 14 and 15 of proc_pid_stat(5))
        threads.append(
            ThreadTime(int(task.name), name, (int(fields[11]) + int(fields[12])) / ticks)
        )
    return threads


class ThreadCpuMeter:
    """CPU used by a process's threads between two readings, summed by role.

    ``role`` names a thread's role from its id and name (e.g. the tracking thread, ROS executor
    threads, DDS threads); :meth:`read` returns, per role, the cores used since the previous
    reading (1.0 = one core busy all the time). Threads that ended in between are not counted.
    """

    def __init__(self, role: Callable[[ThreadTime], str], pid: int | str = "self") -> None:
        self._role, self._pid = role, pid
        self._last = time.monotonic(), {t.tid: t.cpu_s for t in thread_times(pid)}

    def read(self) -> dict[str, float]:
        """Cores used per role since the last reading (or since the meter was made)."""
        now, threads = time.monotonic(), thread_times(self._pid)
        then, before = self._last
        self._last = now, {t.tid: t.cpu_s for t in threads}
        seconds = max(now - then, 1e-9)
        usage: dict[str, float] = {}
        for thread in threads:
            used = thread.cpu_s - before.get(thread.tid, 0.0)
            role = self._role(thread)
            usage[role] = usage.get(role, 0.0) + used / seconds
        return usage
