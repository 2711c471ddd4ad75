"""vision_msgs detections in (a detector's boxes and best hypotheses) and out (tracked objects with
their ids, classes and mask boxes, and their 3D boxes)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import small_result
from std_msgs.msg import Header
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

from sam2_ros.engine import TrackResult
from sam2_ros.geometry.lifting import LiftedObject
from sam2_ros.messages.detections import (
    box_detection,
    detection_message,
    to_detection_3d_array,
    to_detection_array,
)


def _hypothesis(class_id: str, score: float) -> ObjectHypothesisWithPose:
    hypothesis = ObjectHypothesisWithPose()
    hypothesis.hypothesis.class_id, hypothesis.hypothesis.score = class_id, score
    return hypothesis


def test_a_detector_message_gives_boxes_and_best_hypotheses():
    header = Header(frame_id="camera")
    header.stamp.sec, header.stamp.nanosec = 7, 250
    first = Detection2D(results=[_hypothesis("cup", 0.4), _hypothesis("mug", 0.8)])
    first.bbox.center.position.x, first.bbox.center.position.y = 50.0, 40.0
    first.bbox.size_x, first.bbox.size_y = 20.0, 10.0
    rotated = Detection2D(results=[_hypothesis("person", 0.9)])
    rotated.bbox.center.theta = 0.5
    message = detection_message(Detection2DArray(header=header, detections=[first, rotated]))
    assert message.stamp == 7_000_000_250
    cup, person = message.detections
    assert (cup.class_id, cup.score, cup.box) == ("mug", pytest.approx(0.8), (40, 35, 60, 45))
    assert person.theta == 0.5
    (unknown,) = detection_message(Detection2DArray(detections=[Detection2D()])).detections
    assert unknown.class_id is None and unknown.score == 0.0


def test_tracked_objects_become_detections_with_their_ids_and_mask_boxes():
    header = Header(frame_id="camera")
    result = small_result()
    out = to_detection_array(header, result, {4: "cup"})
    assert out.header == header
    assert [d.id for d in out.detections] == ["4", "9"]
    cup = out.detections[0]
    assert cup.header == header
    assert (cup.bbox.center.position.x, cup.bbox.center.position.y) == (3.5, 2.0)
    assert (cup.bbox.size_x, cup.bbox.size_y, cup.bbox.center.theta) == (3.0, 2.0, 0.0)
    assert [(r.hypothesis.class_id, r.hypothesis.score) for r in cup.results] == [
        ("cup", pytest.approx(0.9))
    ]
    empty = TrackResult(**{**result.__dict__, "masks": np.zeros_like(result.masks)})
    assert to_detection_array(header, empty, {}).detections == []


def test_lifted_objects_become_3d_detections():
    valid = LiftedObject(
        True,
        np.array([0.1, 0.2, 2.0]),
        np.array([0.1, 0.25, 2.05]),
        np.array([0.2, 0.3, 0.1]),
        100,
        0.9,
        np.zeros((100, 3), np.float32),
    )
    out = to_detection_3d_array(
        Header(), [4, 9], {9: "cup"}, np.array([0.5, 0.7]), [LiftedObject.invalid(), valid]
    )
    (cup,) = out.detections
    assert cup.id == "9" and cup.results[0].hypothesis.class_id == "cup"
    assert cup.bbox.center.position.y == pytest.approx(0.25) and cup.bbox.center.orientation.w == 1
    assert (cup.bbox.size.x, cup.bbox.size.y, cup.bbox.size.z) == pytest.approx((0.2, 0.3, 0.1))
    assert cup.results[0].pose.pose.position.z == pytest.approx(2.0)


def test_a_detectors_box_reads_back_as_the_same_box():
    sent = box_detection((40.0, 35.0, 60.0, 45.0), "cup", 0.7, theta=0.25)
    (read,) = detection_message(Detection2DArray(detections=[sent])).detections
    assert (read.box, read.class_id, read.score, read.theta) == (
        (40.0, 35.0, 60.0, 45.0),
        "cup",
        pytest.approx(0.7),
        0.25,
    )
