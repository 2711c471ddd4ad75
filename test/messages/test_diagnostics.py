"""A camera's statistics on /diagnostics."""

from __future__ import annotations

from collections import Counter

from diagnostic_msgs.msg import DiagnosticStatus

from sam2_ros.messages.diagnostics import camera_status, process_status
from sam2_ros.runtime.statistics import CameraStatistics
from sam2_ros.tracking.detections import DetectionOutcome


def test_a_tracking_camera_is_ok_and_reports_its_counts():
    stats = CameraStatistics()
    stats.record_frame(0.05, 0.04, objects=1, memory=10)
    stats.record_frame(0.05, 0.04, objects=1, memory=10)
    stats.record_detection_message()
    dropped = Counter({"rotated box": 2, "no hypothesis": 1})
    stats.record_detections(DetectionOutcome(1, 3, frame_index=2, dropped=dropped))
    status = camera_status("sam2", "front", "cpu", "bf16", stats.snapshot())
    values = {v.key: v.value for v in status.values}
    assert values["device"] == "cpu" and values["precision"] == "bf16"
    assert status.level == DiagnosticStatus.OK and status.name == "sam2: front"
    assert values["frames_processed"] == "2" and values["detection_messages_applied"] == "1"
    assert values["detections_dropped"] == "3"
    assert values["detections_dropped_by_reason"] == "no hypothesis: 1; rotated box: 2"
    assert values["engine_p50_ms"] == "40.0" and values["engine_fps"] == "25.00"
    assert values["received_fps"] == "0.00"  # nothing received from the camera
    stats.record_duplicate()
    confirmed = DetectionOutcome(
        2, 1, frame_index=3, confirmed=[(4, "cup")], unconfirmed=[(5, "x")]
    )
    stats.record_detections(confirmed)
    values = {
        v.key: v.value for v in camera_status("sam2", "f", "cpu", "bf16", stats.snapshot()).values
    }
    assert (values["objects_confirmed"], values["objects_unconfirmed_removed"]) == ("1", "1")
    assert values["duplicates_removed"] == "1"


def test_a_camera_without_frames_warns_with_the_reason():
    stats = CameraStatistics()
    status = camera_status("sam2", "rear", "cpu", "fp32", stats.snapshot())
    assert status.level == DiagnosticStatus.WARN
    stats.set_input_problem("QoS mismatch on /rear/image_raw")
    status = camera_status("sam2", "rear", "cpu", "fp32", stats.snapshot())
    assert status.level == DiagnosticStatus.WARN and status.message.startswith("QoS mismatch")


def test_the_process_reports_cpu_by_thread_role():
    cores = {"torch_threads": 1.9, "ros_threads": 0.03, "other_threads": 0.95}
    status = process_status("sam2", cores, rss=123)
    values = {v.key: v.value for v in status.values}
    assert status.name == "sam2: process" and status.level == DiagnosticStatus.OK
    assert values["cpu_torch_threads"] == "1.900" and values["cpu_ros_threads"] == "0.030"
    assert values["cpu_total"] == "2.880" and values["rss_bytes"] == "123"
