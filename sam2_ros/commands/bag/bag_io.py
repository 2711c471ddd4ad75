"""What the bag tool's parts share about bags: the message types read and written (and the
typestore that knows this package's and vision_msgs' types), opening a bag to read and one to
write, a camera's output connections and a frame's outputs written, and the errors that stop a
run with a message. ``sam2-ros bag``, its replay, ``sam2-ros bags`` and the benches use it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rclpy.serialization import serialize_message
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from sam2_ros.commands.bag.prompts import PromptsFileError
from sam2_ros.engine import CheckpointError, ModelConfigError, TrackResult
from sam2_ros.messages.detections import to_detection_array
from sam2_ros.messages.results import to_label_image_msg, to_tracking_msgs
from sam2_ros.paths import package_share

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
DETECTIONS_TYPE = "vision_msgs/msg/Detection2DArray"
OBJECTS_3D_TYPE = "sam2_ros/msg/Objects3D"
#: A camera's 2D outputs (``/sam2/<camera>/<name>``) by name.
OUTPUT_TYPES = {
    "masks": "sam2_ros/msg/ObjectMasks",
    "occlusion": "sam2_ros/msg/OcclusionScores",
    "object_pointers": "sam2_ros/msg/ObjectPointers",
    "label_image": "sensor_msgs/msg/Image",
    "detections": DETECTIONS_TYPE,
}
#: The ``--storage`` choices: the rosbag2 storage plugin an output bag is written with.
STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}


class BagError(RuntimeError):
    """The bag cannot be processed (missing topic, unsupported images, bad prompts file)."""


#: What stops a bag run with a message: bad options, a bad prompts file, an unusable bag or model.
RUN_ERRORS = (BagError, PromptsFileError, CheckpointError, ModelConfigError, ValueError)


def sam2_ros_typestore() -> Any:
    """The ROS 2 message types plus this package's and vision_msgs', from their installed ``msg/``
    files."""
    typestore = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for package in ("sam2_ros", "vision_msgs"):
        share = package_share(package)
        msg_dir = share / "msg" if share is not None else None
        if msg_dir is None or not msg_dir.is_dir():
            raise BagError(f"cannot find {package}'s msg/ folder to register its message types")
        for msg_file in sorted(msg_dir.glob("*.msg")):
            types.update(get_types_from_msg(msg_file.read_text(), f"{package}/msg/{msg_file.stem}"))
    typestore.register(types)
    return typestore


def open_reader(source: Path, typestore: Any) -> AnyReader:
    """The bag ``source`` opened for reading (BagError when it cannot be: the caller closes it)."""
    try:
        reader = AnyReader([source], default_typestore=typestore)
        reader.open()
    except Exception as err:  # rosbags raises several reader errors for unusable inputs
        raise BagError(f"cannot open bag {source}: {err}") from err
    return reader


def open_writer(output: Path, storage: str) -> Writer:
    """A new bag ``output`` in ``storage`` (``mcap`` or ``sqlite3``), to use as a context."""
    return Writer(output, version=9, storage_plugin=STORAGES[storage])


def output_connections(
    writer: Any, typestore: Any, camera_name: str, depth: bool = False
) -> dict[str, Any]:
    """A camera's output connections in ``writer``, by name (``masks``, ...)."""
    types = OUTPUT_TYPES | ({"objects_3d": OBJECTS_3D_TYPE} if depth else {})
    return {
        name: writer.add_connection(f"/sam2/{camera_name}/{name}", msgtype, typestore=typestore)
        for name, msgtype in types.items()
    }


def write_outputs(
    writer: Any,
    connections: dict[str, Any],
    when: tuple[Any, int],
    camera_name: str,
    result: TrackResult,
    labels: dict[int, str],
    occlusion_threshold: float,
) -> dict[str, Any]:
    """Write a frame's 2D outputs (``when``: its header and bag time), as the node publishes
    them; the messages by name."""
    header, timestamp = when
    messages = to_tracking_msgs(header, camera_name, result, labels, occlusion_threshold)
    messages["label_image"] = to_label_image_msg(header, result)
    messages["detections"] = to_detection_array(header, result, labels)
    for name, message in messages.items():
        writer.write(connections[name], timestamp, serialize_message(message))
    return messages
