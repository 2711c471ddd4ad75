"""rviz2 "Publish Point" clicks: a 3D point projected into every camera whose image it falls in
starts an object there (through tf2 when the point is in another frame)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import rclpy
from geometry_msgs.msg import PointStamped
from rclpy.callback_groups import CallbackGroup
from rclpy.lifecycle import LifecycleNode

from sam2_ros.geometry.projection import project_to_pixel
from sam2_ros.node.camera_inputs import CLICK_MISMATCH_FIX, CLICK_QOS, describe_mismatch, subscribe
from sam2_ros.node.camera_pipeline import CameraPipeline
from sam2_ros.tracking.camera_session import EventSource

try:  # a ROS 2 install has tf2; without it rviz clicks must be in the camera's frame
    from tf2_geometry_msgs import do_transform_point
    from tf2_ros import Buffer, TransformException, TransformListener
except ImportError:
    Buffer = None


class RvizClicks:
    """The rviz click subscription of an active node."""

    def __init__(
        self,
        node: LifecycleNode,
        cameras: Callable[[], Iterable[CameraPipeline]],
        log_problem: Callable[[str, bool], None],
    ) -> None:
        self._node, self._cameras, self._log_problem = node, cameras, log_problem
        self._subscription: Any = None
        self._tf_buffer: Any = None
        self._tf_listener: Any = None

    def start(self, topic: str, group: CallbackGroup) -> None:
        """Listen on ``topic`` (on activate)."""
        if Buffer is not None:
            self._tf_buffer = Buffer()
            self._tf_listener = TransformListener(self._tf_buffer, self._node)
        self._subscription = subscribe(
            self._node,
            PointStamped,
            topic,
            self._on_click,
            CLICK_QOS,
            group,
            self._on_qos_mismatch,
        )

    def stop(self) -> None:
        """Stop listening (on deactivate)."""
        if self._subscription is not None:
            self._node.destroy_subscription(self._subscription)
            self._subscription = None
        self._tf_listener = self._tf_buffer = None

    def _on_click(self, msg: PointStamped) -> None:
        log = self._node.get_logger()
        for camera in self._cameras():
            info = camera.camera_info
            if info is None:
                log.info(
                    f"rviz click ignored for camera {camera.name}: no CameraInfo received on "
                    f"{camera.config.camera_info_topic or '(no camera_info topic)'}"
                )
                continue
            point = self._in_camera_frame(msg, info.header.frame_id, camera.name)
            if point is None:
                continue
            pixel = project_to_pixel(info.k, point.x, point.y, point.z)
            if pixel is None or not (0 <= pixel[0] < info.width and 0 <= pixel[1] < info.height):
                where = "behind the camera" if pixel is None else f"at pixel {pixel}"
                log.info(
                    f"rviz click ignored for camera {camera.name}: the point is {where}, "
                    f"outside its {info.width}x{info.height} image"
                )
                continue
            camera.click(pixel[0], pixel[1], EventSource.RVIZ_CLICK)

    def _on_qos_mismatch(self, subscription: Any) -> None:
        self._log_problem(describe_mismatch(self._node, subscription, CLICK_MISMATCH_FIX), False)

    def _in_camera_frame(self, msg: PointStamped, frame: str, camera: str) -> Any:
        if not msg.header.frame_id or msg.header.frame_id == frame:
            return msg.point
        log = self._node.get_logger()
        if self._tf_buffer is None:
            log.warning(
                f"rviz click in frame {msg.header.frame_id!r} ignored for camera {camera}: "
                f"tf2_ros is not available, so clicks must be in the camera frame {frame!r}"
            )
            return None
        try:
            transform = self._tf_buffer.lookup_transform(
                frame, msg.header.frame_id, rclpy.time.Time()
            )
        except TransformException as err:
            log.warning(f"rviz click ignored for camera {camera}: {err}")
            return None
        return do_transform_point(msg, transform).point
