"""A camera session's events as TrackingEvent messages and back: kinds and sources are the
session's enums, written as their text."""

from __future__ import annotations

import pytest

from sam2_ros.messages.events import from_event_msg, to_event_msg
from sam2_ros.tracking.camera_session import EventKind, EventSource, SessionEvent


def test_an_event_survives_its_message():
    event = SessionEvent(
        EventKind.PROMPT,
        EventSource.OVERLAY_CLICK,
        applied_after=1_700_000_000_250_000_000,
        before_output=True,
        landed_on=1_700_000_000_150_000_000,
        object_id=3,
        points=((10.0, 20.5),),
        labels=(1,),
        box=(1.0, 2.0, 30.0, 40.0),
        label="cup",
        detail="new object",
        object_ids=(1, 3),
    )
    msg = to_event_msg(event, "front", 7)
    assert (msg.kind, msg.source, msg.sequence, msg.camera_name) == (
        "prompt",
        "overlay click",
        7,
        "front",
    )
    again = from_event_msg(msg)
    assert again == event
    assert again.kind is EventKind.PROMPT and again.source is EventSource.OVERLAY_CLICK


def test_every_kind_and_source_is_written_as_its_text():
    for kind in EventKind:
        for source in EventSource:
            msg = to_event_msg(SessionEvent(kind, source, 0), "camera", 1)
            assert (msg.kind, msg.source) == (kind.value, source.value)
            assert from_event_msg(msg) == SessionEvent(kind, source, 0)


def test_an_unknown_kind_is_refused():
    msg = to_event_msg(SessionEvent(EventKind.REMOVE, EventSource.SERVICE, 0), "camera", 1)
    msg.kind = "teleport"
    with pytest.raises(ValueError, match="teleport"):
        from_event_msg(msg)
