"""A camera's output topics: lifecycle publishers under ``~/<camera>/``, reliable, depth 10."""

from __future__ import annotations

from typing import Any

from rclpy.lifecycle import LifecycleNode
from rclpy.qos import QoSProfile, ReliabilityPolicy

OUTPUT_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


class CameraPublishers:
    """Makes a camera's lifecycle publishers and removes them all together."""

    def __init__(self, node: LifecycleNode, camera: str) -> None:
        self._node, self._camera = node, camera
        self._publishers: list[Any] = []

    def create(self, msg_type: type, topic: str) -> Any:
        """A lifecycle publisher on ``~/<camera>/<topic>``."""
        publisher = self._node.create_lifecycle_publisher(
            msg_type, f"~/{self._camera}/{topic}", OUTPUT_QOS
        )
        self._publishers.append(publisher)
        return publisher

    def destroy(self) -> None:
        """Remove every publisher made here from the node."""
        for publisher in self._publishers:
            self._node.destroy_lifecycle_publisher(publisher)
        self._publishers.clear()
