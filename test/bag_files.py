"""Bags as the bag tests write and read them: a frame's header, the output topics and types, and
an output bag's raw messages."""

from __future__ import annotations

from pathlib import Path

from rosbags.highlevel import AnyReader
from sam2_ros.msg import ObjectMasks, ObjectPointers, OcclusionScores
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray

from sam2_ros.commands.bag.command import sam2_ros_typestore

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
