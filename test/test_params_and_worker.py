"""Parameter validation, the tracking worker's ordering, and camera projection."""

from __future__ import annotations

import threading

import pytest

from sam2_ros.camera_geometry import project_to_pixel
from sam2_ros.params import PARAMETERS, ParameterError, parse
from sam2_ros.tracking_worker import TrackingWorker, WorkerStoppedError


def _values(**overrides):
    values = {name: default for name, (default, _) in PARAMETERS.items()}
    values.update(overrides)
    return values


def test_defaults_derive_each_cameras_topics():
    params = parse(
        _values(
            camera_names=["front", "rear"],
            image_topics=["/front/image_raw", "/rear/color/image/compressed"],
        )
    )
    front, rear = params.cameras
    assert front.camera_info_topic == "/front/camera_info"
    assert front.click_topics == (
        "/front/image_raw_mouse_left",
        "/front/image_raw/compressed_mouse_left",
    )
    assert rear.compressed and not front.compressed
    assert rear.camera_info_topic == "/rear/color/camera_info"
    assert rear.click_topics == (
        "/rear/color/image_mouse_left",
        "/rear/color/image/compressed_mouse_left",
    )
    assert params.image_reliability == "auto" and params.overlay_clicks


def test_click_topics_can_be_named_or_disabled():
    params = parse(
        _values(
            camera_names=["a", "b"],
            image_topics=["/a/image", "/b/image"],
            click_topics=["/a/clicks", ""],
        )
    )
    assert [c.click_topics for c in params.cameras] == [("/a/clicks",), ()]
    assert params.image_size is None and params.checkpoint is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"camera_names": ["a", "b"]}, "must be non-empty and of equal length"),
        ({"camera_names": ["a b"]}, "letters, digits"),
        ({"image_size": 250}, "multiple of 32"),
        ({"image_size": "large"}, "image_size must be a int"),
        ({"occlusion_threshold": 1.5}, r"\[0, 1\]"),
        ({"max_objects": 0}, "max_objects must be >= 1"),
        ({"drop_frames": "yes"}, "drop_frames must be a bool"),
        ({"click_topics": ["/a", "/b"]}, "click_topics has 2 entries but there are 1 cameras"),
        ({"image_reliability": "sometimes"}, "must be one of auto, reliable, best_effort"),
        ({"compile": "fast"}, "compile 'fast' must be one of none, default, max"),
        ({"compile": True}, "compile must be a str"),
    ],
)
def test_bad_values_are_explained(overrides, message):
    with pytest.raises(ParameterError, match=message):
        parse(_values(**overrides))


def test_projection_is_the_pinhole_formula():
    k = [500.0, 0.0, 320.0, 0.0, 480.0, 240.0, 0.0, 0.0, 1.0]
    assert project_to_pixel(k, 0.5, -0.25, 2.0) == pytest.approx((445.0, 180.0))
    assert project_to_pixel(k, 0.0, 0.0, -1.0) is None


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
