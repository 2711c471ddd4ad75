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

from sam2_ros.commands.bag.cameras import BagCamera, bag_cameras
from sam2_ros.commands.bag.depth import CAMERA_INFO_TYPE, BagLifter
from sam2_ros.commands.bag.prompts import BagPrompt, PromptsFileError, load_prompts, prompts_for
from sam2_ros.commands.bag.settings import output_custom_data, settings_hash
from sam2_ros.commands.cli import add_device_arguments, backend_options
from sam2_ros.engine import (
    DEFAULT_MODEL_CFG,
    CheckpointError,
    ModelConfigError,
    PromptError,
    Sam2Model,
    StreamingPredictor,
    TrackResult,
    load_model,
)
from sam2_ros.messages.detections import detection_message, to_detection_array
from sam2_ros.messages.images import ImageConversionError, message_to_rgb, ros_header
from sam2_ros.messages.results import to_label_image_msg, to_tracking_msgs
from sam2_ros.parameters.declarations import MATCH_ON
from sam2_ros.parameters.node_params import association_settings, duplicate_settings
from sam2_ros.paths import package_share
from sam2_ros.tracking.association import AssociationSettings
from sam2_ros.tracking.camera_session import CameraSession, EventSource
from sam2_ros.tracking.detections import DetectionOutcome
from sam2_ros.tracking.duplicates import DuplicateSettings, duplicate_text
from sam2_ros.tracking.frame_stamps import stamp_ns, stamp_text

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
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
    from sam2_ros.commands.bag.replay import add_replay_arguments

    parser.add_argument("input", type=Path, help="input ROS 2 bag (folder, .db3 or .mcap)")
    parser.add_argument("output", type=Path, help="output bag folder (must not exist)")
    add_options(parser, image_topic_required=False)
    add_replay_arguments(parser)


def add_options(parser: argparse.ArgumentParser, image_topic_required: bool = True) -> None:
    """What to track and how: the options ``sam2-ros bag`` and ``sam2-ros bags`` share."""
    parser.add_argument(
        "--image-topic",
        action="append",
        required=image_topic_required,
        help="Image or CompressedImage topic; repeat it for more cameras, each tracked apart "
        "(required, but with --replay, which takes them from the recording)",
    )
    parser.add_argument(
        "--camera-name",
        action="append",
        help="name in output topics, one per --image-topic (default: camera for one topic, "
        "else derived from the topics: /front/image_raw -> front)",
    )
    parser.add_argument("--prompts", type=Path, help="prompts YAML (see config/bag_prompts.yaml)")
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
        "--depth-topic",
        action="append",
        help="registered depth Image topic: also write /sam2/<camera>/objects_3d "
        "(per camera, in --image-topic order)",
    )
    parser.add_argument(
        "--camera-info-topic",
        action="append",
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
        action="append",
        help="vision_msgs/Detection2DArray topic of a recorded detector (per camera, in "
        "--image-topic order): its detections start, pair with and retire objects as in the "
        "node (detection_* parameters)",
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


#: What stops a bag run with a message: bad options, a bad prompts file, an unusable bag or model.
RUN_ERRORS = (BagError, PromptsFileError, CheckpointError, ModelConfigError, ValueError)


def run(args: argparse.Namespace) -> int:
    """Process the bag; 0 on success, 1 with a message on failure (and no partial output)."""
    if args.output.exists():
        print(f"sam2-ros bag: {args.output} exists already; choose a new output path")
        return 1
    if getattr(args, "replay", False):
        return _replay(args)
    if not args.image_topic:
        print("sam2-ros bag: the following arguments are required: --image-topic")
        return 2
    try:
        check_options(args)  # bad values stop the run before the model loads
        model = load_bag_model(args)
        summary = annotate(args, model, args.input, args.output, settings_hash(args))
    except RUN_ERRORS as err:
        if args.output.exists():
            shutil.rmtree(args.output)
        print(f"sam2-ros bag: {err}\nno output written")
        return 1
    topics = ", ".join(summary["topics"])
    print(f"sam2-ros bag: {summary_text(summary)}; wrote {args.output} ({topics})")
    return 0


def _replay(args: argparse.Namespace) -> int:
    """``--replay``: the recorded session tracked again and compared (``replay.report``)."""
    from sam2_ros.commands.bag import replay

    if args.image_topic:
        print("sam2-ros bag: --replay takes the cameras from the recording: no --image-topic")
        return 2
    try:
        comparisons = replay.replay(args)
    except (*RUN_ERRORS, LookupError) as err:
        if args.output.exists():
            shutil.rmtree(args.output)
        print(f"sam2-ros bag: {err}\nno output written")
        return 1
    return replay.report(args, comparisons)


def summary_text(summary: dict) -> str:
    """Frames, rate against the engine, skipped frames and objects of each camera of a run."""
    seconds = max(summary["seconds"], 1e-9)
    engine = sum(camera["engine_seconds"] for camera in summary["cameras"].values())
    return "; ".join(
        f"{c['frames']} frames of {c['image_topic']} in {seconds:.1f} s "
        f"({c['frames'] / seconds:.2f} fps; its engine: "
        f"{c['frames'] / max(c['engine_seconds'], 1e-9):.2f} fps, so the tool delivered "
        f"{engine / seconds:.2f} of it), {c['skipped']} corrupt frames skipped, "
        f"objects {c['objects']}{c['detections']}"
        for c in summary["cameras"].values()
    )


def settings_of(args: argparse.Namespace) -> tuple[AssociationSettings, DuplicateSettings]:
    """The detection and duplicate settings of the flags, validated as the node's parameters
    are (ParameterError naming a bad one)."""
    values = {name: getattr(args, name) for name in SETTINGS_FLAGS}
    return association_settings(values), duplicate_settings(values)


def cameras_of(args: argparse.Namespace) -> list[BagCamera]:
    """The run's cameras (CameraSpecError naming options that do not fit)."""
    return bag_cameras(
        args.image_topic,
        args.camera_name,
        args.depth_topic,
        args.camera_info_topic,
        args.detections_topic,
    )


def check_options(args: argparse.Namespace) -> None:
    """Every option that can be checked without the model or a bag (ValueError subclasses)."""
    settings_of(args)
    names = [camera.name for camera in cameras_of(args)]
    prompts = load_prompts(args.prompts) if args.prompts else []
    for name in names:
        prompts_for(prompts, name, names)


def load_bag_model(args: argparse.Namespace) -> Sam2Model:
    """The model of the options, loaded once for every camera (and, in ``bags``, every bag)."""
    return load_model(
        model_cfg=args.model_cfg,
        checkpoint=args.checkpoint,
        device=args.device,
        image_size=args.image_size,
        allow_random_weights=args.allow_random_weights,
        precision=args.precision,
        **backend_options(args),
    )


def annotate(
    args: argparse.Namespace, model: Sam2Model, source: Path, output: Path, settings: str
) -> dict:
    """Track every frame of each camera of ``source`` in order, each camera by its own
    predictor over ``model``, and write the results bag ``output``; its metadata records the
    run (:func:`~sam2_ros.commands.bag.settings.read_output_record`)."""
    started = time.perf_counter()
    cameras = cameras_of(args)
    names = [camera.name for camera in cameras]
    prompts = load_prompts(args.prompts) if args.prompts else []
    typestore = sam2_ros_typestore()
    try:
        reader = AnyReader([source], default_typestore=typestore)
        reader.open()
    except Exception as err:  # rosbags raises several reader errors for unusable inputs
        raise BagError(f"cannot open bag {source}: {err}") from err
    try:
        routes = {camera.name: _camera_connections(source, reader, camera) for camera in cameras}
        storage = StoragePlugin.MCAP if args.storage == "mcap" else StoragePlugin.SQLITE3
        with Writer(output, version=9, storage_plugin=storage) as writer:
            runs = [
                CameraRun(
                    args,
                    camera,
                    StreamingPredictor(model=model, max_objects=args.max_objects),
                    prompts_for(prompts, camera.name, names),
                    writer,
                    typestore,
                )
                for camera in cameras
            ]
            handlers = _handlers(runs, routes)
            connections = [c for c in reader.connections if c.id in handlers]
            for connection, timestamp, rawdata in tqdm(
                reader.messages(connections=connections),
                total=sum(c.msgcount for c in connections),
                desc=f"sam2-ros bag {source.name}",
                unit="msg",
                disable=None,
                leave=False,
            ):
                for camera_run, kind in handlers[connection.id]:
                    camera_run.message(kind, reader, connection, timestamp, rawdata)
            counts = {camera_run.camera.name: camera_run.finish() for camera_run in runs}
            missing = [p.entry for p in prompts if not p.applied]
            if missing:
                raise BagError(
                    f"prompts file entries {missing} name frames or times not in the bag"
                )
            record = {
                "input": str(source.resolve()),
                "settings_hash": settings,
                "weights_fingerprint": model.weights_fingerprint(),
                "frames": {name: count["frames"] for name, count in counts.items()},
                "objects": {name: count["objects"] for name, count in counts.items()},
            }
            for key, value in output_custom_data(record).items():
                writer.set_custom_data(key, value)
            topics = [c.topic for camera_run in runs for c in camera_run.outputs.values()]
    finally:
        reader.close()
    return {
        "cameras": counts,
        "topics": topics,
        "record": record,
        "seconds": time.perf_counter() - started,
    }


def _handlers(
    runs: list[CameraRun], routes: dict[str, dict[str, list]]
) -> dict[int, list[tuple[CameraRun, str]]]:
    """Which cameras take each connection's messages, and as what (a topic may serve several
    cameras, e.g. a shared CameraInfo)."""
    handlers: dict[int, list[tuple[CameraRun, str]]] = {}
    for camera_run in runs:
        for kind, connections in routes[camera_run.camera.name].items():
            for connection in connections:
                handlers.setdefault(connection.id, []).append((camera_run, kind))
    return handlers


def _connections(source: Path, reader: Any, topic: str, msgtypes: tuple) -> list:
    """The bag's connections of ``topic`` with one of ``msgtypes`` (BagError naming the topics of
    those types there)."""
    found = [c for c in reader.connections if c.topic == topic and c.msgtype in msgtypes]
    if not found:
        there = sorted({c.topic for c in reader.connections if c.msgtype in msgtypes})
        kinds = " or ".join(t.rsplit("/", 1)[-1] for t in msgtypes)
        raise BagError(
            f"topic {topic} with {kinds} messages is not in {source}; "
            f"{kinds} topics there: {there or 'none'}"
        )
    return found


def _camera_connections(source: Path, reader: Any, camera: BagCamera) -> dict[str, list]:
    """A camera's connections by what they carry: ``image``, ``depth``, ``detections``."""
    routes = {"image": _connections(source, reader, camera.image_topic, IMAGE_TYPES)}
    if camera.depth_topic:
        routes["depth"] = _connections(
            source, reader, camera.depth_topic, IMAGE_TYPES[:1]
        ) + _connections(source, reader, camera.info_topic, (CAMERA_INFO_TYPE,))
    if camera.detections_topic:
        routes["detections"] = _connections(
            source, reader, camera.detections_topic, (DETECTIONS_TYPE,)
        )
    return routes


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


class CameraRun:
    """One camera's messages in bag order: frames tracked and written, prompts from the file
    applied after their frame, detections applied once their frame is tracked, depth for 3D."""

    def __init__(
        self,
        args: argparse.Namespace,
        camera: BagCamera,
        predictor: StreamingPredictor,
        prompts: list[BagPrompt],
        writer: Any,
        typestore: Any,
    ) -> None:
        self._args, self.camera, self._prompts = args, camera, prompts
        self._writer = writer
        #: The camera's output connections by name (``masks``, ...).
        self.outputs = output_connections(writer, typestore, camera.name, bool(camera.depth_topic))
        self._lifter = (
            BagLifter(args, camera, writer, self.outputs["objects_3d"])
            if camera.depth_topic
            else None
        )
        self._where = ""
        self._session = CameraSession(
            predictor,
            *(settings_of(args) if camera.detections_topic else (None, None)),
            on_outcome=self._report,
            on_duplicate=lambda d: tqdm.write(f"{self._where}: {duplicate_text(d)}"),
        )
        self._frames = self._skipped = self._detection_messages = 0
        self._engine_s: list[float] = []  # the engine's time of each frame

    def message(
        self, kind: str, reader: Any, connection: Any, timestamp: int, rawdata: bytes
    ) -> None:
        """One of the camera's messages (``kind``: image, detections or depth), in bag order."""
        if kind == "image":
            self._frame(reader, connection, timestamp, rawdata)
        elif kind == "detections":
            message = reader.deserialize(rawdata, connection.msgtype)
            self._detection_messages += 1
            self._session.add_detections(detection_message(message))
            self._session.apply_detections()
        else:
            self._lifter.add(connection.msgtype, reader.deserialize(rawdata, connection.msgtype))

    def _frame(self, reader: Any, connection: Any, timestamp: int, rawdata: bytes) -> None:
        where = f"{self.camera.image_topic} at bag time {timestamp / 1e9:.6f} s"
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
        self._where = where
        started = time.perf_counter()
        header = ros_header(msg.header)

        def due() -> None:
            for prompt in self._prompts:
                if prompt.due(self._frames, timestamp):
                    self._apply(prompt, where)

        self._session.step(
            rgb,
            stamp_ns(msg.header.stamp),
            lambda result: self._write(header, timestamp, result),
            due,
            output_first=False,  # a prompt of the file shows on its own frame
            tracked=lambda result: self._engine_s.append(time.perf_counter() - started),
        )
        self._frames += 1

    def _write(self, header: Any, timestamp: int, result: TrackResult) -> None:
        labels = self._session.labels
        write_outputs(
            self._writer,
            self.outputs,
            (header, timestamp),
            self.camera.name,
            result,
            labels,
            self._args.occlusion_threshold,
        )
        if self._lifter is not None:
            self._lifter.frame(header, timestamp, result, labels)

    def _apply(self, prompt: BagPrompt, where: str) -> None:
        try:
            self._session.prompt(
                prompt.object_id,
                prompt.points or [],
                prompt.labels or [],
                prompt.box,
                prompt.label,
                None,
                EventSource.PROMPTS_FILE,
            )
        except PromptError as err:
            raise BagError(f"prompts file entry {prompt.entry} at {where}: {err}") from err
        prompt.applied = True

    def _report(self, outcome: DetectionOutcome) -> None:
        where = f"detections stamped {stamp_text(outcome.stamp)}"
        if outcome.problem:
            tqdm.write(f"warning: {where} dropped: {outcome.problem}")
        for change in outcome.changes(self._session.detected.settings):
            tqdm.write(f"{where} {change}")

    def finish(self) -> dict:
        """The bag ended: write what waited for depth; counts for the summary."""
        if self._lifter is not None:
            self._lifter.finish()
        detections = ""
        if self.camera.detections_topic:
            detections = f", {self._detection_messages} detection messages"
        return {
            "image_topic": self.camera.image_topic,
            "frames": self._frames,
            "skipped": self._skipped,
            "engine_seconds": sum(self._engine_s),
            "objects": self._session.published_ids,
            "detections": detections,
        }
