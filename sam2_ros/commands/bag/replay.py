"""``sam2-ros bag INPUT OUTPUT --replay``: a recorded live session tracked again, frame for frame.

A recording of a sam2_ros node holds what it ran (``/<node>/session``), every change it made to
each camera's objects (``/<node>/<camera>/events``), the frames it tracked (its
``/<node>/<camera>/masks``) and the camera's input. The replay loads the same model (refusing other
weights, config, image size or precision), tracks exactly the frames the node tracked, applies
each change where the node applied it (by the stamp of the newest tracked frame then, before or
after that frame's outputs), writes the outputs as ``sam2-ros bag`` does and compares them with the
recorded masks.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer

from sam2_ros.commands.bag.command import (
    IMAGE_TYPES,
    BagError,
    output_connections,
    sam2_ros_typestore,
    write_outputs,
)
from sam2_ros.engine import load_model
from sam2_ros.engine.model.build import Sam2Model
from sam2_ros.messages.events import from_event_msg
from sam2_ros.messages.images import ImageConversionError, message_to_rgb, ros_header
from sam2_ros.parameters.declarations import ParameterError
from sam2_ros.parameters.node_params import NodeParams, parse
from sam2_ros.tracking.camera_session import CameraSession, SessionEvent, camera_predictor
from sam2_ros.tracking.frame_stamps import stamp_ns

SESSION_TYPE = "sam2_ros/msg/TrackingSession"
EVENT_TYPE = "sam2_ros/msg/TrackingEvent"
MASKS_TYPE = "sam2_ros/msg/ObjectMasks"


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


@dataclass
class CameraComparison:
    """How one camera's replay compares with the recording."""

    frames_compared: int = 0
    objects: list[int] = field(default_factory=list)
    lowest_mask_iou: float = 1.0
    largest_score_difference: float = 0.0
    first_difference: str = ""  # '' = none: the frame and what differs
    events_applied: int = 0
    events_left: int = 0

    def differs(self, min_iou: float) -> bool:
        """Whether anything differs beyond tolerance."""
        return bool(self.first_difference) or self.lowest_mask_iou < min_iou or self.events_left


@dataclass(frozen=True)
class RecordedSession:
    """What the recording says the node ran."""

    node: str
    model_cfg: str
    image_size: int
    precision: str
    backend: str
    weights: str
    parameters: dict[str, Any]
    cameras: list[tuple[str, str]]  # name, image topic


def read_session(reader: Any, node: str | None) -> RecordedSession:
    """The recorded ``~/session`` of ``node`` (or of the only sam2_ros node)."""
    connections = [c for c in reader.connections if c.msgtype == SESSION_TYPE]
    nodes = sorted({c.topic.rsplit("/session", 1)[0].lstrip("/") for c in connections})
    if not nodes:
        raise BagError(
            "the recording has no sam2_ros session (record /<node>/session, the node's "
            "/<node>/<camera>/events and /masks, and the camera topics)"
        )
    if node is None and len(nodes) > 1:
        raise BagError(f"the recording holds several sam2_ros nodes {nodes}: choose --replay-node")
    node = (node or nodes[0]).lstrip("/")
    chosen = [c for c in connections if c.topic == f"/{node}/session"]
    if not chosen:
        raise BagError(f"no session of node {node} in the recording; nodes there: {nodes}")
    for connection, _, raw in reader.messages(connections=chosen):
        msg = reader.deserialize(raw, connection.msgtype)
        return RecordedSession(
            node,
            str(msg.model_cfg),
            int(msg.image_size),
            str(msg.precision),
            str(msg.backend),
            str(msg.weights_fingerprint),
            json.loads(msg.parameters_json),
            list(zip(msg.camera_names, msg.image_topics, strict=True)),
        )
    raise BagError(f"the recording's /{node}/session topic has no message")


def replay_settings(session: RecordedSession, overrides: list[str]) -> NodeParams:
    """The recorded parameters with ``NAME=VALUE`` overrides, validated as the node does."""
    values = dict(session.parameters)
    for item in overrides:
        name, sep, text = item.partition("=")
        if not sep or name not in values:
            raise BagError(f"--set {item}: expected NAME=VALUE with a node parameter's name")
        values[name] = yaml.safe_load(text)
    try:
        return parse(values)
    except ParameterError as err:
        raise BagError(f"--set: {err}") from err


def load_replay_model(args: argparse.Namespace, session: RecordedSession, params: NodeParams):
    """The recorded model with ``--checkpoint``; BagError naming every difference from the
    recording (weights, config, image size, precision)."""
    model = load_model(
        params.engine_settings(),
        checkpoint=args.checkpoint,
        device=args.device,
        allow_random_weights=args.checkpoint is None and params.allow_random_weights,
        precision=session.precision,
    )
    differences = [
        f"{what} {recorded} (here: {ours})"
        for what, recorded, ours in (
            ("weights fingerprint", session.weights[:12], model.weights_fingerprint()[:12]),
            ("model config", session.model_cfg, model.model_cfg),
            ("image size", session.image_size, model.image_size),
            ("precision", session.precision, model.precision),
        )
        if recorded != ours
    ]
    if differences:
        raise BagError(
            f"the recording of {session.node} was made with other settings: "
            + "; ".join(differences)
        )
    return model


class CameraReplay:
    """One camera of the recording tracked again."""

    def __init__(
        self,
        args: argparse.Namespace,
        name: str,
        params: NodeParams,
        model: Sam2Model,
        recorded: dict[int, Any],
        events: list[SessionEvent],
        connections: dict[str, Any],
    ) -> None:
        predictor = camera_predictor(params, model)
        self.name, self._args, self._params = name, args, params
        self.session = CameraSession(predictor)
        self._recorded, self._events, self._connections = recorded, events, connections
        self._next = 0
        self.comparison = CameraComparison()
        self._apply_due(before_output=False)  # what the node did before its first frame

    def frame(self, writer: Any, message: Any, timestamp: int) -> None:
        """An input frame: tracked, written and compared when the node tracked it."""
        stamp = stamp_ns(message.header.stamp)
        if stamp not in self._recorded:
            return  # the node skipped it for a newer one
        try:
            rgb = message_to_rgb(message)
        except ImageConversionError as err:
            raise BagError(f"camera {self.name}: frame stamped {stamp}: {err}") from err
        header = ros_header(message.header)

        def output(result: Any) -> None:
            messages = write_outputs(
                writer,
                self._connections,
                (header, timestamp),
                self.name,
                result,
                self.session.labels,
                self._params.occlusion_threshold,
            )
            self._compare(stamp, result.frame_index, messages["masks"])

        self.session.step(
            rgb,
            stamp,
            output,
            lambda: self._apply_due(before_output=False),
            output_first=True,
            tracked=lambda result: self._apply_due(before_output=True),
        )

    def finish(self) -> CameraComparison:
        """The comparison, with the events never applied (their frames were not replayed)."""
        self.comparison.events_left = len(self._events) - self._next
        self.comparison.objects = sorted(
            {o.object_id for msg in self._recorded.values() for o in msg.objects}
        )
        return self.comparison

    def _apply_due(self, before_output: bool) -> None:
        """Apply the recorded events made at this point: after the newest tracked frame (before
        or after its outputs)."""
        while self._next < len(self._events):
            event = self._events[self._next]
            newest = self.session.tracked.newest_stamp() or 0
            if event.applied_after != newest or event.before_output != before_output:
                return
            self._apply(event)
            self._next += 1
            self.comparison.events_applied += 1

    def _apply(self, event: SessionEvent) -> None:
        session = self.session
        if event.kind == "prompt":
            frame_index = None
            if event.landed_on and event.landed_on != session.tracked.newest_stamp():
                frame_index = session.tracked.find(event.landed_on)
            new = event.detail == "new object"
            answer, _ = session.prompt(
                None if new else event.object_id,
                list(event.points),
                list(event.labels),
                event.box,
                event.label,
                frame_index,
                event.source,
            )
            if answer.object_id != event.object_id:
                self._differ(f"a prompt made object {answer.object_id}, live {event.object_id}")
        elif event.kind == "remove":
            session.remove(event.object_id, event.source)
        elif event.kind == "forget":
            session.forget(event.source)
        elif event.kind == "load":
            path = Path(event.detail)
            session.restore(session.predictor.read_objects(path), event.source, str(path))
        elif event.kind == "label":
            session.labels[event.object_id] = event.label
        elif event.kind == "published":
            session.hidden = set(session.predictor.object_ids) - set(event.object_ids)

    def _compare(self, stamp: int, frame_index: int, ours: Any) -> None:
        recorded = self._recorded[stamp]
        comparison = self.comparison
        comparison.frames_compared += 1
        theirs = [(o.object_id, o.label) for o in recorded.objects]
        mine = [(o.object_id, o.label) for o in ours.objects]
        where = f"frame {frame_index} (stamp {stamp})"
        if theirs != mine:
            self._differ(f"{where}: objects {mine}, recorded {theirs}")
            return
        for live, again in zip(recorded.objects, ours.objects, strict=True):
            iou = _mask_iou(_mask(live), _mask(again))
            comparison.lowest_mask_iou = min(comparison.lowest_mask_iou, iou)
            difference = abs(float(live.score) - float(again.score))
            comparison.largest_score_difference = max(
                comparison.largest_score_difference, difference
            )
            if iou < self._args.replay_min_iou:
                self._differ(f"{where}: object {live.object_id}'s mask IoU {iou:.6f}")

    def _differ(self, what: str) -> None:
        if not self.comparison.first_difference:
            self.comparison.first_difference = what


def _mask(obj: Any) -> np.ndarray:
    data = np.frombuffer(bytes(obj.mask.data), np.uint8)
    return data.reshape(obj.mask.height, -1) > 0


def _mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return 0.0
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def replay(args: argparse.Namespace) -> dict[str, CameraComparison]:
    """Replay ``args.input`` into ``args.output``; each camera's comparison."""
    typestore = sam2_ros_typestore()
    try:
        reader = AnyReader([args.input], default_typestore=typestore)
        reader.open()
    except Exception as err:  # rosbags raises several reader errors for unusable inputs
        raise BagError(f"cannot open bag {args.input}: {err}") from err
    try:
        session = read_session(reader, args.replay_node)
        params = replay_settings(session, args.set)
        model = load_replay_model(args, session, params)
        storage = StoragePlugin.MCAP if args.storage == "mcap" else StoragePlugin.SQLITE3
        with Writer(args.output, version=9, storage_plugin=storage) as writer:
            return _replay_cameras(args, reader, writer, typestore, session, params, model)
    finally:
        reader.close()


def _replay_cameras(args, reader, writer, typestore, session, params, model):
    cameras, routes = {}, {}
    for name, topic in session.cameras:
        events = [
            from_event_msg(msg)
            for msg in _messages(reader, f"/{session.node}/{name}/events", EVENT_TYPE)
        ]
        recorded = {
            stamp_ns(msg.header.stamp): msg
            for msg in _messages(reader, f"/{session.node}/{name}/masks", MASKS_TYPE)
        }
        connections = output_connections(writer, typestore, name)
        cameras[name] = CameraReplay(args, name, params, model, recorded, events, connections)
        images = [c for c in reader.connections if c.topic == topic and c.msgtype in IMAGE_TYPES]
        if not images:
            raise BagError(f"camera {name}'s image topic {topic} is not in the recording")
        for connection in images:
            routes.setdefault(connection.id, []).append(cameras[name])
    connections = [c for c in reader.connections if c.id in routes]
    for connection, timestamp, raw in reader.messages(connections=connections):
        message = reader.deserialize(raw, connection.msgtype)
        for camera in routes[connection.id]:
            camera.frame(writer, message, timestamp)
    return {name: camera.finish() for name, camera in cameras.items()}


def _messages(reader: Any, topic: str, msgtype: str) -> list[Any]:
    connections = [c for c in reader.connections if c.topic == topic and c.msgtype == msgtype]
    return [
        reader.deserialize(raw, connection.msgtype)
        for connection, _, raw in reader.messages(connections=connections)
    ]


def report(args: argparse.Namespace, comparisons: dict[str, CameraComparison]) -> int:
    """Print each camera's comparison (and write them as JSON); 1 when anything differs."""
    differs = any(c.differs(args.replay_min_iou) for c in comparisons.values())
    for name, c in comparisons.items():
        print(
            f"sam2-ros bag --replay: camera {name}: {c.frames_compared} frames compared, "
            f"objects {c.objects}, lowest mask IoU {c.lowest_mask_iou:.6f}, largest score "
            f"difference {c.largest_score_difference:.2e}, events applied {c.events_applied}"
            + (f" ({c.events_left} never applied)" if c.events_left else "")
            + f"; first difference: {c.first_difference or 'none'}"
        )
    if args.replay_report:
        report_data = {name: asdict(c) for name, c in comparisons.items()}
        args.replay_report.write_text(json.dumps({"differs": differs, "cameras": report_data}))
    print(f"sam2-ros bag --replay: {'DIFFERS from' if differs else 'reproduces'} the recording")
    return 1 if differs else 0
