"""A camera's statistics: frame counts and rates, input problems, detection outcomes."""

from __future__ import annotations

from collections import Counter

from sam2_ros.runtime.statistics import CameraStatistics
from sam2_ros.tracking.detections import DetectionOutcome


def test_frames_and_problems_are_counted():
    stats = CameraStatistics()
    for _ in range(3):
        stats.record_frame(0.05, 0.04, objects=2, memory=1000)
    stats.record_skipped(4)
    stats.record_bad_frame()
    stats.set_input_problem("no frame for 5 s")
    snap = stats.snapshot()
    assert (snap.frames, snap.skipped, snap.bad_frames, snap.objects) == (3, 4, 1, 2)
    assert snap.latency_p50_ms == 50.0 and snap.engine_p50_ms == 40.0 and snap.fps > 0
    assert snap.input_problem == "no frame for 5 s"
    stats.record_received()
    assert stats.snapshot().input_problem == ""
    stats.record_received()
    assert stats.snapshot().received_fps > 0


def test_detection_outcomes_add_up_by_kind_and_reason():
    stats = CameraStatistics()
    stats.record_detection_message()
    stats.record_detection_message()
    stats.record_detections(
        DetectionOutcome(
            1,
            4,
            frame_index=7,
            matched=2,
            started=[(3, "cup")],
            reconditioned=[1],
            dropped=Counter({"box off the image": 1}),
        )
    )
    stats.record_detections(
        DetectionOutcome(2, 2, problem="too old", dropped=Counter({"too old": 2}))
    )
    counts = stats.snapshot().detections
    assert (counts.messages, counts.applied, counts.matched, counts.started) == (2, 1, 2, 1)
    assert counts.reconditioned == 1 and counts.forgotten == 0
    assert counts.dropped == {"box off the image": 1, "too old": 2}
    counts.dropped["too old"] = 99  # a snapshot is a copy
    assert stats.snapshot().detections.dropped["too old"] == 2
