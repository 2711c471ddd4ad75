"""One camera session: the per-frame order as one explicit choice, and an event for every change
to the objects, stamped with where it was applied (the real engine at 128 px)."""

from __future__ import annotations

from sam2_ros.engine import StreamingPredictor
from sam2_ros.tracking.camera_session import CameraSession

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
            session.prompt(None, [scene.center("ball", 0)], [1], None, "ball", None, "service")

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
    session.prompt(None, [scene.center("ball", 0)], [1], None, "ball", None, "image click")
    session.step(scene.frame(1), 2 * PERIOD, lambda result: None)
    session.prompt(None, [scene.center("crate", 0)], [1], None, "", 0, "service")  # late
    session.remove(1, "service")
    session.forget("lifecycle")
    kinds = [(e.kind, e.source, e.applied_after, e.landed_on, e.object_id) for e in events]
    assert kinds == [
        ("prompt", "image click", 1 * PERIOD, 1 * PERIOD, 1),
        ("prompt", "service", 2 * PERIOD, 1 * PERIOD, 2),
        ("remove", "service", 2 * PERIOD, 0, 1),
        ("forget", "lifecycle", 2 * PERIOD, 0, 0),  # the frame it forgot, not none
    ]
    assert events[0].points == (tuple(float(v) for v in scene.center("ball", 0)),)
    assert events[0].label == "ball" and events[0].detail == "new object"
    assert session.tracked.newest_stamp() is None and session.predictor.object_ids == []
