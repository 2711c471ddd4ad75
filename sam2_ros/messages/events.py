"""A camera session's events and the node's session as messages (``~/<camera>/events``,
``~/session``), and back: the node publishes them, ``sam2-ros bag --replay`` reads them."""

from __future__ import annotations

import json
from typing import Any

from geometry_msgs.msg import Point32

from sam2_ros.msg import TrackingEvent, TrackingSession
from sam2_ros.tracking.camera_session import EventKind, EventSource, SessionEvent
from sam2_ros.tracking.frame_stamps import stamp_ns


def _time(msg_time: Any, nanoseconds: int) -> Any:
    msg_time.sec, msg_time.nanosec = divmod(int(nanoseconds), 1_000_000_000)
    return msg_time


def to_event_msg(event: SessionEvent, camera_name: str, sequence: int) -> TrackingEvent:
    """The message of a camera's ``sequence``-th event."""
    msg = TrackingEvent(
        camera_name=camera_name,
        sequence=sequence,
        kind=event.kind.value,
        source=event.source.value,
        before_output=event.before_output,
        object_id=event.object_id,
        points=[Point32(x=float(x), y=float(y), z=0.0) for x, y in event.points],
        labels=list(event.labels),
        use_box=event.box is not None,
        box=[float(v) for v in (event.box or (0.0, 0.0, 0.0, 0.0))],
        label=event.label,
        detail=event.detail,
        object_ids=list(event.object_ids),
    )
    _time(msg.header.stamp, event.applied_after)
    _time(msg.landed_on, event.landed_on)
    return msg


def from_event_msg(msg: Any) -> SessionEvent:
    """The event of a message (as recorded: rclpy's or rosbags' deserialised form)."""
    return SessionEvent(
        kind=EventKind(str(msg.kind)),
        source=EventSource(str(msg.source)),
        applied_after=stamp_ns(msg.header.stamp),
        before_output=bool(msg.before_output),
        landed_on=stamp_ns(msg.landed_on),
        object_id=int(msg.object_id),
        points=tuple((float(p.x), float(p.y)) for p in msg.points),
        labels=tuple(int(v) for v in msg.labels),
        box=tuple(float(v) for v in msg.box) if msg.use_box else None,
        label=str(msg.label),
        detail=str(msg.detail),
        object_ids=tuple(int(v) for v in msg.object_ids),
    )


def to_session_msg(
    node_name: str,
    model: Any,
    parameters: dict[str, Any],
    cameras: list[tuple[str, str]],
    stamp_nanoseconds: int,
) -> TrackingSession:
    """What a node runs: its model (``Sam2Model``), every parameter, each camera's name and
    image topic."""
    msg = TrackingSession(
        node_name=node_name,
        model_cfg=model.model_cfg,
        image_size=int(model.image_size),
        precision=model.precision,
        backend=model.backend,
        weights_fingerprint=model.weights_fingerprint(),
        parameters_json=json.dumps(parameters, sort_keys=True),
        camera_names=[name for name, _ in cameras],
        image_topics=[topic for _, topic in cameras],
    )
    _time(msg.header.stamp, stamp_nanoseconds)
    return msg
