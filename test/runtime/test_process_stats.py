"""Process and thread statistics from /proc: native thread names, CPU per thread and by role."""

from __future__ import annotations

import threading

from sam2_ros.runtime.process_stats import (
    ThreadCpuMeter,
    rss_bytes,
    set_native_thread_name,
    thread_times,
)


def test_a_named_thread_shows_its_name_and_cpu_by_role():
    ready, finish = threading.Event(), threading.Event()

    def busy() -> None:
        set_native_thread_name("busy_worker")
        ready.set()
        total = 0
        while not finish.is_set():  # CPU work until the meter has read twice
            total += sum(range(1000))

    meter = ThreadCpuMeter(lambda t: "busy" if t.name == "busy_worker" else "rest")
    worker = threading.Thread(target=busy)
    worker.start()
    assert ready.wait(10)
    names = {t.tid: t.name for t in thread_times()}
    assert names[worker.native_id] == "busy_worker"
    first = meter.read()
    while meter.read().get("busy", 0.0) == 0.0:  # CPU time is counted in clock ticks
        pass
    finish.set()
    worker.join()
    assert set(first) <= {"busy", "rest"}
    assert rss_bytes() > 0 and all(t.cpu_s >= 0 for t in thread_times())
