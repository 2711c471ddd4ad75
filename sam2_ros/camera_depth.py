"""A camera's registered depth: paired with each tracked frame, its objects lifted into 3D.

Depth images are buffered by stamp as they arrive; after a frame is tracked, the tracking thread
pairs it with the nearest depth image (waiting ``depth_wait`` for a late one), lifts every
object's mask with the camera's intrinsics, and publishes ``~/<camera>/objects_3d`` (always), and
``~/<camera>/markers`` and ``~/<camera>/object_points`` while someone subscribes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from rclpy.lifecycle import LifecycleNode
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, PointCloud2
from visualization_msgs.msg import MarkerArray

from sam2_ros.conversions import ImageConversionError, depth_image_to_metres
from sam2_ros.depth_pairing import DepthBuffer
from sam2_ros.engine import TrackResult
from sam2_ros.frame_stamps import stamp_ns, stamp_text
from sam2_ros.lifting import LiftedObject, lift_all
from sam2_ros.msg import Objects3D
from sam2_ros.objects_3d_msgs import to_marker_array, to_objects_3d_msg, to_point_cloud
from sam2_ros.params import NodeParams

OUTPUT_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
#: Relative difference of width/height beyond which depth and colour cannot be registered.
ASPECT_TOLERANCE = 0.01


class DepthError(ValueError):
    """Why a frame's objects cannot be lifted (the message names the fix)."""


class CameraDepth:
    """Depth pairing, lifting and the 3D publishers of one camera."""

    def __init__(
        self,
        node: LifecycleNode,
        camera: str,
        depth_topic: str,
        params: NodeParams,
        log_problem: Callable[[str, bool], None],
        count_unpaired: Callable[[], None],
    ) -> None:
        self.buffer = DepthBuffer()
        self._node, self._camera, self._topic, self._params = node, camera, depth_topic, params
        self._log_problem = log_problem
        self._count_unpaired = count_unpaired
        self._objects = node.create_lifecycle_publisher(
            Objects3D, f"~/{camera}/objects_3d", OUTPUT_QOS
        )
        self._markers = node.create_lifecycle_publisher(
            MarkerArray, f"~/{camera}/markers", OUTPUT_QOS
        )
        self._points = node.create_lifecycle_publisher(
            PointCloud2, f"~/{camera}/object_points", OUTPUT_QOS
        )
        self._shown: set[int] = set()

    def destroy(self) -> None:
        """Remove the publishers (on cleanup)."""
        for publisher in (self._objects, self._markers, self._points):
            self._node.destroy_lifecycle_publisher(publisher)

    def forget(self) -> None:
        """Drop buffered depth images and shown markers (on deactivate)."""
        self.buffer.clear()
        self._shown = set()

    def on_depth(self, message: Any) -> None:
        """A depth image arrived (subscription callback)."""
        self.buffer.add(stamp_ns(message.header.stamp), message)

    def publish(
        self,
        header: Any,
        result: TrackResult,
        labels: dict[int, str],
        camera_info: CameraInfo | None,
    ) -> None:
        """Pair the tracked frame with its depth image, lift its objects, publish (tracking
        thread)."""
        params = self._params
        try:
            lifted = self._lift(header, result, camera_info)
        except DepthError as err:
            self._log_problem(f"camera {self._camera}: objects not lifted into 3D: {err}", False)
            lifted = [LiftedObject.invalid() for _ in result.object_ids]
        ids = result.object_ids
        self._objects.publish(to_objects_3d_msg(header, self._camera, ids, labels, lifted))
        if self._markers.get_subscription_count():
            markers, self._shown = to_marker_array(
                header, self._camera, ids, labels, lifted, self._shown
            )
            self._markers.publish(markers)
        if self._points.get_subscription_count():
            self._points.publish(to_point_cloud(header, ids, lifted, params.max_points_per_object))

    def _lift(
        self, header: Any, result: TrackResult, camera_info: CameraInfo | None
    ) -> list[LiftedObject]:
        params = self._params
        stamp = stamp_ns(header.stamp)
        message = self.buffer.pair(stamp, int(params.depth_max_time_diff * 1e9), params.depth_wait)
        if message is None:
            self._count_unpaired()
            raise DepthError(
                f"no depth image on {self._topic} within {params.depth_max_time_diff} s of the "
                f"frame stamped {stamp_text(stamp)}: check that the depth topic publishes, is "
                "registered to this camera and stamped like its colour images (or raise "
                "depth_max_time_diff)"
            )
        return lift_objects(
            result.masks,
            message,
            camera_info,
            params.depth_scale,
            params.depth_range,
            params.min_depth_points,
            self._topic,
        )


def lift_objects(
    masks: np.ndarray,
    depth_message: Any,
    camera_info: CameraInfo | None,
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
