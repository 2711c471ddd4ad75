"""Choosing the image subscription's QoS from the camera's publishers, and wording mismatches."""

from __future__ import annotations

import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

from sam2_ros.node.input_qos import (
    image_mismatch_fix,
    image_qos,
    incompatible_publishers,
    mismatch_message,
    no_frames_message,
)

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
BEST_EFFORT = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)


@pytest.mark.parametrize(
    ("mode", "offered", "expected"),
    [
        ("auto", [], ReliabilityPolicy.BEST_EFFORT),  # nobody yet: connect to anyone
        ("auto", [RELIABLE], ReliabilityPolicy.RELIABLE),
        ("auto", [RELIABLE, RELIABLE], ReliabilityPolicy.RELIABLE),
        ("auto", [RELIABLE, BEST_EFFORT], ReliabilityPolicy.BEST_EFFORT),
        ("reliable", [BEST_EFFORT], ReliabilityPolicy.RELIABLE),
        ("best_effort", [RELIABLE], ReliabilityPolicy.BEST_EFFORT),
    ],
)
def test_dropping_frames_keeps_the_newest_with_the_chosen_reliability(mode, offered, expected):
    qos = image_qos(mode, drop_frames=True, queue_size=30, offered=offered)
    assert (qos.reliability, qos.depth, qos.durability) == (expected, 1, DurabilityPolicy.VOLATILE)


def test_every_frame_in_order_is_reliable_with_the_queue():
    qos = image_qos("best_effort", drop_frames=False, queue_size=30, offered=[BEST_EFFORT])
    assert (qos.reliability, qos.depth) == (ReliabilityPolicy.RELIABLE, 30)


def test_mismatches_name_both_sides_and_the_fix():
    requested = image_qos("auto", drop_frames=False, queue_size=30, offered=[])
    offered = [qos_profile_sensor_data, RELIABLE]
    incompatible = incompatible_publishers(requested, offered)
    assert incompatible == [qos_profile_sensor_data]
    assert incompatible_publishers(BEST_EFFORT, offered) == []
    message = mismatch_message("/cam/image", requested, incompatible, image_mismatch_fix(False))
    assert message.startswith("QoS mismatch on /cam/image: 1 publisher(s) offer reliability best")
    assert "requests reliability reliable, durability volatile" in message
    assert "set drop_frames: true" in message
    assert "image_reliability: auto" in image_mismatch_fix(True)


def test_silent_publishers_get_the_dds_fixes():
    message = no_frames_message("/cam/image", BEST_EFFORT, 2, 5.2)
    assert "no frame on /cam/image for 5 s although 2 publisher(s) are connected" in message
    for fix in ("fastdds_large_images.xml", "FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA", "reliabl"):
        assert fix in message
