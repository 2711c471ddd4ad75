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

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sam2_ros.commands.bag.bag_io import (
    IMAGE_TYPES,
    BagError,
    open_reader,
    open_writer,
    output_connections,
    sam2_ros_typestore,
    write_outputs,
)
from sam2_ros.commands.bag.options import ReplaySettings
from sam2_ros.engine import Sam2Model, StreamingPredictor, load_model
from sam2_ros.messages.events import from_event_msg
from sam2_ros.messages.images import ImageConversionError, message_to_rgb, ros_header
from sam2_ros.parameters.declarations import ParameterError
from sam2_ros.parameters.node_params import NodeParams, parse
from sam2_ros.tracking.camera_session import CameraSession, SessionEvent
from sam2_ros.tracking.frame_stamps import Timelines, stamp_ns

SESSION_TYPE = "sam2_ros/msg/TrackingSession"
EVENT_TYPE = "sam2_ros/msg/TrackingEvent"
MASKS_TYPE = "sam2_ros/msg/ObjectMasks"


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


def replay_settings(session: RecordedSession, overrides: tuple[str, ...]) -> NodeParams:
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


def load_replay_model(
    settings: ReplaySettings, session: RecordedSession, params: NodeParams
) -> Sam2Model:
    """The recorded model with ``--checkpoint``; BagError naming every difference from the
    recording (weights, config, image size, precision)."""
    model = load_model(
        params.engine_settings(),
        checkpoint=settings.checkpoint,
        device=settings.device,
        allow_random_weights=settings.checkpoint is None and params.allow_random_weights,
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
        name: str,
        params: NodeParams,
        model: Sam2Model,
        recorded: dict[tuple[int, int], Any],
        events: list[SessionEvent],
        connections: dict[str, Any],
        min_iou: float,
    ) -> None:
        self.name, self._params, self._min_iou = name, params, min_iou
        self.session = CameraSession(
            StreamingPredictor(params.engine_settings(), model=model),
            time_jumps=params.time_jumps,
        )
        self._recorded, self._events, self._connections = recorded, events, connections
        self._timelines = Timelines(params.time_jumps.tolerance)  # of the camera's input
        self._next = 0
        self.comparison = CameraComparison()
        self._apply_due(before_output=False)  # what the node did before its first frame

    def frame(self, writer: Any, message: Any, timestamp: int) -> None:
        """An input frame: tracked, written and compared when the node tracked it."""
        stamp = stamp_ns(message.header.stamp)
        key = (self._timelines.of(stamp), stamp)  # a stamp may come again after a jump back
        if key not in self._recorded:
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
            self._compare(key, result.frame_index, messages["masks"])

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
        answer = self.session.apply(event)
        if answer is not None and answer.object_id != event.object_id:
            self._differ(f"a prompt made object {answer.object_id}, live {event.object_id}")

    def _compare(self, key: tuple[int, int], frame_index: int, ours: Any) -> None:
        recorded = self._recorded[key]
        stamp = key[1]
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
            if iou < self._min_iou:
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


def replay(settings: ReplaySettings, source: Path, output: Path) -> dict[str, CameraComparison]:
    """Replay the recording ``source`` into ``output``; each camera's comparison."""
    typestore = sam2_ros_typestore()
    reader = open_reader(source, typestore)
    try:
        session = read_session(reader, settings.node)
        params = replay_settings(session, settings.overrides)
        model = load_replay_model(settings, session, params)
        with open_writer(output, settings.storage) as writer:
            return _replay_cameras(reader, writer, typestore, session, params, model, settings)
    finally:
        reader.close()


def _replay_cameras(
    reader: Any,
    writer: Any,
    typestore: Any,
    session: RecordedSession,
    params: NodeParams,
    model: Sam2Model,
    settings: ReplaySettings,
) -> dict[str, CameraComparison]:
    """Each recorded camera tracked again over its recorded frames, in bag order; their
    comparisons."""
    cameras: dict[str, CameraReplay] = {}
    routes: dict[int, list[CameraReplay]] = {}
    for name, topic in session.cameras:
        events = [
            from_event_msg(msg)
            for msg in _messages(reader, f"/{session.node}/{name}/events", EVENT_TYPE)
        ]
        timelines = Timelines(params.time_jumps.tolerance)
        recorded = {
            (timelines.of(stamp_ns(msg.header.stamp)), stamp_ns(msg.header.stamp)): msg
            for msg in _messages(reader, f"/{session.node}/{name}/masks", MASKS_TYPE)
        }
        connections = output_connections(writer, typestore, name)
        cameras[name] = CameraReplay(
            name, params, model, recorded, events, connections, settings.min_iou
        )
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


def report(settings: ReplaySettings, comparisons: dict[str, CameraComparison]) -> int:
    """Print each camera's comparison (and write them as JSON); 1 when anything differs."""
    differs = any(c.differs(settings.min_iou) for c in comparisons.values())
    for name, c in comparisons.items():
        print(
            f"sam2-ros bag --replay: camera {name}: {c.frames_compared} frames compared, "
            f"objects {c.objects}, lowest mask IoU {c.lowest_mask_iou:.6f}, largest score "
            f"difference {c.largest_score_difference:.2e}, events applied {c.events_applied}"
            + (f" ({c.events_left} never applied)" if c.events_left else "")
            + f"; first difference: {c.first_difference or 'none'}"
        )
    if settings.report:
        report_data = {name: asdict(c) for name, c in comparisons.items()}
        settings.report.write_text(json.dumps({"differs": differs, "cameras": report_data}))
    print(f"sam2-ros bag --replay: {'DIFFERS from' if differs else 'reproduces'} the recording")
    return 1 if differs else 0
