"""One camera session: the per-frame order as one explicit choice, clicks waiting for their frame,
a failed frame's fallback, an event for every change to the objects, stamped with where it was
applied, and a recording of them applied again (the real engine at 128 px)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_live

from sam2_ros.engine import FrameError, StreamingPredictor
from sam2_ros.tracking.association import AssociationSettings, Detection
from sam2_ros.tracking.camera_session import CameraSession, EventKind, EventSource
from sam2_ros.tracking.detections import DROPPED_TIME_JUMP, DetectionMessage
from sam2_ros.tracking.frame_stamps import StampNotHeldError, TimeJumpSettings

PERIOD = 100_000_000


def _session(small_model, events: list) -> CameraSession:
    return CameraSession(
        StreamingPredictor(model=small_model, history_frames=4), on_event=events.append
    )


def test_a_frames_output_comes_before_or_after_the_prompts_due_on_it(small_model, scene):
    shown = {}
    for output_first in (True, False):
        session = _session(small_model, [])
        outputs = []

        def due(session=session) -> None:
            session.prompt(
                None, [scene.center("ball", 0)], [1], None, "ball", None, EventSource.SERVICE
            )

        session.step(scene.frame(0), PERIOD, outputs.append, due, output_first=output_first)
        shown[output_first] = outputs[0].object_ids
    assert shown == {
        True: [],
        False: [1],
    }  # live: after the frame's outputs; a prompts file: before


def test_every_change_is_an_event_stamped_where_it_was_applied(small_model, scene):
    events = []
    session = _session(small_model, events)
    session.step(scene.frame(0), 1 * PERIOD, lambda result: None)
    ball = scene.center("ball", 0)
    session.prompt(None, [ball], [1], None, "ball", None, EventSource.IMAGE_CLICK)
    session.step(scene.frame(1), 2 * PERIOD, lambda result: None)
    late = [scene.center("crate", 0)]
    session.prompt(None, late, [1], None, "", 0, EventSource.SERVICE)  # late
    session.remove(1, EventSource.SERVICE)
    session.forget(EventSource.LIFECYCLE)
    kinds = [(e.kind, e.source, e.applied_after, e.landed_on, e.object_id) for e in events]
    assert kinds == [
        ("prompt", "image click", 1 * PERIOD, 1 * PERIOD, 1),
        ("prompt", "service", 2 * PERIOD, 1 * PERIOD, 2),
        ("remove", "service", 2 * PERIOD, 0, 1),
        ("forget", "lifecycle", 2 * PERIOD, 0, 0),  # the frame it forgot, not none
    ]
    assert events[0].points == (tuple(float(v) for v in scene.center("ball", 0)),)
    assert events[0].label == "ball" and events[0].detail == "new object"
    assert session.tracked.newest_stamp() is None and session.object_ids == []


def test_clicks_wait_in_the_session_for_the_frame_they_were_made_on(small_model, scene):
    """A click on a frame not tracked yet waits; once it is, the click lands on it (or on the
    newest frame before it), reported with its object, after that frame's outputs."""
    outcomes, events = [], []
    session = CameraSession(
        StreamingPredictor(model=small_model, history_frames=4),
        on_event=events.append,
        on_click=outcomes.append,
    )
    session.step(scene.frame(0), 1 * PERIOD, lambda result: None)
    session.click(*scene.center("ball", 1), EventSource.IMAGE_CLICK, seen_stamp=2 * PERIOD)
    session.apply_due_clicks()  # its frame is not tracked yet
    assert outcomes == [] and session.object_ids == []
    shown = []
    session.step(scene.frame(1), 2 * PERIOD, lambda result: shown.append(result.object_ids))
    assert shown == [[]]  # published before the click made on it is applied
    (outcome,) = outcomes
    assert outcome.answer.object_id == 1 and outcome.stamp == 2 * PERIOD and not outcome.refused
    assert [(e.kind, e.source, e.landed_on) for e in events] == [
        (EventKind.PROMPT, EventSource.IMAGE_CLICK, 2 * PERIOD)
    ]
    session.click(-5.0, 10.0, EventSource.OVERLAY_CLICK, seen_stamp=None)
    session.apply_due_clicks()
    assert "outside" in outcomes[-1].refused and session.object_ids == [1]
    session.click(*scene.center("crate", 1), EventSource.IMAGE_CLICK, seen_stamp=9 * PERIOD)
    session.forget(EventSource.SERVICE)  # waiting clicks belong to what was forgotten
    session.step(scene.frame(2), 10 * PERIOD, lambda result: None)
    assert len(outcomes) == 2 and session.object_ids == []


def test_a_failed_frame_still_lets_waiting_clicks_through(small_model, scene):
    """Clicks due when a frame fails are applied anyway; one made on the failed frame lands on
    the newest tracked frame before it once a later frame is tracked."""
    outcomes = []
    session = CameraSession(
        StreamingPredictor(model=small_model, history_frames=4), on_click=outcomes.append
    )
    session.step(scene.frame(0), 1 * PERIOD, lambda result: None)
    session.click(*scene.center("ball", 0), EventSource.RVIZ_CLICK, seen_stamp=None)
    session.click(*scene.center("crate", 0), EventSource.IMAGE_CLICK, seen_stamp=2 * PERIOD)
    with pytest.raises(FrameError):
        session.step(np.zeros((0, 0, 3), np.uint8), 2 * PERIOD, lambda result: None)
    assert [(o.answer.object_id, o.stamp) for o in outcomes] == [(1, 1 * PERIOD)]
    session.frame_lost()  # a frame that could not even be decoded: the other click still waits
    assert len(outcomes) == 1
    session.step(scene.frame(1), 3 * PERIOD, lambda result: None)
    assert [(o.answer.object_id, o.stamp) for o in outcomes] == [(1, PERIOD), (2, PERIOD)]


def test_recorded_events_applied_again_reproduce_the_session(small_model, scene):
    events = []
    live = _session(small_model, events)
    replayed = _session(small_model, [])
    frames = [scene.frame(index) for index in range(4)]
    live.step(frames[0], 1 * PERIOD, lambda result: None)
    live.prompt(None, [scene.center("ball", 0)], [1], None, "ball", None, EventSource.SERVICE)
    live.prompt(None, [], [], scene.box("crate", 0), "crate", None, EventSource.DETECTOR)
    live.step(frames[1], 2 * PERIOD, lambda result: None)
    live.prompt(1, [scene.center("ball", 0)], [0], None, "", 0, EventSource.IMAGE_CLICK)
    live.emit(EventKind.PUBLISHED, EventSource.DETECTOR, object_ids=(2,))
    live.emit(EventKind.LABEL, EventSource.DETECTOR, object_id=2, label="box")
    live.step(frames[2], 3 * PERIOD, lambda result: None)
    live.remove(1, EventSource.SERVICE)
    for index, frame in enumerate(frames[:3]):
        replayed.step(frame, (index + 1) * PERIOD, lambda result: None)
        for event in [e for e in events if e.applied_after == (index + 1) * PERIOD]:
            answer = replayed.apply(event)
            assert answer is None or answer.object_id == event.object_id
        if index == 1:  # the recorded "published" event hides object 1
            assert replayed.object_ids == [1, 2] and replayed.published_ids == [2]
    assert replayed.object_ids == live.object_ids == [2]
    assert replayed.labels == {2: "box"} and replayed.published_ids == [2]
    ours, theirs = [], []
    for session, shown in ((replayed, ours), (live, theirs)):
        session.step(frames[3], 4 * PERIOD, shown.append)
    assert_live(theirs[0], "on the last frame")
    assert np.array_equal(ours[0].masks, theirs[0].masks)
    assert np.array_equal(ours[0].mask_logits, theirs[0].mask_logits)


SECOND = 1_000_000_000


def _stamp(seconds: float) -> int:
    return round(seconds * SECOND)


def _box_detection(scene, name: str, index: int) -> Detection:
    x0, y0, x1, y1 = scene.box(name, index)
    return Detection((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, "thing", 0.95)


def _jumping_session(small_model, events, jumps, outcomes, reset=False) -> CameraSession:
    return CameraSession(
        StreamingPredictor(model=small_model, history_frames=30),
        AssociationSettings(confirm_hits=1),
        on_event=events.append,
        on_time_jump=jumps.append,
        on_outcome=outcomes.append,
        time_jumps=TimeJumpSettings(tolerance=_stamp(0.1), reset=reset),
    )


def test_stamps_going_back_start_a_new_timeline_and_drop_what_waited(small_model, scene):
    """Frames stamped 100.0-100.9 then 100.0-100.2 again (other images): the jump is an event,
    objects are kept, what waited for old frames is dropped, stamps name only new frames."""
    events, jumps, outcomes = [], [], []
    session = _jumping_session(small_model, events, jumps, outcomes)
    for index in range(10):
        session.frame_received(_stamp(100 + index / 10))
        session.step(scene.frame(index), _stamp(100 + index / 10), lambda result: None)
        if index == 0:
            session.prompt(
                None, [scene.center("ball", 0)], [1], None, "", None, EventSource.SERVICE
            )
    session.click(*scene.center("crate", 9), EventSource.IMAGE_CLICK, _stamp(101.0))
    session.add_detections(DetectionMessage(_stamp(101.0), (_box_detection(scene, "crate", 9),)))
    shown = []
    for index in range(3):  # the second pass: frames 20.. of the scene
        session.frame_received(_stamp(100 + index / 10))
        session.step(scene.frame(20 + index), _stamp(100 + index / 10), shown.append)
    (jump,) = jumps
    assert (jump.jump.from_stamp, jump.jump.to_stamp) == (_stamp(100.9), _stamp(100.0))
    assert (jump.reset, jump.clicks_dropped, jump.detections_dropped) == (False, 1, 1)
    assert [o.problem.split(":")[0] for o in outcomes] == [DROPPED_TIME_JUMP]
    assert [r.object_ids for r in shown] == [[1]] * 3  # the object carries on
    kinds = [(e.kind, e.source, e.applied_after, e.landed_on, e.detail) for e in events]
    assert kinds[-1] == (
        EventKind.TIME_JUMP,
        EventSource.CAMERA,
        _stamp(100.9),
        _stamp(100.0),
        "objects kept",
    )
    answer, landed = session.prompt(
        None,
        [scene.center("pillar", 21)],
        [1],
        None,
        "",
        session.tracked.find(_stamp(100.1)),
        EventSource.SERVICE,
    )
    assert landed == _stamp(100.1) and answer.frame_index == 11  # the second pass's frame
    with pytest.raises(StampNotHeldError, match=r"went back from 100\.900000000 to 100\.000000000"):
        session.tracked.find(_stamp(100.6))
    # a detection of the old timeline arriving now (later than any frame received since) starts
    # nothing; one of the new timeline waits for its frame
    session.add_detections(DetectionMessage(_stamp(100.7), (_box_detection(scene, "crate", 9),)))
    assert outcomes[-1].problem.startswith(DROPPED_TIME_JUMP) and len(outcomes) == 2
    session.add_detections(DetectionMessage(_stamp(100.25), ()))
    assert len(outcomes) == 2 and session.object_ids == [1, 2]


def test_reset_on_time_jump_forgets_the_cameras_objects(small_model, scene):
    events, jumps, outcomes = [], [], []
    session = _jumping_session(small_model, events, jumps, outcomes, reset=True)
    session.step(scene.frame(0), _stamp(5.0), lambda result: None)
    session.prompt(None, [scene.center("ball", 0)], [1], None, "", None, EventSource.SERVICE)
    session.step(scene.frame(1), _stamp(5.1), lambda result: None)
    shown = []
    session.step(scene.frame(2), _stamp(1.0), shown.append)
    assert jumps[0].reset and events[-1].detail == "objects reset"
    assert shown[0].object_ids == [] and session.object_ids == []
    # replayed: the recorded jump, applied where it was made, does the same
    replayed = _jumping_session(small_model, [], [], [], reset=True)
    replayed.step(scene.frame(0), _stamp(5.0), lambda result: None)
    replayed.apply(events[0])
    replayed.step(scene.frame(1), _stamp(5.1), lambda result: None)
    replayed.apply(events[-1])
    assert replayed.object_ids == [] and replayed.tracked.timeline == 1
    replayed.step(scene.frame(2), _stamp(1.0), lambda result: None)
    assert replayed.tracked.timeline == 1  # applied, not detected a second time
