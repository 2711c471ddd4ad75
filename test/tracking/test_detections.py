"""Detection messages driving the engine: they wait for their frame, land on it (late == timely),
see objects started by earlier late messages, and forget detector objects, not clicked ones;
with the rules on, new objects are published only once confirmed and one of two objects on one
region goes.

Real SAM 2 modules with seeded random weights at 128 px on the generated scene; random weights
give masks over most of the frame, so pairing is driven with boxes read back from the engine
(which pair with those masks), and a box of the scene's objects pairs with none of them. The
tests from before the rules run with them off (``confirm_hits`` 1, ``duplicates.frames`` 0),
which is what the node did then."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sam2_ros.engine import StreamingPredictor
from sam2_ros.geometry.boxes import mask_box
from sam2_ros.tracking.association import REFUSED_NOT_FINITE, AssociationSettings, Detection
from sam2_ros.tracking.detections import (
    DROPPED_TOO_OLD,
    DROPPED_WAITED,
    QUEUE_SIZE,
    DetectedObjects,
    DetectionMessage,
)
from sam2_ros.tracking.duplicates import DuplicateSettings
from sam2_ros.tracking.frame_stamps import TrackedFrames

T0 = 1_000 * 10**9
PERIOD = 100_000_000
HISTORY = 6


def stamp(index: int) -> int:
    return T0 + index * PERIOD


def box_detection(box, class_id: str, score: float = 0.9) -> Detection:
    return Detection.from_box(box, class_id, score)


class Stream:
    """A predictor fed the scene, its frames' stamps and its detected objects."""

    def __init__(self, model, scene, duplicate_frames=0, **settings):
        self.scene = scene
        self.predictor = StreamingPredictor(model=model, max_objects=4, history_frames=HISTORY)
        self.labels: dict[int, str] = {}
        self.tracked = TrackedFrames(HISTORY)
        self.detected = DetectedObjects(
            self.predictor,
            self.labels,
            self.tracked,
            AssociationSettings(**{"confirm_hits": 1, **settings}),
            DuplicateSettings(frames=duplicate_frames),
        )
        self.removed: list = []  # duplicates removed after tracked frames

    def track(self, index: int):
        result = self.predictor.track(self.scene.frame(index))
        self.tracked.add(stamp(index), result.frame_index)
        self.removed += self.detected.frame_tracked(result)
        self.published = self.detected.published(result).object_ids
        return self.detected.apply_due()

    def engine_boxes(self, index: int, labels) -> list[Detection]:
        """Detections of the objects' own mask boxes on frame ``index`` (what pairs with them)."""
        result = self.predictor.result(self.tracked.find(stamp(index)))
        masks = zip(result.masks, labels, strict=False)
        return [box_detection(mask_box(mask), label) for mask, label in masks]

    def detect(self, index: int, *detections: Detection):
        assert self.detected.add(DetectionMessage(stamp(index), detections)) is None
        return self.detected.apply_due()


def scene_detections(scene, index: int) -> list[Detection]:
    return [box_detection(scene.box(name, index), name) for name in ("crate", "ball")]


def test_a_late_message_lands_on_its_frame_as_a_timely_one(small_model, scene):
    late = Stream(small_model, scene, forget_after=0)
    for index in range(5):
        late.track(index)
    (outcome,) = late.detect(2, *scene_detections(scene, 2))
    assert outcome.frame_index == 2 and outcome.started == [(1, "crate"), (2, "ball")]
    late.track(5)
    timely = StreamingPredictor(model=small_model, max_objects=4, history_frames=HISTORY)
    for index in range(6):
        timely.track(scene.frame(index))
        if index == 2:
            for detection in scene_detections(scene, 2):
                timely.add_prompt(box=list(detection.box))
    ours, reference = late.predictor.result(), timely.result()
    assert ours.object_ids == reference.object_ids == [1, 2]
    np.testing.assert_allclose(ours.mask_logits, reference.mask_logits, atol=1e-4, rtol=0)
    assert late.labels == {1: "crate", 2: "ball"}


def test_a_later_late_message_pairs_with_objects_an_earlier_one_started(small_model, scene):
    stream = Stream(small_model, scene)
    for index in range(5):
        stream.track(index)
    stream.detect(2, *scene_detections(scene, 2))
    on_frame_3 = stream.predictor.result(stream.tracked.find(stamp(3)))
    again = [
        box_detection(mask_box(mask), label)
        for mask, label in zip(on_frame_3.masks, ("crate", "ball"), strict=True)
    ]
    (outcome,) = stream.detect(3, *again)
    assert outcome.matched == 2 and outcome.started == [] and outcome.reconditioned == []
    assert stream.predictor.object_ids == [1, 2]


def test_messages_wait_for_their_frame_and_old_ones_are_dropped(small_model, scene):
    stream = Stream(small_model, scene)
    for index in range(HISTORY + 2):
        stream.track(index)
    (old,) = stream.detect(0, *scene_detections(scene, 0))
    assert old.frame_index is None and old.dropped == {DROPPED_TOO_OLD: 2}
    assert "(oldest)" in old.problem and stream.predictor.object_ids == []
    future = HISTORY + 2
    assert stream.detect(future, *scene_detections(scene, future)) == []  # not tracked yet
    (outcome,) = stream.track(future)
    assert outcome.frame_index == stream.predictor.frame_index and len(outcome.started) == 2


def test_a_full_queue_pushes_the_oldest_message_out(small_model, scene):
    stream = Stream(small_model, scene)
    stream.track(0)
    for index in range(1, QUEUE_SIZE + 1):
        assert stream.detected.add(DetectionMessage(stamp(index), ())) is None
    pushed = stream.detected.add(DetectionMessage(stamp(QUEUE_SIZE + 1), ()))
    assert pushed.stamp == stamp(1) and DROPPED_WAITED in pushed.problem


def test_a_skipped_frame_lands_on_the_nearest_tracked_one(small_model, scene):
    stream = Stream(small_model, scene)
    for index in (0, 2, 4, 6):  # the node skipped every other camera frame
        stream.track(index)
    (outcome,) = stream.detect(3, *scene_detections(scene, 3))
    assert stream.tracked.stamp_of(outcome.frame_index) in (stamp(2), stamp(4))


def test_detector_objects_are_forgotten_and_clicked_ones_stay(small_model, scene):
    stream = Stream(small_model, scene, forget_after=2)
    stream.track(0)
    clicked = stream.predictor.add_prompt(points=[scene.center("pillar", 0)], labels=[1])
    (outcome,) = stream.detect(0, box_detection(scene.box("crate", 0), "crate"))
    ((crate_id, label),) = outcome.started
    assert label == stream.labels[crate_id] == "crate" and crate_id != clicked.object_id
    stream.track(1)
    (first,) = stream.detect(1)  # a message with no detection: nothing pairs with the crate
    assert first.forgotten == [] and crate_id in stream.predictor.object_ids
    stream.track(2)
    (second,) = stream.detect(2)
    assert second.forgotten == [(crate_id, "crate")]
    assert stream.predictor.object_ids == [clicked.object_id] and crate_id not in stream.labels


def test_unusable_boxes_are_counted_and_the_others_start(small_model, scene):
    stream = Stream(small_model, scene)
    stream.track(0)
    broken = Detection(math.nan, 10.0, 20.0, 20.0, "ball", 0.9)
    (outcome,) = stream.detect(0, broken, box_detection(scene.box("ball", 0), "ball"))
    assert outcome.dropped == {REFUSED_NOT_FINITE: 1} and [
        label for _, label in outcome.started
    ] == ["ball"]


@pytest.mark.parametrize("reset", ["clear", "removed"])
def test_bookkeeping_follows_removals_and_resets(small_model, scene, reset):
    stream = Stream(small_model, scene, forget_after=1)
    stream.track(0)
    (outcome,) = stream.detect(0, box_detection(scene.box("ball", 0), "ball"))
    (object_id, _) = outcome.started[0]
    stream.predictor.remove_object(object_id)
    if reset == "clear":
        stream.predictor.reset()
        stream.tracked.clear()
        stream.detected.clear()
    else:
        stream.detected.removed(object_id)
    stream.track(1)
    (empty,) = stream.detect(1)
    assert empty.forgotten == []  # the removed object is not forgotten a second time


def test_a_one_message_ghost_is_never_published_and_is_removed(small_model, scene):
    stream = Stream(small_model, scene, confirm_hits=3, confirm_window=5)
    stream.track(0)
    (start,) = stream.detect(0, box_detection((4, 4, 40, 40), "ghost"))
    ((ghost, _),) = start.started
    outcomes = []
    for index in range(1, 5):  # four more messages: nothing pairs with the ghost's mask
        stream.track(index)
        assert ghost not in stream.published
        outcomes += stream.detect(index)
    assert [o.unconfirmed for o in outcomes] == [[], [], [], [(ghost, "ghost")]]
    assert (
        ghost not in stream.predictor.object_ids
        and "removed unconfirmed object" in (outcomes[-1].changes(stream.detected.settings)[0])
    )


def test_a_real_object_is_published_from_its_confirming_message_with_its_first_id(
    small_model, scene
):
    stream = Stream(small_model, scene, confirm_hits=3, confirm_window=5)
    stream.track(0)
    (start,) = stream.detect(0, box_detection(scene.box("ball", 0), "ball"))
    ((ball, _),) = start.started
    confirmed = []
    for index in range(1, 4):
        stream.track(index)
        assert (ball in stream.published) is bool(confirmed)
        (outcome,) = stream.detect(index, *stream.engine_boxes(index, ["ball"]))
        confirmed += outcome.confirmed
        assert (confirmed == [(ball, "ball")]) is (index >= 2)  # the start and two more hits
    stream.track(4)
    assert stream.published == [ball] == stream.predictor.object_ids


def test_two_objects_on_one_region_end_as_one_and_the_clicked_one_stays(small_model, scene):
    stream = Stream(small_model, scene, duplicate_frames=3)
    stream.track(0)
    clicked = stream.predictor.add_prompt(points=[scene.center("pillar", 0)], labels=[1])
    stream.track(1)
    (outcome,) = stream.detect(1, box_detection(scene.box("crate", 1), "crate"))
    ((crate, _),) = outcome.started  # published at once (confirm_hits 1); masks both the frame
    for index in range(2, 5):
        stream.track(index)
    (duplicate,) = stream.removed
    assert (duplicate.removed, duplicate.kept, duplicate.frames) == (crate, clicked.object_id, 3)
    assert stream.predictor.object_ids == [clicked.object_id] and crate not in stream.labels


def test_a_new_object_on_a_published_one_is_removed_before_it_is_published(small_model, scene):
    stream = Stream(small_model, scene, duplicate_frames=3, confirm_hits=3)
    stream.track(0)
    clicked = stream.predictor.add_prompt(points=[scene.center("pillar", 0)], labels=[1])
    (outcome,) = stream.detect(0, box_detection(scene.box("crate", 0), "crate"))
    ((crate, _),) = outcome.started
    stream.track(1)
    (duplicate,) = stream.removed
    assert (duplicate.removed, duplicate.frames) == (crate, 0)
    assert stream.published == stream.predictor.object_ids == [clicked.object_id]
