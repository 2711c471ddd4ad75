"""Tracking results as messages: masks, occlusion scores, object pointers and the label image of
a :class:`~sam2_ros.engine.TrackResult` (the node publishes and the bag tool writes exactly
these)."""

from __future__ import annotations

import array
from typing import Any

import numpy as np
from sensor_msgs.msg import Image, RegionOfInterest

from sam2_ros.engine import TrackResult
from sam2_ros.geometry.boxes import mask_box
from sam2_ros.messages.images import array_to_image_msg
from sam2_ros.msg import ObjectMask, ObjectMasks, ObjectPointers, OcclusionScores


def mask_roi(mask: np.ndarray) -> RegionOfInterest:
    """The tight box around a binary mask (all zero for an empty mask)."""
    box = mask_box(mask)
    if box is None:
        return RegionOfInterest()
    x0, y0, x1, y1 = (int(v) for v in box)
    return RegionOfInterest(x_offset=x0, y_offset=y0, width=x1 - x0, height=y1 - y0)


def to_object_masks_msg(
    header: Any, camera_name: str, result: TrackResult, labels: dict[int, str]
) -> ObjectMasks:
    """One mono8 mask (255 inside) per object at the source resolution."""
    objects = []
    for row, object_id in enumerate(result.object_ids):
        mask = result.masks[row]
        objects.append(
            ObjectMask(
                object_id=object_id,
                label=labels.get(object_id, ""),
                score=float(result.scores[row]),
                roi=mask_roi(mask),
                mask=array_to_image_msg(mask.view(np.uint8) * np.uint8(255), "mono8", header),
            )
        )
    return ObjectMasks(header=header, camera_name=camera_name, objects=objects)


def to_occlusion_msg(
    header: Any, camera_name: str, result: TrackResult, threshold: float
) -> OcclusionScores:
    """Per-object probability of not being visible, and whether it exceeds ``threshold``."""
    scores = result.occlusion_scores.astype(np.float32)
    return OcclusionScores(
        header=header,
        camera_name=camera_name,
        object_ids=result.object_ids,
        occlusion_scores=scores.tolist(),
        occluded=(scores > threshold).tolist(),
    )


def to_object_pointers_msg(header: Any, camera_name: str, result: TrackResult) -> ObjectPointers:
    """The object pointers, row-major."""
    pointers = result.object_pointers.astype(np.float32)
    msg = ObjectPointers(header=header, camera_name=camera_name, object_ids=result.object_ids)
    msg.dim = pointers.shape[1]
    msg.data = array.array("f", pointers.tobytes())
    return msg


def to_tracking_msgs(
    header: Any,
    camera_name: str,
    result: TrackResult,
    labels: dict[int, str],
    occlusion_threshold: float,
) -> dict[str, Any]:
    """The messages every processed frame yields, by output name (masks, occlusion,
    object_pointers); the node and the bag tool publish/write exactly these."""
    return {
        "masks": to_object_masks_msg(header, camera_name, result, labels),
        "occlusion": to_occlusion_msg(header, camera_name, result, occlusion_threshold),
        "object_pointers": to_object_pointers_msg(header, camera_name, result),
    }


def label_image(result: TrackResult) -> np.ndarray:
    """``HxW`` uint16: each pixel the id of the object covering it (later objects on top), 0
    for background."""
    labels = np.zeros(result.masks.shape[1:], np.uint16)
    for row, object_id in enumerate(result.object_ids):
        labels[result.masks[row]] = object_id
    return labels


def to_label_image_msg(header: Any, result: TrackResult) -> Image:
    """The label image as ``mono16`` (view it in rviz2 with a colour map)."""
    return array_to_image_msg(label_image(result), "mono16", header)
