"""The options of ``sam2-ros bag`` (those ``sam2-ros bags`` shares, and ``--replay``'s) and their
reading, once, into settings objects: :class:`BagSettings` for a run, :class:`ReplaySettings` for a
replay. The tool's parts take these, as the node's take ``NodeParams``."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from sam2_ros.commands.bag.cameras import BagCamera, bag_cameras
from sam2_ros.commands.bag.depth import DepthSettings
from sam2_ros.commands.bag.prompts import load_prompts, prompts_for
from sam2_ros.commands.cli import add_device_arguments
from sam2_ros.engine import DEFAULT_MODEL_CFG, EngineSettings
from sam2_ros.parameters.declarations import BY_NAME, MATCH_ON
from sam2_ros.parameters.node_params import association_settings, duplicate_settings
from sam2_ros.tracking.association import AssociationSettings
from sam2_ros.tracking.duplicates import DuplicateSettings
from sam2_ros.tracking.frame_stamps import TimeJumpSettings

DEFAULTS = AssociationSettings()
DUPLICATES = DuplicateSettings()
TIME_JUMP_TOLERANCE = BY_NAME["time_jump_tolerance"]
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


@dataclass(frozen=True)
class BagSettings:
    """What a bag run tracks and writes, the same for every bag of a ``bags`` run; read from the
    options by :func:`read_bag_settings`. Its settings hash is
    :func:`~sam2_ros.commands.bag.output_record.settings_hash`."""

    #: The model to load and how each camera's predictor tracks (``max_objects``).
    engine: EngineSettings
    cameras: tuple[BagCamera, ...]
    #: The prompts file (``config/bag_prompts.yaml``'s format); None: no prompts.
    prompts: Path | None
    #: The output bags' storage: ``mcap`` or ``sqlite3``.
    storage: str
    occlusion_threshold: float
    depth: DepthSettings
    #: The detector rules of the cameras with a detections topic; None: no camera has one.
    detection: AssociationSettings | None
    duplicates: DuplicateSettings
    #: When a camera's stamps go back within the bag (concatenated recordings).
    time_jumps: TimeJumpSettings

    def absolute(self) -> BagSettings:
        """These settings with every path absolute (Ray workers run elsewhere)."""
        engine = self.engine.replace(
            checkpoint=_resolved(self.engine.checkpoint), onnx_dir=_resolved(self.engine.onnx_dir)
        )
        return dataclasses.replace(self, engine=engine, prompts=_resolved(self.prompts))


@dataclass(frozen=True)
class ReplaySettings:
    """What ``sam2-ros bag --replay`` takes from its options (everything else comes from the
    recording); read by :func:`read_replay_settings`."""

    checkpoint: Path | None
    device: str
    #: The output bag's storage: ``mcap`` or ``sqlite3``.
    storage: str
    #: The node to replay when the recording holds several (``--replay-node``).
    node: str | None
    #: Recorded node parameters changed on purpose (``--set NAME=VALUE``).
    overrides: tuple[str, ...]
    #: Where the report is also written as JSON (``--replay-report``).
    report: Path | None
    #: The lowest mask IoU that counts as equal (``--replay-min-iou``).
    min_iou: float


def _resolved(path: Path | None) -> Path | None:
    return path.resolve() if path is not None else None


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
        "--time-jump-tolerance",
        type=float,
        default=TIME_JUMP_TOLERANCE.default,
        help="seconds a frame may be stamped before the newest of its camera without counting "
        "as a jump back in time (the node's time_jump_tolerance)",
    )
    parser.add_argument(
        "--reset-on-time-jump",
        action="store_true",
        help="forget a camera's objects when its stamps go back (the node's reset_on_time_jump)",
    )
    _add_depth_options(parser)
    _add_detection_options(parser)


def _add_depth_options(parser: argparse.ArgumentParser) -> None:
    """``--depth-topic`` and how depth is paired and read."""
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


def _add_detection_options(parser: argparse.ArgumentParser) -> None:
    """``--detections-topic`` and the node's ``detection_*`` and ``duplicate_*`` rules."""
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


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``--replay``."""
    parser.add_argument(
        "--replay",
        action="store_true",
        help="replay a recorded sam2_ros session (its /<node>/session, events, masks and "
        "camera input): settings come from the recording; compare with its masks",
    )
    parser.add_argument("--replay-node", help="the node to replay when the recording has several")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="with --replay: override one recorded node parameter on purpose (YAML value)",
    )
    parser.add_argument("--replay-report", type=Path, help="with --replay: also write the report")
    parser.add_argument(
        "--replay-min-iou",
        type=float,
        default=1.0,
        help="with --replay: lowest mask IoU that counts as equal (1.0: the same machine and "
        "threads reproduce masks exactly; lower it for another machine)",
    )


def read_bag_settings(args: argparse.Namespace) -> BagSettings:
    """The settings of the options of :func:`add_options`, each checked that can be without the
    model or a bag, in this order: the detector rules, validated as the node's parameters are
    (ParameterError naming a bad one), the cameras (CameraSpecError naming options that do not
    fit), the prompts file (PromptsFileError)."""
    values = {name: getattr(args, name) for name in SETTINGS_FLAGS}
    detection, duplicates = association_settings(values), duplicate_settings(values)
    cameras = tuple(
        bag_cameras(
            args.image_topic,
            args.camera_name,
            args.depth_topic,
            args.camera_info_topic,
            args.detections_topic,
        )
    )
    names = [camera.name for camera in cameras]
    prompts = load_prompts(args.prompts) if args.prompts else []
    for name in names:
        prompts_for(prompts, name, names)
    engine = EngineSettings(
        model_cfg=args.model_cfg,
        checkpoint=args.checkpoint,
        device=args.device,
        image_size=args.image_size,
        allow_random_weights=args.allow_random_weights,
        precision=args.precision,
        backend=args.backend,
        onnx_dir=args.onnx_dir,
        openvino_device=args.openvino_device,
        max_objects=args.max_objects,
    )
    time_jumps = TimeJumpSettings(
        round(TIME_JUMP_TOLERANCE.check(args.time_jump_tolerance) * 1e9), args.reset_on_time_jump
    )
    depth = DepthSettings(
        args.depth_scale,
        args.depth_max_time_diff,
        tuple(args.depth_range),
        args.min_depth_points,
        time_jumps.tolerance,
    )
    detector = any(camera.detections_topic for camera in cameras)
    return BagSettings(
        engine=engine,
        cameras=cameras,
        prompts=args.prompts,
        storage=args.storage,
        occlusion_threshold=args.occlusion_threshold,
        depth=depth,
        detection=detection if detector else None,
        duplicates=duplicates,
        time_jumps=time_jumps,
    )


def read_replay_settings(args: argparse.Namespace) -> ReplaySettings:
    """The settings of ``--replay``'s options (and the checkpoint, device and storage)."""
    return ReplaySettings(
        checkpoint=args.checkpoint,
        device=args.device,
        storage=args.storage,
        node=args.replay_node,
        overrides=tuple(args.set),
        report=args.replay_report,
        min_iou=args.replay_min_iou,
    )
