"""A camera's registered depth: paired with each tracked frame, its objects lifted into 3D.

Depth images are buffered by stamp as they arrive; after a frame is tracked, the tracking thread
pairs it with the nearest depth image (waiting ``depth_wait`` for a late one), lifts every
object's mask with the camera's intrinsics, and publishes ``~/<camera>/objects_3d`` (always), and
``~/<camera>/markers``, ``~/<camera>/object_points`` and ``~/<camera>/detections_3d`` while
someone subscribes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sensor_msgs.msg import CameraInfo, PointCloud2
from vision_msgs.msg import Detection3DArray
from visualization_msgs.msg import MarkerArray

from sam2_ros.engine import TrackResult
from sam2_ros.geometry.lifting import LiftedObject
from sam2_ros.messages.detections import to_detection_3d_array
from sam2_ros.messages.objects_3d import (
    DepthError,
    lift_objects,
    to_marker_array,
    to_objects_3d_msg,
    to_point_cloud,
)
from sam2_ros.messages.serialized_images import SerializedImage
from sam2_ros.msg import Objects3D
from sam2_ros.node.camera_outputs import CameraPublishers
from sam2_ros.parameters.node_params import NodeParams
from sam2_ros.tracking.depth_pairing import DepthBuffer
from sam2_ros.tracking.frame_stamps import stamp_ns, stamp_text


class CameraDepth:
    """Depth pairing, lifting and the 3D publishers of one camera."""

    def __init__(
        self,
        publishers: CameraPublishers,
        camera: str,
        depth_topic: str,
        params: NodeParams,
        log_problem: Callable[[str, bool], None],
        count_unpaired: Callable[[], None],
    ) -> None:
        self.buffer = DepthBuffer(jump_tolerance=params.time_jumps.tolerance)
        self._camera, self._topic, self._params = camera, depth_topic, params
        self._log_problem = log_problem
        self._count_unpaired = count_unpaired
        self._objects = publishers.create(Objects3D, "objects_3d")
        self._markers = publishers.create(MarkerArray, "markers")
        self._points = publishers.create(PointCloud2, "object_points")
        self._detections = publishers.create(Detection3DArray, "detections_3d")
        self._shown: set[int] = set()

    def forget(self) -> None:
        """Drop buffered depth images and shown markers (on deactivate)."""
        self.buffer.clear()
        self._shown = set()

    def on_depth(self, image: SerializedImage) -> None:
        """A depth image arrived (subscription callback; deserialized when it is paired)."""
        self.buffer.add(image.stamp, image)

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
        if self._detections.get_subscription_count():
            self._detections.publish(
                to_detection_3d_array(header, ids, labels, result.scores, lifted)
            )

    def _lift(
        self, header: Any, result: TrackResult, camera_info: CameraInfo | None
    ) -> list[LiftedObject]:
        params = self._params
        stamp = stamp_ns(header.stamp)
        image = self.buffer.pair(stamp, int(params.depth_max_time_diff * 1e9), params.depth_wait)
        if image is None:
            self._count_unpaired()
            raise DepthError(
                f"no depth image on {self._topic} within {params.depth_max_time_diff} s of the "
                f"frame stamped {stamp_text(stamp)}: check that the depth topic publishes, is "
                "registered to this camera and stamped like its colour images (or raise "
                "depth_max_time_diff)"
            )
        return lift_objects(
            result.masks,
            image.message(),
            camera_info,
            params.depth_scale,
            params.depth_range,
            params.min_depth_points,
            self._topic,
        )
