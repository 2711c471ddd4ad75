"""A camera's input subscriptions: images whose reliability follows the camera, clicks, CameraInfo,
registered depth and a detector's detections.

Every input reports publishers whose QoS cannot connect to it; image subscriptions also report
publishers that are connected but deliver nothing (camera-sized images lost by DDS).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from geometry_msgs.msg import Point
from rclpy.callback_groups import CallbackGroup
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from vision_msgs.msg import Detection2DArray

from sam2_ros.messages.serialized_images import received_image
from sam2_ros.node.input_qos import (
    NO_FRAMES_WARNING_S,
    image_mismatch_fix,
    image_qos,
    incompatible_publishers,
    mismatch_message,
    no_frames_message,
)
from sam2_ros.parameters.node_params import CameraConfig, NodeParams
from sam2_ros.topics import mouse_topics
from sam2_ros.tracking.camera_session import EventSource

#: rqt_image_view and rviz2 publish clicks reliably (rclcpp's default QoS).
CLICK_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
CLICK_MISMATCH_FIX = "publish clicks reliably and volatile (as rqt_image_view and rviz2 do)"
#: Detections: best effort connects to reliable and best-effort detectors alike (they are small
#: messages, which DDS delivers whole); a few may queue while the callback runs.
DETECTION_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)

#: Reports an input problem in one line (logged, throttled, and shown on /diagnostics).
ProblemReport = Callable[[str], None]
#: Handles a click at a pixel: (x, y, source).
ClickHandler = Callable[[float, float, str], None]


def subscribe(
    node: Node,
    msg_type: type,
    topic: str,
    callback: Callable[[Any], None],
    qos: QoSProfile,
    group: CallbackGroup | None,
    on_incompatible: Callable[[Any], None],
    raw: bool = False,
) -> Any:
    """``create_subscription``, calling ``on_incompatible(subscription)`` when a publisher whose
    QoS cannot connect to it appears (``raw``: the callback gets the serialized message)."""
    holder: list[Any] = []
    events = SubscriptionEventCallbacks(incompatible_qos=lambda _: on_incompatible(holder[0]))
    holder.append(
        node.create_subscription(
            msg_type, topic, callback, qos, callback_group=group, event_callbacks=events, raw=raw
        )
    )
    return holder[0]


def describe_mismatch(node: Node, subscription: Any, fix: str) -> str:
    """The QoS mismatch of a subscription's topic, in one line with its fix."""
    requested = subscription.qos_profile
    offered = [
        info.qos_profile for info in node.get_publishers_info_by_topic(subscription.topic_name)
    ]
    incompatible = incompatible_publishers(requested, offered) or offered
    return mismatch_message(subscription.topic_name, requested, incompatible, fix)


class ImageSubscription:
    """Camera-sized images on one topic, with the QoS the camera needs, handed on serialized
    (:class:`~sam2_ros.messages.serialized_images.SerializedImage`: only the frames tracked are
    deserialized, on the tracking thread).

    With ``image_reliability: auto`` the subscription is reliable while every publisher offers
    reliable, else best effort; when that changes it is replaced, the old one kept until the next
    check so no frame is lost (a frame arriving on both is passed on once). :meth:`check` (called
    periodically) does that and reports publishers that are connected but deliver nothing.
    """

    def __init__(
        self,
        node: Node,
        msg_type: type,
        topic: str,
        callback: Callable[[Any], None],
        params: NodeParams,
        group: CallbackGroup | None,
        report: ProblemReport,
    ) -> None:
        self._node, self._msg_type, self._topic = node, msg_type, topic
        self._callback, self._params, self._group, self._report = callback, params, group, report
        self._subscription: Any = None
        self._replaced: list[Any] = []
        self._last_header: tuple | None = None
        self.last_received = float("-inf")  # time.monotonic() of the last message
        self._connected_since: float | None = None
        self._warned_silent = False
        self.check()

    @property
    def qos(self) -> QoSProfile:
        """The QoS subscribed with now."""
        return self._subscription.qos_profile

    def destroy(self) -> None:
        """Unsubscribe."""
        for subscription in (*self._replaced, self._subscription):
            self._node.destroy_subscription(subscription)
        self._replaced.clear()

    def check(self) -> None:
        """Follow the publishers' reliability; report connected publishers that send nothing."""
        for subscription in self._replaced:
            self._node.destroy_subscription(subscription)
        self._replaced.clear()
        topic = self._subscription.topic_name if self._subscription else self._topic
        offered = [info.qos_profile for info in self._node.get_publishers_info_by_topic(topic)]
        params = self._params
        wanted = image_qos(params.image_reliability, params.drop_frames, params.queue_size, offered)
        if self._subscription is None or wanted != self.qos:
            if self._subscription is not None:
                self._replaced.append(self._subscription)
            self._subscription = subscribe(
                self._node,
                self._msg_type,
                self._topic,
                self._on_message,
                wanted,
                self._group,
                self._on_incompatible,
                raw=True,
            )
        connected = len(offered) - len(incompatible_publishers(self.qos, offered))
        now = time.monotonic()
        if connected == 0 or self.last_received > (self._connected_since or now):
            self._connected_since = now if connected else None
            self._warned_silent = False
            return
        if self._connected_since is None:
            self._connected_since = now
        silent_for = now - self._connected_since
        if silent_for >= NO_FRAMES_WARNING_S and not self._warned_silent:
            self._warned_silent = True
            self._report(
                no_frames_message(self._subscription.topic_name, self.qos, connected, silent_for)
            )

    def _on_message(self, data: bytes) -> None:
        image = received_image(data, self._msg_type)
        header = (image.stamp, image.frame_id)
        if self._replaced and header == self._last_header:
            return  # the same frame through the subscription being replaced
        self._last_header = header
        self.last_received = time.monotonic()
        self._callback(image)

    def _on_incompatible(self, subscription: Any) -> None:
        if self._params.drop_frames and self._params.image_reliability == "auto":
            return  # check() follows the new publisher's reliability
        fix = image_mismatch_fix(self._params.drop_frames)
        self._report(describe_mismatch(self._node, subscription, fix))


class CameraInputs:
    """What one camera listens to while the node is active: its images and registered depth
    images (problems go to ``report``), clicks on its image or overlay, its CameraInfo and its
    detector's detections (problems go to ``log``)."""

    def __init__(
        self,
        node: Node,
        config: CameraConfig,
        params: NodeParams,
        group: CallbackGroup | None,
        report: ProblemReport,
        log: ProblemReport,
        on_image: Callable[[Any], None],
        on_click: ClickHandler,
        on_camera_info: Callable[[CameraInfo], None],
        on_depth: Callable[[Any], None] | None = None,
        on_detections: Callable[[Any], None] | None = None,
    ) -> None:
        self._node, self._group, self._log = node, group, log
        self._subscriptions: list[Any] = []
        self.images = ImageSubscription(
            node,
            CompressedImage if config.compressed else Image,
            config.image_topic,
            on_image,
            params,
            group,
            report,
        )
        self.depth = (
            ImageSubscription(node, Image, config.depth_topic, on_depth, params, group, report)
            if config.depth_topic and on_depth is not None
            else None
        )
        clicks = [(topic, EventSource.IMAGE_CLICK) for topic in config.click_topics]
        if params.overlay_clicks:
            overlay = mouse_topics(f"~/{config.name}/overlay")
            clicks += [(topic, EventSource.OVERLAY_CLICK) for topic in overlay]
        for topic, source in clicks:
            self._listen(
                Point,
                topic,
                lambda msg, source=source: on_click(msg.x, msg.y, source),
                CLICK_QOS,
                CLICK_MISMATCH_FIX,
            )
        if config.camera_info_topic:
            self._listen(
                CameraInfo,
                config.camera_info_topic,
                on_camera_info,
                qos_profile_sensor_data,
                "publish CameraInfo volatile, as camera drivers do",
            )
        if config.detection_topic and on_detections is not None:
            self._listen(
                Detection2DArray,
                config.detection_topic,
                on_detections,
                DETECTION_QOS,
                "publish detections volatile, reliable or best effort",
            )

    def check(self) -> None:
        """Periodic: image reliability and silent publishers."""
        self.images.check()
        if self.depth is not None:
            self.depth.check()

    def destroy(self) -> None:
        """Unsubscribe everything."""
        self.images.destroy()
        if self.depth is not None:
            self.depth.destroy()
        for subscription in self._subscriptions:
            self._node.destroy_subscription(subscription)
        self._subscriptions.clear()

    def _listen(
        self,
        msg_type: type,
        topic: str,
        callback: Callable[[Any], None],
        qos: QoSProfile,
        fix: str,
    ) -> None:
        def on_incompatible(subscription: Any) -> None:
            self._log(describe_mismatch(self._node, subscription, fix))

        self._subscriptions.append(
            subscribe(self._node, msg_type, topic, callback, qos, self._group, on_incompatible)
        )
