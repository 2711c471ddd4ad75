"""Objects in 3D from and to messages: masks lifted with a depth Image and a CameraInfo, and the
results as ``sam2_ros/Objects3D``, rviz markers and a labelled point cloud.

Shared by the node and the bag tool; the geometry comes from :mod:`sam2_ros.geometry.lifting`.
"""

from __future__ import annotations

import array
from collections.abc import Sequence
from typing import Any

import numpy as np
from geometry_msgs.msg import Point, Vector3
from sensor_msgs.msg import PointCloud2, PointField
from visualization_msgs.msg import Marker, MarkerArray

from sam2_ros.geometry.lifting import LiftedObject, lift_all, subsample
from sam2_ros.messages.images import ImageConversionError, depth_image_to_metres
from sam2_ros.msg import Object3D, Objects3D
from sam2_ros.overlay import object_color

MARKER_ALPHA = 0.4
MIN_MARKER_SIZE_M = 0.005  # rviz does not draw a box with a zero side
TEXT_HEIGHT_M = 0.05
_CLOUD_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("object_id", "<u4")])
#: Relative difference of width/height beyond which depth and colour cannot be registered.
ASPECT_TOLERANCE = 0.01


class DepthError(ValueError):
    """Why a frame's objects cannot be lifted (the message names the fix)."""


def lift_objects(
    masks: np.ndarray,
    depth_message: Any,
    camera_info: Any,
    depth_scale: float,
    depth_range: tuple[float, float],
    min_points: int,
    depth_topic: str,
) -> list[LiftedObject]:
    """Every mask (``(N, H, W)`` at the colour resolution) lifted with a registered depth image and
    the colour camera's CameraInfo; :class:`DepthError` naming the fix when they cannot be."""
    if camera_info is None:
        raise DepthError("no CameraInfo received yet: check camera_info_topics")
    k = np.array(camera_info.k, dtype=np.float64).reshape(3, 3)
    if k[0, 0] <= 0.0 or k[1, 1] <= 0.0 or not camera_info.width or not camera_info.height:
        raise DepthError(
            f"CameraInfo has no usable intrinsics (fx={k[0, 0]}, fy={k[1, 1]}, "
            f"{camera_info.width}x{camera_info.height}): calibrate the camera"
        )
    try:
        depth = depth_image_to_metres(depth_message, depth_scale)
    except ImageConversionError as err:
        raise DepthError(f"{depth_topic}: {err}") from err
    height, width = masks.shape[1:]
    depth_height, depth_width = depth.shape
    if abs(depth_width * height / (depth_height * width) - 1.0) > ASPECT_TOLERANCE:
        raise DepthError(
            f"depth on {depth_topic} is {depth_width}x{depth_height} but the colour image is "
            f"{width}x{height}: a registered depth image has the colour image's aspect ratio "
            "(use the depth topic aligned to the colour camera)"
        )
    return lift_all(
        masks, depth, k, (camera_info.width, camera_info.height), depth_range, min_points
    )


def to_objects_3d_msg(
    header: Any,
    camera_name: str,
    object_ids: Sequence[int],
    labels: dict[int, str],
    lifted: Sequence[LiftedObject],
) -> Objects3D:
    """One ``Object3D`` per tracked object, in the given order."""
    objects = []
    for object_id, obj in zip(object_ids, lifted, strict=True):
        objects.append(
            Object3D(
                object_id=object_id,
                label=labels.get(object_id, ""),
                position=Point(**dict(zip("xyz", map(float, obj.position), strict=True))),
                bbox_center=Point(**dict(zip("xyz", map(float, obj.bbox_center), strict=True))),
                bbox_size=Vector3(**dict(zip("xyz", map(float, obj.bbox_size), strict=True))),
                num_points=obj.num_points,
                depth_coverage=float(obj.depth_coverage),
                valid=obj.valid,
            )
        )
    return Objects3D(header=header, camera_name=camera_name, objects=objects)


def _marker(header: Any, namespace: str, marker_id: int, kind: int) -> Marker:
    return Marker(header=header, ns=namespace, id=marker_id, type=kind, action=Marker.ADD)


def to_marker_array(
    header: Any,
    camera_name: str,
    object_ids: Sequence[int],
    labels: dict[int, str],
    lifted: Sequence[LiftedObject],
    shown: set[int],
) -> tuple[MarkerArray, set[int]]:
    """A box (the object's overlay colour, alpha 0.4) and a label per valid object, and deletions
    for the objects in ``shown`` that are gone; the markers and the objects now shown."""
    markers, now = [], set()
    for object_id, obj in zip(object_ids, lifted, strict=True):
        if not obj.valid:
            continue
        now.add(object_id)
        blue, green, red = object_color(object_id)
        cube = _marker(header, camera_name, 2 * object_id, Marker.CUBE)
        cube.pose.position = Point(**dict(zip("xyz", map(float, obj.bbox_center), strict=True)))
        cube.pose.orientation.w = 1.0
        size = np.maximum(obj.bbox_size, MIN_MARKER_SIZE_M)
        cube.scale = Vector3(**dict(zip("xyz", map(float, size), strict=True)))
        cube.color.r, cube.color.g, cube.color.b = red / 255.0, green / 255.0, blue / 255.0
        cube.color.a = MARKER_ALPHA
        text = _marker(header, camera_name, 2 * object_id + 1, Marker.TEXT_VIEW_FACING)
        text.pose.position = Point(
            x=float(obj.bbox_center[0]),
            y=float(obj.bbox_center[1] - obj.bbox_size[1] / 2.0 - TEXT_HEIGHT_M),
            z=float(obj.bbox_center[2]),
        )
        text.pose.orientation.w = 1.0
        text.scale.z = TEXT_HEIGHT_M
        text.color.r = text.color.g = text.color.b = text.color.a = 1.0
        text.text = f"#{object_id} {labels.get(object_id, '')}".strip()
        markers += [cube, text]
    for object_id in sorted(shown - now):
        for marker_id in (2 * object_id, 2 * object_id + 1):
            gone = _marker(header, camera_name, marker_id, Marker.CUBE)
            gone.action = Marker.DELETE
            markers.append(gone)
    return MarkerArray(markers=markers), now


def to_point_cloud(
    header: Any,
    object_ids: Sequence[int],
    lifted: Sequence[LiftedObject],
    limit: int,
) -> PointCloud2:
    """The valid objects' surface points (at most ``limit`` each, evenly subsampled) as a
    ``PointCloud2`` with fields x, y, z (float32) and object_id (uint32)."""
    parts = []
    for object_id, obj in zip(object_ids, lifted, strict=True):
        if not obj.valid:
            continue
        points = subsample(obj.points, limit)
        part = np.empty(len(points), _CLOUD_DTYPE)
        part["x"], part["y"], part["z"] = points[:, 0], points[:, 1], points[:, 2]
        part["object_id"] = object_id
        parts.append(part)
    cloud = np.concatenate(parts) if parts else np.empty(0, _CLOUD_DTYPE)
    fields = [
        PointField(name=name, offset=_CLOUD_DTYPE.fields[name][1], datatype=kind, count=1)
        for name, kind in (
            ("x", PointField.FLOAT32),
            ("y", PointField.FLOAT32),
            ("z", PointField.FLOAT32),
            ("object_id", PointField.UINT32),
        )
    ]
    msg = PointCloud2(
        header=header,
        height=1,
        width=len(cloud),
        fields=fields,
        is_bigendian=False,
        point_step=_CLOUD_DTYPE.itemsize,
        row_step=_CLOUD_DTYPE.itemsize * len(cloud),
        is_dense=True,
    )
    msg.data = array.array("B", cloud.tobytes())
    return msg
