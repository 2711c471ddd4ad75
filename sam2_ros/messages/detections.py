"""vision_msgs detections in and out: a detector's ``Detection2DArray`` as plain detections, and the
tracked objects as ``Detection2DArray`` / ``Detection3DArray`` with their ids (shared by the node
and the bag tool; messages may be rclpy or ``rosbags`` messages: only their fields are used)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from vision_msgs.msg import (
    BoundingBox2D,
    BoundingBox3D,
    Detection2D,
    Detection2DArray,
    Detection3D,
    Detection3DArray,
    ObjectHypothesisWithPose,
)

from sam2_ros.engine import TrackResult
from sam2_ros.geometry.boxes import mask_box
from sam2_ros.geometry.lifting import LiftedObject
from sam2_ros.tracking.association import Detection
from sam2_ros.tracking.detections import DetectionMessage
from sam2_ros.tracking.frame_stamps import stamp_ns


def detection_message(msg: Any) -> DetectionMessage:
    """A ``Detection2DArray`` as the stamp of the image it was computed on and its detections:
    each box as it is, with the best-scored hypothesis (a detection without one has class
    None, and is refused when it is used)."""
    detections = []
    for entry in msg.detections:
        center = entry.bbox.center
        best = max(entry.results, key=lambda r: r.hypothesis.score, default=None)
        detections.append(
            Detection(
                center_x=float(center.position.x),
                center_y=float(center.position.y),
                size_x=float(entry.bbox.size_x),
                size_y=float(entry.bbox.size_y),
                class_id=None if best is None else str(best.hypothesis.class_id),
                score=0.0 if best is None else float(best.hypothesis.score),
                theta=float(center.theta),
            )
        )
    return DetectionMessage(stamp_ns(msg.header.stamp), tuple(detections))


def box_detection(
    box: Sequence[float], class_id: str, score: float, theta: float = 0.0
) -> Detection2D:
    """A detector's ``Detection2D``: the box ``(x_min, y_min, x_max, y_max)`` in pixels (turned
    by ``theta``) with one hypothesis."""
    x0, y0, x1, y1 = (float(v) for v in box)
    bbox = BoundingBox2D(size_x=x1 - x0, size_y=y1 - y0)
    bbox.center.position.x, bbox.center.position.y = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    bbox.center.theta = float(theta)
    return Detection2D(bbox=bbox, results=[_hypothesis(class_id, score)])


def _hypothesis(label: str, score: float, position: Sequence[float] | None = None) -> Any:
    hypothesis = ObjectHypothesisWithPose()
    hypothesis.hypothesis.class_id, hypothesis.hypothesis.score = label, float(score)
    if position is not None:
        hypothesis.pose.pose = _pose(position)
    return hypothesis


def _pose(position: Sequence[float]) -> Pose:
    x, y, z = (float(v) for v in position)
    return Pose(position=Point(x=x, y=y, z=z), orientation=Quaternion(w=1.0))


def to_detection_array(
    header: Any, result: TrackResult, labels: dict[int, str]
) -> Detection2DArray:
    """One ``Detection2D`` per object with a non-empty mask, in the results' order: ``id`` the
    object id, ``bbox`` the mask's box (theta 0), one hypothesis: the label and the mask score."""
    detections = []
    for object_id, mask, score in zip(result.object_ids, result.masks, result.scores, strict=True):
        box = mask_box(mask)
        if box is None:
            continue
        detection = box_detection(box, labels.get(object_id, ""), score)
        detection.header, detection.id = header, str(object_id)
        detections.append(detection)
    return Detection2DArray(header=header, detections=detections)


def to_detection_3d_array(
    header: Any,
    object_ids: Sequence[int],
    labels: dict[int, str],
    scores: np.ndarray,
    lifted: Sequence[LiftedObject],
) -> Detection3DArray:
    """One ``Detection3D`` per object lifted into 3D (valid), in the given order: ``id`` the object
    id, ``bbox`` the lifted box (identity orientation), one hypothesis: the label and the mask
    score, posed at the centre of the visible surface."""
    detections = [
        Detection3D(
            header=header,
            id=str(object_id),
            bbox=BoundingBox3D(
                center=_pose(obj.bbox_center),
                size=Vector3(**dict(zip("xyz", map(float, obj.bbox_size), strict=True))),
            ),
            results=[_hypothesis(labels.get(object_id, ""), score, obj.position)],
        )
        for object_id, score, obj in zip(object_ids, scores, lifted, strict=True)
        if obj.valid
    ]
    return Detection3DArray(header=header, detections=detections)
