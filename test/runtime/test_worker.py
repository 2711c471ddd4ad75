"""The tracking worker: commands before frames, newest frame wins, failures reported, one thread
from configure to cleanup with frames and calls only while tracking."""

from __future__ import annotations

import threading

import pytest

from sam2_ros.runtime.worker import TrackingWorker, WorkerStoppedError


def _worker(drop_frames: bool, handled: list, gate: threading.Event | None = None):
    started = threading.Event()

    def handle(camera, message):
        started.set()
        if gate is not None:
            gate.wait(10)
        handled.append((camera, message))

    errors = []
    worker = TrackingWorker(handle, lambda c, e: errors.append((c, e)), drop_frames, queue_size=4)
    worker.start()
    worker.start_tracking()
    worker.started = started
    return worker, errors


def test_commands_run_before_waiting_frames_and_newest_frame_wins():
    handled, gate = [], threading.Event()
    worker, _ = _worker(True, handled, gate)
    worker.submit_frame("cam", 0)  # blocks the worker inside handle until the gate opens
    assert worker.started.wait(10)
    first = worker.call(lambda: handled.append(("cmd", "first")))
    for frame in (1, 2, 3):
        worker.submit_frame("cam", frame)
    second = worker.call(lambda: "answer")
    gate.set()
    assert second.result(10) == "answer"
    first.result(10)
    done = worker.call(lambda: None)
    done.result(10)
    worker.stop("test over")
    assert handled[0] == ("cam", 0) and handled[1] == ("cmd", "first")
    assert ("cam", 3) in handled and ("cam", 1) not in handled
    assert worker.take_skipped("cam") == 2


def test_ordered_mode_keeps_every_frame():
    handled = []
    worker, _ = _worker(False, handled)
    for frame in range(10):  # more than the queue holds: submit waits for room
        worker.submit_frame("cam", frame)
    worker.call(lambda: None).result(10)
    worker.stop("test over")
    assert [m for _, m in handled] == list(range(10))


def test_failures_are_reported_and_stopping_fails_waiting_commands():
    gate, started = threading.Event(), threading.Event()

    def handle(camera, message):
        started.set()
        gate.wait(10)
        raise RuntimeError("boom")

    errors = []
    worker = TrackingWorker(handle, lambda c, e: errors.append((c, str(e))), True, 4)
    worker.start()
    worker.start_tracking()
    worker.submit_frame("cam", 0)
    assert started.wait(10)
    waiting = worker.call(lambda: "never")
    failing = worker.call(lambda: 1 / 0)
    gate.set()
    assert waiting.result(10) == "never"
    with pytest.raises(ZeroDivisionError):
        failing.result(10)
    assert errors == [("cam", "boom")]
    gate.clear()
    started.clear()
    worker.submit_frame("cam", 1)
    assert started.wait(10)
    pending = worker.call(lambda: "late")
    stopper = threading.Thread(target=worker.stop, args=("deactivated",))
    stopper.start()
    gate.set()
    stopper.join(10)
    with pytest.raises(WorkerStoppedError, match="deactivated"):
        pending.result(10)
    assert isinstance(worker.call(lambda: 1).exception(1), WorkerStoppedError)


def test_one_thread_from_start_to_stop_frames_and_calls_only_while_tracking():
    handled, threads = [], []

    def handle(camera, message):
        threads.append(threading.get_ident())
        handled.append(message)

    worker = TrackingWorker(handle, lambda c, e: None, True, 4)
    worker.start()
    assert worker.native_id is not None and not worker.tracking
    worker.submit_frame("cam", "before activate")  # ignored: not tracking
    with pytest.raises(WorkerStoppedError, match="tracking is not running"):
        worker.call(lambda: 1).result(10)
    built = worker.run(lambda: threading.get_ident())  # lifecycle steps run while inactive
    worker.start_tracking()
    worker.submit_frame("cam", "frame")
    assert worker.call(lambda: threading.get_ident()).result(10) == built
    worker.run(lambda: None)  # after the frame: run waits its turn
    gate, started = threading.Event(), threading.Event()
    worker.call(lambda: (started.set(), gate.wait(10)))
    assert started.wait(10)
    waiting_prompt = worker.call(lambda: "prompt")
    waiting_step = threading.Thread(target=lambda: threads.append(worker.run(lambda: "saved")))
    waiting_step.start()
    worker.submit_frame("cam", "dropped")
    stopper = threading.Thread(target=worker.stop_tracking, args=("deactivated",))
    stopper.start()
    stopper.join(10)
    gate.set()
    waiting_step.join(10)
    with pytest.raises(WorkerStoppedError, match="deactivated"):
        waiting_prompt.result(10)
    assert threads[-1] == "saved"  # a lifecycle step survives deactivation
    assert handled == ["frame"] and set(threads[:-1]) == {built}
    worker.stop("cleaned up")
    assert worker.native_id is None
    with pytest.raises(WorkerStoppedError, match="not running"):
        worker.run(lambda: 1)
