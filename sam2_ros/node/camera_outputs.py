"""A camera's output topics: lifecycle publishers under ``~/<camera>/``, reliable, depth 10."""

from __future__ import annotations

from typing import Any

from rclpy.event_handler import PublisherEventCallbacks
from rclpy.lifecycle import LifecycleNode
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

OUTPUT_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
#: ``~/<camera>/events``: reliable and deep, so that a recorder keeps every change to the objects.
EVENTS_QOS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
#: ``~/session``: one message, kept for recorders that subscribe later.
SESSION_QOS = QoSProfile(
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
#: No QoS event handlers on outputs: rclpy's defaults only log incompatible subscribers, which
#: their own node reports as well, and every handler is one more entity the executor's Python
#: loop walks through for every message the node receives.
NO_PUBLISHER_EVENTS = PublisherEventCallbacks(use_default_callbacks=False)


class CameraPublishers:
    """Makes a camera's lifecycle publishers and removes them all together."""

    def __init__(self, node: LifecycleNode, camera: str) -> None:
        self._node, self._camera = node, camera
        self._publishers: list[Any] = []

    def create(self, msg_type: type, topic: str, qos: QoSProfile = OUTPUT_QOS) -> Any:
        """A lifecycle publisher on ``~/<camera>/<topic>``."""
        publisher = self._node.create_lifecycle_publisher(
            msg_type, f"~/{self._camera}/{topic}", qos, event_callbacks=NO_PUBLISHER_EVENTS
        )
        self._publishers.append(publisher)
        return publisher

    def destroy(self) -> None:
        """Remove every publisher made here from the node."""
        for publisher in self._publishers:
            self._node.destroy_lifecycle_publisher(publisher)
        self._publishers.clear()
