"""``sam2-ros bag``: run the engine over every frame of a recorded bag and write a bag of results.

Reads ROS 2 bags (sqlite3 ``.db3`` or ``.mcap``) with ``rosbags``; writes ``/sam2/<camera>/masks``,
``/occlusion``, ``/object_pointers`` and ``/label_image``, one message per input frame, stamped with
the input header and logged at the input's bag time. The messages are built by the same
conversions the node uses and serialised with rclpy, so a replay through the live node and this
tool produce the same bytes for the same frames.
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rclpy.serialization import serialize_message
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from tqdm import tqdm

from sam2_ros.engine import (
    DEFAULT_MODEL_CFG,
    CheckpointError,
    ModelConfigError,
    PromptError,
    StreamingPredictor,
    TrackResult,
)
from sam2_ros.geometry.lifting import LiftedObject
from sam2_ros.messages.images import ImageConversionError, message_to_rgb, ros_header
from sam2_ros.messages.objects_3d import DepthError, lift_objects, to_objects_3d_msg
from sam2_ros.messages.results import to_label_image_msg, to_tracking_msgs
from sam2_ros.paths import package_share
from sam2_ros.tracking.depth_pairing import DepthBuffer
from sam2_ros.tracking.frame_stamps import stamp_ns, stamp_text
from sam2_ros.tracking.parameters import image_topic_base

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
OBJECTS_3D_TYPE = "sam2_ros/msg/Objects3D"
OUTPUT_TYPES = {
    "masks": "sam2_ros/msg/ObjectMasks",
    "occlusion": "sam2_ros/msg/OcclusionScores",
    "object_pointers": "sam2_ros/msg/ObjectPointers",
    "label_image": "sensor_msgs/msg/Image",
}


class BagError(RuntimeError):
    """The bag cannot be processed (missing topic, unsupported images, bad prompts file)."""


@dataclass
class BagPrompt:
    """One prompt from the prompts file, applied after tracking its frame."""

    entry: int  # position in the file, for error messages
    frame: int | None
    time_ns: int | None
    object_id: int | None
    label: str
    points: list | None
    labels: list | None
    box: list | None
    applied: bool = field(default=False)

    def due(self, frame: int, time_ns: int) -> bool:
        """Whether this prompt applies to the frame just tracked."""
        if self.applied:
            return False
        return frame == self.frame if self.frame is not None else time_ns >= self.time_ns


def load_prompts(path: Path) -> list[BagPrompt]:
    """Parse a prompts YAML file (format: config/bag_prompts.yaml)."""
    try:
        content = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise BagError(f"cannot read prompts file {path}: {err}") from err
    entries = content.get("prompts") if isinstance(content, dict) else None
    if not isinstance(entries, list):
        raise BagError(f"prompts file {path} must hold a list under 'prompts:'")
    prompts = []
    for index, entry in enumerate(entries):
        where = f"prompts file {path}, entry {index}"
        if not isinstance(entry, dict) or ("frame" in entry) == ("time" in entry):
            raise BagError(f"{where}: give exactly one of 'frame' (index) or 'time' (seconds)")
        unknown = set(entry) - {"frame", "time", "object_id", "label", "points", "labels", "box"}
        if unknown:
            raise BagError(f"{where}: unknown keys {sorted(unknown)}")
        prompts.append(
            BagPrompt(
                entry=index,
                frame=int(entry["frame"]) if "frame" in entry else None,
                time_ns=round(float(entry["time"]) * 1e9) if "time" in entry else None,
                object_id=entry.get("object_id"),
                label=str(entry.get("label", "")),
                points=entry.get("points"),
                labels=entry.get("labels"),
                box=entry.get("box"),
            )
        )
    return prompts


def sam2_ros_typestore() -> Any:
    """The ROS 2 message types plus this package's own, from its installed ``msg/`` files."""
    typestore = get_typestore(Stores.ROS2_KILTED)
    share = package_share()
    msg_dir = share / "msg" if share is not None else None
    if msg_dir is None or not msg_dir.is_dir():
        raise BagError("cannot find sam2_ros's msg/ folder to register its message types")
    types = {}
    for msg_file in sorted(msg_dir.glob("*.msg")):
        types.update(get_types_from_msg(msg_file.read_text(), f"sam2_ros/msg/{msg_file.stem}"))
    typestore.register(types)
    return typestore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``sam2-ros bag``."""
    parser.add_argument("input", type=Path, help="input ROS 2 bag (folder, .db3 or .mcap)")
    parser.add_argument("output", type=Path, help="output bag folder (must not exist)")
    parser.add_argument("--image-topic", required=True, help="Image or CompressedImage topic")
    parser.add_argument("--prompts", type=Path, help="prompts YAML (see config/bag_prompts.yaml)")
    parser.add_argument("--camera-name", default="camera", help="name in output topics")
    parser.add_argument("--model-cfg", default=DEFAULT_MODEL_CFG, help="SAM 2 config")
    parser.add_argument("--checkpoint", type=Path, help="SAM 2 .pt checkpoint")
    parser.add_argument("--image-size", type=int, help="SAM 2 resolution (default: model's)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument(
        "--allow-random-weights", action="store_true", help="no checkpoint (tests only)"
    )
    parser.add_argument(
        "--storage", choices=["mcap", "sqlite3"], default="mcap", help="output storage format"
    )
    parser.add_argument("--occlusion-threshold", type=float, default=0.5)
    parser.add_argument(
        "--depth-topic", help="registered depth Image topic: also write /sam2/<camera>/objects_3d"
    )
    parser.add_argument(
        "--camera-info-topic",
        help="CameraInfo of the colour camera (default: the image topic's sibling camera_info)",
    )
    parser.add_argument("--depth-scale", type=float, default=0.001, help="metres per 16UC1 unit")
    parser.add_argument(
        "--depth-max-time-diff", type=float, default=0.02, help="pairing tolerance, seconds"
    )
    parser.add_argument(
        "--depth-range", type=float, nargs=2, default=[0.1, 10.0], help="valid depth, metres"
    )
    parser.add_argument("--min-depth-points", type=int, default=20)


def run(args: argparse.Namespace) -> int:
    """Process the bag; 0 on success, 1 with a message on failure (and no partial output)."""
    if args.output.exists():
        print(f"sam2-ros bag: {args.output} exists already; choose a new output path")
        return 1
    try:
        prompts = load_prompts(args.prompts) if args.prompts else []
        predictor = StreamingPredictor(
            args.model_cfg,
            args.checkpoint,
            args.device,
            args.image_size,
            args.allow_random_weights,
        )
        summary = annotate(args, predictor, prompts)
    except (BagError, CheckpointError, ModelConfigError) as err:
        if args.output.exists():
            shutil.rmtree(args.output)
        print(f"sam2-ros bag: {err}\nno output written")
        return 1
    print(
        f"sam2-ros bag: {summary['frames']} frames of {args.image_topic} in "
        f"{summary['seconds']:.1f} s ({summary['frames'] / max(summary['seconds'], 1e-9):.2f} "
        f"fps), {summary['skipped']} corrupt frames skipped, objects {summary['objects']}; "
        f"wrote {args.output} ({', '.join(summary['topics'])})"
    )
    return 0


def annotate(args: argparse.Namespace, predictor: StreamingPredictor, prompts: list) -> dict:
    """Track every frame of the image topic in order and write the results bag."""
    typestore = sam2_ros_typestore()
    try:
        reader = AnyReader([args.input], default_typestore=typestore)
        reader.open()
    except Exception as err:  # rosbags raises several reader errors for unusable inputs
        raise BagError(f"cannot open bag {args.input}: {err}") from err
    try:
        connections = [c for c in reader.connections if c.topic == args.image_topic]
        if not connections or connections[0].msgtype not in IMAGE_TYPES:
            images = [c.topic for c in reader.connections if c.msgtype in IMAGE_TYPES]
            raise BagError(
                f"topic {args.image_topic} with Image or CompressedImage messages is not in "
                f"{args.input}; image topics there: {images or 'none'}"
            )
        depth = _depth_connections(args, reader) if args.depth_topic else []
        storage = StoragePlugin.MCAP if args.storage == "mcap" else StoragePlugin.SQLITE3
        with Writer(args.output, version=9, storage_plugin=storage) as writer:
            types = OUTPUT_TYPES | ({"objects_3d": OBJECTS_3D_TYPE} if depth else {})
            outputs = {
                name: writer.add_connection(
                    f"/sam2/{args.camera_name}/{name}", msgtype, typestore=typestore
                )
                for name, msgtype in types.items()
            }
            lifter = BagLifter(args, writer, outputs.get("objects_3d")) if depth else None
            counts = _track_messages(
                args, reader, connections + depth, predictor, prompts, writer, outputs, lifter
            )
    finally:
        reader.close()
    missing = [p.entry for p in prompts if not p.applied]
    if missing:
        raise BagError(f"prompts file entries {missing} name frames or times not in the bag")
    return {**counts, "topics": [c.topic for c in outputs.values()]}


def _depth_connections(args: argparse.Namespace, reader: Any) -> list:
    """The depth and CameraInfo connections of the bag (BagError naming what is there)."""
    info_topic = args.camera_info_topic or (
        image_topic_base(args.image_topic).rsplit("/", 1)[0] + "/camera_info"
    )
    found = []
    for topic, msgtype in ((args.depth_topic, IMAGE_TYPES[0]), (info_topic, CAMERA_INFO_TYPE)):
        matching = [c for c in reader.connections if c.topic == topic and c.msgtype == msgtype]
        if not matching:
            there = sorted(c.topic for c in reader.connections if c.msgtype == msgtype)
            raise BagError(f"{msgtype} topic {topic} is not in {args.input}; there: {there}")
        found += matching
    return found


def _track_messages(args, reader, connections, predictor, prompts, writer, outputs, lifter) -> dict:
    labels: dict[int, str] = {}
    frames = skipped = 0
    started = time.perf_counter()
    total = sum(c.msgcount for c in connections)
    for connection, timestamp, rawdata in tqdm(
        reader.messages(connections=connections), total=total, desc="sam2-ros bag", unit="msg"
    ):
        if connection.topic != args.image_topic:
            lifter.add(connection.msgtype, reader.deserialize(rawdata, connection.msgtype))
            continue
        where = f"{args.image_topic} at bag time {timestamp / 1e9:.6f} s"
        try:
            msg = reader.deserialize(rawdata, connection.msgtype)
            rgb = message_to_rgb(msg)
        except ImageConversionError as err:
            if "unsupported encoding" in str(err):
                raise BagError(f"{where}: {err}") from err
            tqdm.write(f"warning: {where}: skipped a corrupt frame: {err}")
            skipped += 1
            continue
        except Exception as err:  # the CDR deserializer raises for malformed messages
            tqdm.write(f"warning: {where}: skipped a message that cannot be decoded: {err}")
            skipped += 1
            continue
        predictor.track(rgb)
        for prompt in prompts:
            if prompt.due(frames, timestamp):
                _apply(predictor, prompt, labels, where)
        result = predictor.result()
        header = ros_header(msg.header)
        messages = to_tracking_msgs(
            header, args.camera_name, result, labels, args.occlusion_threshold
        )
        messages["label_image"] = to_label_image_msg(header, result)
        for name, message in messages.items():
            writer.write(outputs[name], timestamp, serialize_message(message))
        if lifter is not None:
            lifter.frame(header, timestamp, result, labels)
        frames += 1
    if lifter is not None:
        lifter.finish()
    return {
        "frames": frames,
        "skipped": skipped,
        "seconds": time.perf_counter() - started,
        "objects": predictor.object_ids,
    }


class BagLifter:
    """Objects in 3D for a bag: each frame waits for the depth image nearest in time (which may
    come later in the bag) before its ``objects_3d`` is written."""

    def __init__(self, args: argparse.Namespace, writer: Any, connection: Any) -> None:
        self._args, self._writer, self._connection = args, writer, connection
        self._depth = DepthBuffer(capacity=100)
        self._newest_depth = -1
        self._info = None
        self._waiting: list[tuple[Any, int, TrackResult, dict[int, str]]] = []

    def add(self, msgtype: str, message: Any) -> None:
        """A depth image or CameraInfo from the bag."""
        if msgtype == CAMERA_INFO_TYPE:
            self._info = message
            return
        stamp = stamp_ns(message.header.stamp)
        self._depth.add(stamp, message)
        self._newest_depth = max(self._newest_depth, stamp)
        self._write_ready(final=False)

    def frame(self, header: Any, timestamp: int, result: TrackResult, labels: dict) -> None:
        """A tracked frame, written once its depth image can no longer come closer."""
        self._waiting.append((header, timestamp, result, dict(labels)))
        self._write_ready(final=False)

    def finish(self) -> None:
        """The bag ended: write the frames still waiting."""
        self._write_ready(final=True)

    def _write_ready(self, final: bool) -> None:
        args = self._args
        tolerance = int(args.depth_max_time_diff * 1e9)
        while self._waiting:
            header, timestamp, result, labels = self._waiting[0]
            stamp = stamp_ns(header.stamp)
            if not final and self._newest_depth < stamp:
                return
            self._waiting.pop(0)
            depth = self._depth.pair(stamp, tolerance, 0.0)
            try:
                if depth is None:
                    raise DepthError(f"no depth image within {args.depth_max_time_diff} s")
                lifted = lift_objects(
                    result.masks,
                    depth,
                    self._info,
                    args.depth_scale,
                    tuple(args.depth_range),
                    args.min_depth_points,
                    args.depth_topic,
                )
            except DepthError as err:
                tqdm.write(f"warning: frame stamped {stamp_text(stamp)}: not lifted: {err}")
                lifted = [LiftedObject.invalid() for _ in result.object_ids]
            message = to_objects_3d_msg(header, args.camera_name, result.object_ids, labels, lifted)
            self._writer.write(self._connection, timestamp, serialize_message(message))


def _apply(predictor: StreamingPredictor, prompt: BagPrompt, labels: dict, where: str) -> None:
    try:
        answer = predictor.add_prompt(prompt.object_id, prompt.points, prompt.labels, prompt.box)
    except PromptError as err:
        raise BagError(f"prompts file entry {prompt.entry} at {where}: {err}") from err
    prompt.applied = True
    if prompt.label or answer.object_id not in labels:
        labels[answer.object_id] = prompt.label
