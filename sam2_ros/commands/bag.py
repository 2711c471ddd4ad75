"""``sam2-ros bag``: run the engine over every frame of a recorded bag and write a bag of results.

Reads ROS 2 bags (sqlite3 ``.db3`` or ``.mcap``) with ``rosbags``; writes ``/sam2/<camera>/masks``,
``/occlusion``, ``/object_pointers``, ``/label_image`` and ``/detections``, one message per input
frame, stamped with the input header and logged at the input's bag time. The messages are built
by the same conversions the node uses and serialised with rclpy, so a replay through the live node
and this tool produce the same bytes for the same frames. Prompts come from a prompts file, and a
recorded detector stream (``--detections-topic``) drives objects as it does in the node.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

from rclpy.serialization import serialize_message
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from tqdm import tqdm

from sam2_ros.commands.bag_prompts import BagPrompt, PromptsFileError, load_prompts
from sam2_ros.commands.cli import add_device_arguments
from sam2_ros.engine import (
    DEFAULT_MODEL_CFG,
    CheckpointError,
    ModelConfigError,
    PromptError,
    StreamingPredictor,
    TrackResult,
)
from sam2_ros.geometry.lifting import LiftedObject
from sam2_ros.messages.detections import detection_message, to_detection_array
from sam2_ros.messages.images import ImageConversionError, message_to_rgb, ros_header
from sam2_ros.messages.objects_3d import DepthError, lift_objects, to_objects_3d_msg
from sam2_ros.messages.results import to_label_image_msg, to_tracking_msgs
from sam2_ros.paths import package_share
from sam2_ros.tracking.association import AssociationSettings
from sam2_ros.tracking.depth_pairing import DepthBuffer
from sam2_ros.tracking.detections import DetectedObjects, DetectionOutcome
from sam2_ros.tracking.duplicates import DuplicateSettings, duplicate_text
from sam2_ros.tracking.frame_stamps import TrackedFrames, stamp_ns, stamp_text
from sam2_ros.tracking.parameters import (
    MATCH_ON,
    association_settings,
    duplicate_settings,
    image_topic_base,
)

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
DETECTIONS_TYPE = "vision_msgs/msg/Detection2DArray"
OBJECTS_3D_TYPE = "sam2_ros/msg/Objects3D"
OUTPUT_TYPES = {
    "masks": "sam2_ros/msg/ObjectMasks",
    "occlusion": "sam2_ros/msg/OcclusionScores",
    "object_pointers": "sam2_ros/msg/ObjectPointers",
    "label_image": "sensor_msgs/msg/Image",
    "detections": DETECTIONS_TYPE,
}
DEFAULTS = AssociationSettings()
DUPLICATES = DuplicateSettings()
#: The node parameters the bag tool takes as flags (``--detection-min-score`` ...).
SETTINGS_FLAGS = (
    "max_objects",
    "detection_min_score",
    "detection_classes",
    "detection_match_iou",
    "detection_match_on",
    "detection_recondition_iou",
    "detection_recondition_frames",
    "detection_forget_after",
    "detection_confirm_hits",
    "detection_confirm_window",
    "duplicate_iou",
    "duplicate_frames",
)


class BagError(RuntimeError):
    """The bag cannot be processed (missing topic, unsupported images, bad prompts file)."""


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
    add_device_arguments(parser)
    parser.add_argument(
        "--allow-random-weights", action="store_true", help="no checkpoint (tests only)"
    )
    parser.add_argument(
        "--storage", choices=["mcap", "sqlite3"], default="mcap", help="output storage format"
    )
    parser.add_argument("--occlusion-threshold", type=float, default=0.5)
    parser.add_argument("--max-objects", type=int, default=DEFAULTS.max_objects)
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
    parser.add_argument(
        "--detections-topic",
        help="vision_msgs/Detection2DArray topic of a recorded detector: its detections start, "
        "pair with and retire objects as in the node (detection_* parameters)",
    )
    parser.add_argument("--detection-min-score", type=float, default=DEFAULTS.min_score)
    parser.add_argument(
        "--detection-classes", nargs="*", default=[], help="class ids used (default: every class)"
    )
    parser.add_argument("--detection-match-iou", type=float, default=DEFAULTS.match_iou)
    parser.add_argument("--detection-match-on", choices=MATCH_ON, default=DEFAULTS.match_on)
    parser.add_argument("--detection-recondition-iou", type=float, default=DEFAULTS.recondition_iou)
    parser.add_argument(
        "--detection-recondition-frames", type=int, default=DEFAULTS.recondition_frames
    )
    parser.add_argument("--detection-forget-after", type=int, default=DEFAULTS.forget_after)
    parser.add_argument("--detection-confirm-hits", type=int, default=DEFAULTS.confirm_hits)
    parser.add_argument("--detection-confirm-window", type=int, default=DEFAULTS.confirm_window)
    parser.add_argument("--duplicate-iou", type=float, default=DUPLICATES.iou)
    parser.add_argument("--duplicate-frames", type=int, default=DUPLICATES.frames)


def run(args: argparse.Namespace) -> int:
    """Process the bag; 0 on success, 1 with a message on failure (and no partial output)."""
    if args.output.exists():
        print(f"sam2-ros bag: {args.output} exists already; choose a new output path")
        return 1
    try:
        settings_of(args)  # bad values stop the run before the model loads
        prompts = load_prompts(args.prompts) if args.prompts else []
        predictor = StreamingPredictor(
            args.model_cfg,
            args.checkpoint,
            args.device,
            args.image_size,
            args.allow_random_weights,
            max_objects=args.max_objects,
            precision=args.precision,
        )
        summary = annotate(args, predictor, prompts)
    except (BagError, PromptsFileError, CheckpointError, ModelConfigError, ValueError) as err:
        if args.output.exists():
            shutil.rmtree(args.output)
        print(f"sam2-ros bag: {err}\nno output written")
        return 1
    frames, seconds, engine = summary["frames"], summary["seconds"], summary["engine_seconds"]
    print(
        f"sam2-ros bag: {frames} frames of {args.image_topic} in {seconds:.1f} s "
        f"({frames / max(seconds, 1e-9):.2f} fps; its engine: "
        f"{frames / max(engine, 1e-9):.2f} fps, so the tool delivered "
        f"{engine / max(seconds, 1e-9):.2f} of it), {summary['skipped']} corrupt frames skipped, "
        f"objects {summary['objects']}{summary['detections']}; wrote {args.output} "
        f"({', '.join(summary['topics'])})"
    )
    return 0


def settings_of(args: argparse.Namespace) -> tuple[AssociationSettings, DuplicateSettings]:
    """The detection and duplicate settings of the flags, validated as the node's parameters
    are (ParameterError naming a bad one)."""
    values = {name: getattr(args, name) for name in SETTINGS_FLAGS}
    return association_settings(values), duplicate_settings(values)


def annotate(args: argparse.Namespace, predictor: StreamingPredictor, prompts: list) -> dict:
    """Track every frame of the image topic in order and write the results bag."""
    typestore = sam2_ros_typestore()
    try:
        reader = AnyReader([args.input], default_typestore=typestore)
        reader.open()
    except Exception as err:  # rosbags raises several reader errors for unusable inputs
        raise BagError(f"cannot open bag {args.input}: {err}") from err
    try:
        images = _connections(args, reader, args.image_topic, IMAGE_TYPES)
        depth = _depth_connections(args, reader) if args.depth_topic else []
        detections = (
            _connections(args, reader, args.detections_topic, (DETECTIONS_TYPE,))
            if args.detections_topic
            else []
        )
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
            bag_run = BagRun(args, predictor, prompts, writer, outputs, lifter)
            connections = images + depth + detections
            total = sum(c.msgcount for c in connections)
            for connection, timestamp, rawdata in tqdm(
                reader.messages(connections=connections),
                total=total,
                desc="sam2-ros bag",
                unit="msg",
            ):
                bag_run.message(reader, connection, timestamp, rawdata)
            counts = bag_run.finish()
    finally:
        reader.close()
    missing = [p.entry for p in prompts if not p.applied]
    if missing:
        raise BagError(f"prompts file entries {missing} name frames or times not in the bag")
    return {**counts, "topics": [c.topic for c in outputs.values()]}


def _connections(args: argparse.Namespace, reader: Any, topic: str, msgtypes: tuple) -> list:
    """The bag's connections of ``topic`` with one of ``msgtypes`` (BagError naming the topics of
    those types there)."""
    found = [c for c in reader.connections if c.topic == topic and c.msgtype in msgtypes]
    if not found:
        there = sorted({c.topic for c in reader.connections if c.msgtype in msgtypes})
        kinds = " or ".join(t.rsplit("/", 1)[-1] for t in msgtypes)
        raise BagError(
            f"topic {topic} with {kinds} messages is not in {args.input}; "
            f"{kinds} topics there: {there or 'none'}"
        )
    return found


def _depth_connections(args: argparse.Namespace, reader: Any) -> list:
    """The depth Image and CameraInfo connections of the bag."""
    info_topic = args.camera_info_topic or (
        image_topic_base(args.image_topic).rsplit("/", 1)[0] + "/camera_info"
    )
    return _connections(args, reader, args.depth_topic, IMAGE_TYPES[:1]) + _connections(
        args, reader, info_topic, (CAMERA_INFO_TYPE,)
    )


class BagRun:
    """The bag's messages in order: frames tracked and written, prompts from the file applied
    after their frame, detections applied once their frame is tracked, depth for 3D."""

    def __init__(
        self,
        args: argparse.Namespace,
        predictor: StreamingPredictor,
        prompts: list[BagPrompt],
        writer: Any,
        outputs: dict[str, Any],
        lifter: BagLifter | None,
    ) -> None:
        self._args, self._predictor, self._prompts = args, predictor, prompts
        self._writer, self._outputs, self._lifter = writer, outputs, lifter
        self._labels: dict[int, str] = {}
        self._tracked = TrackedFrames(predictor.history_frames)
        self._detected = DetectedObjects(
            predictor,
            self._labels,
            self._tracked,
            *settings_of(args),
        )
        self._frames = self._skipped = self._detection_messages = 0
        self._engine_s: list[float] = []  # the engine's time of each frame
        self._started = time.perf_counter()

    def message(self, reader: Any, connection: Any, timestamp: int, rawdata: bytes) -> None:
        """One message of the bag, in bag order."""
        args = self._args
        if connection.topic == args.image_topic:
            self._frame(reader, connection, timestamp, rawdata)
        elif connection.topic == args.detections_topic:
            message = reader.deserialize(rawdata, connection.msgtype)
            self._detection_messages += 1
            pushed = self._detected.add(detection_message(message))
            for outcome in ([pushed] if pushed else []) + self._detected.apply_due():
                self._report(outcome)
        else:
            self._lifter.add(connection.msgtype, reader.deserialize(rawdata, connection.msgtype))

    def _frame(self, reader: Any, connection: Any, timestamp: int, rawdata: bytes) -> None:
        args = self._args
        where = f"{args.image_topic} at bag time {timestamp / 1e9:.6f} s"
        try:
            msg = reader.deserialize(rawdata, connection.msgtype)
            rgb = message_to_rgb(msg)
        except ImageConversionError as err:
            if "unsupported encoding" in str(err):
                raise BagError(f"{where}: {err}") from err
            tqdm.write(f"warning: {where}: skipped a corrupt frame: {err}")
            self._skipped += 1
            return
        except Exception as err:  # the CDR deserializer raises for malformed messages
            tqdm.write(f"warning: {where}: skipped a message that cannot be decoded: {err}")
            self._skipped += 1
            return
        started = time.perf_counter()
        result = self._predictor.track(rgb)
        self._engine_s.append(time.perf_counter() - started)
        self._tracked.add(stamp_ns(msg.header.stamp), result.frame_index)
        for duplicate in self._detected.frame_tracked(result):
            tqdm.write(f"{where}: {duplicate_text(duplicate)}")
        prompted = [p for p in self._prompts if p.due(self._frames, timestamp)]
        for prompt in prompted:
            self._apply(prompt, where)
        outcomes = self._detected.apply_due()
        for outcome in outcomes:
            self._report(outcome)
        if prompted or any(o.started or o.reconditioned or o.forgotten for o in outcomes):
            result = self._predictor.result()  # the objects changed after tracking
        self._write(ros_header(msg.header), timestamp, self._detected.published(result))
        self._frames += 1

    def _write(self, header: Any, timestamp: int, result: TrackResult) -> None:
        args, labels = self._args, self._labels
        messages = to_tracking_msgs(
            header, args.camera_name, result, labels, args.occlusion_threshold
        )
        messages["label_image"] = to_label_image_msg(header, result)
        messages["detections"] = to_detection_array(header, result, labels)
        for name, message in messages.items():
            self._writer.write(self._outputs[name], timestamp, serialize_message(message))
        if self._lifter is not None:
            self._lifter.frame(header, timestamp, result, labels)

    def _apply(self, prompt: BagPrompt, where: str) -> None:
        try:
            answer = self._predictor.add_prompt(
                prompt.object_id, prompt.points, prompt.labels, prompt.box
            )
        except PromptError as err:
            raise BagError(f"prompts file entry {prompt.entry} at {where}: {err}") from err
        prompt.applied = True
        self._detected.prompted(answer.frame_index)
        if prompt.label or answer.object_id not in self._labels:
            self._labels[answer.object_id] = prompt.label

    def _report(self, outcome: DetectionOutcome) -> None:
        where = f"detections stamped {stamp_text(outcome.stamp)}"
        if outcome.problem:
            tqdm.write(f"warning: {where} dropped: {outcome.problem}")
        for change in outcome.changes(self._detected.settings):
            tqdm.write(f"{where} {change}")

    def finish(self) -> dict:
        """The bag ended: write what waited for depth; counts for the summary."""
        if self._lifter is not None:
            self._lifter.finish()
        detections = ""
        if self._args.detections_topic:
            detections = f", {self._detection_messages} detection messages"
        return {
            "frames": self._frames,
            "skipped": self._skipped,
            "seconds": time.perf_counter() - self._started,
            "engine_seconds": sum(self._engine_s),
            "objects": self._detected.published_ids,
            "detections": detections,
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
