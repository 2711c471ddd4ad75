"""Bags as the bag tests write and read them: a frame's header, the output topics and types, an
output bag's raw messages, and a recorder that subscribes as ``ros2 bag record`` does."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from sam2_ros.msg import ObjectMasks, ObjectPointers, OcclusionScores
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray

from sam2_ros.commands.bag.bag_io import sam2_ros_typestore

T0_NS = 1_700_000_000 * 10**9
PERIOD_NS = 100_000_000
#: The output topics of camera ``camera`` and their message types.
OUTPUT_TYPES = {
    "/sam2/camera/masks": ObjectMasks,
    "/sam2/camera/occlusion": OcclusionScores,
    "/sam2/camera/object_pointers": ObjectPointers,
    "/sam2/camera/label_image": Image,
    "/sam2/camera/detections": Detection2DArray,
}


def frame_header(index: int) -> Header:
    """The header of frame ``index`` (10 fps from T0, in the camera's optical frame)."""
    header = Header(frame_id="camera_optical_frame")
    stamp = T0_NS + index * PERIOD_NS
    header.stamp.sec, header.stamp.nanosec = divmod(stamp, 10**9)
    return header


def read_outputs(path: Path) -> dict[str, list[tuple[int, bytes]]]:
    """Raw (bag time, CDR bytes) per output topic."""
    outputs: dict[str, list] = {}
    with AnyReader([path], default_typestore=sam2_ros_typestore()) as reader:
        for connection, timestamp, raw in reader.messages():
            outputs.setdefault(connection.topic, []).append((timestamp, bytes(raw)))
    return outputs


def recorder_qos(node: Any, topic: str, timeout: float = 30.0) -> QoSProfile:
    """The QoS ``ros2 bag record`` subscribes with: reliable when every publisher of the topic
    offers reliable, transient local when every one offers it, else best effort and volatile
    (rosbag2's adaptation to the offered QoS); waits for the topic's publishers."""
    deadline = time.monotonic() + timeout
    while not (publishers := node.get_publishers_info_by_topic(topic)):
        assert time.monotonic() < deadline, f"no publisher of {topic} appeared"
        time.sleep(0.05)  # discovery has no event to wait on from Python
    offered = [p.qos_profile for p in publishers]
    reliable = all(q.reliability == ReliabilityPolicy.RELIABLE for q in offered)
    transient = all(q.durability == DurabilityPolicy.TRANSIENT_LOCAL for q in offered)
    return QoSProfile(
        depth=1000,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if transient else DurabilityPolicy.VOLATILE,
    )


class Recorder:
    """Records topics into an MCAP bag as ``ros2 bag record`` does: raw CDR bytes stamped with
    their receive time, each subscription with the QoS mirrored from its publishers."""

    def __init__(self, node: Any, topics: dict[str, type], path: Path) -> None:
        self._writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._node = node
        self._subscriptions = []
        typestore = sam2_ros_typestore()
        for topic, msg_type in topics.items():
            package = msg_type.__module__.split(".")[0]
            connection = self._writer.add_connection(
                topic, f"{package}/msg/{msg_type.__name__}", typestore=typestore
            )
            self._counts[topic] = 0
            subscription = node.create_subscription(
                msg_type,
                topic,
                lambda raw, c=connection, t=topic: self._write(c, t, raw),
                recorder_qos(node, topic),
                raw=True,
            )
            self._subscriptions.append(subscription)

    def _write(self, connection: Any, topic: str, raw: bytes) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.write(connection, time.time_ns(), raw)
                self._counts[topic] += 1

    def count(self, topic: str) -> int:
        """Messages recorded on ``topic`` so far."""
        with self._lock:
            return self._counts[topic]

    def close(self) -> None:
        """Finish the bag and unsubscribe (later messages are not recorded)."""
        with self._lock:
            self._writer.close()
            self._writer = None
        for subscription in self._subscriptions:
            self._node.destroy_subscription(subscription)


def wait_for_subscriptions(publisher: Any, count: int, timeout: float = 30.0) -> None:
    """Wait until ``publisher`` is matched with ``count`` subscriptions (a recorder and the node:
    DDS's matched event says only whether there is one)."""
    deadline = time.monotonic() + timeout
    while publisher.get_subscription_count() < count:
        assert time.monotonic() < deadline, f"{publisher.topic_name}: fewer than {count} matched"
        time.sleep(0.01)
