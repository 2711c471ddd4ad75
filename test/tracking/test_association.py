"""Detections against tracked objects on constructed boxes: optimal pairing, thresholds, class
rules, re-prompting rate, forgetting, max_objects and refused boxes."""

from __future__ import annotations

import math

import pytest

from sam2_ros.tracking.association import (
    IGNORED_CLASS,
    IGNORED_LOW_SCORE,
    REFUSED_NO_AREA,
    REFUSED_NO_CLASS,
    REFUSED_NOT_FINITE,
    REFUSED_OFF_IMAGE,
    REFUSED_ROTATED,
    SKIPPED_MAX_OBJECTS,
    AssociationSettings,
    Detection,
    TrackedObject,
    associate,
)

IMAGE = (640, 480)
FRAME = 40


def det(x0, y0, x1, y1, class_id="cup", score=0.9) -> Detection:
    return Detection.from_box((x0, y0, x1, y1), class_id, score)


def obj(object_id, box, label="", from_detections=False, unmatched=0, last_prompted=None):
    return TrackedObject(object_id, box, label, from_detections, unmatched, last_prompted)


def plan_for(detections, objects, **settings):
    return associate(detections, objects, FRAME, IMAGE, AssociationSettings(**settings))


def test_pairing_maximises_total_iou_where_greedy_does_not():
    """Greedy takes the best pair (A, 1: IoU 1.0) first and leaves B without an object (its IoU
    with 2 is below the threshold): total 1.0. The optimum pairs A with 2 (0.67) and B with 1
    (0.82): total 1.48."""
    objects = [obj(1, (10, 0, 20, 10)), obj(2, (12, 0, 22, 10))]
    detections = [det(10, 0, 20, 10), det(9, 0, 19, 10)]
    plan = plan_for(detections, objects, match_iou=0.6)
    assert {(m.detection, m.object_id) for m in plan.matches} == {(0, 2), (1, 1)}
    assert sum(m.iou for m in plan.matches) == pytest.approx(8 / 12 + 9 / 11)
    assert plan.start == []


def test_below_the_match_threshold_a_confident_detection_starts_an_object():
    objects = [obj(1, (0, 0, 100, 100))]
    plan = plan_for([det(50, 50, 150, 150), det(300, 300, 340, 340, score=0.3)], objects)
    assert plan.matches == [] and plan.start == [0]  # IoU 1/7 < 0.4
    assert plan.dropped == {IGNORED_LOW_SCORE: 1}
    assert plan_for([det(20, 0, 100, 100)], objects).matches[0].object_id == 1  # IoU 0.8


def test_labelled_objects_pair_only_with_their_class_and_unlabelled_ones_adopt_it():
    cup, unlabelled = obj(1, (0, 0, 100, 100), label="cup"), obj(2, (200, 0, 300, 100))
    plan = plan_for(
        [det(0, 0, 100, 100, "person"), det(200, 0, 300, 100, "bottle")], [cup, unlabelled]
    )
    assert [(m.detection, m.object_id, m.adopt_label) for m in plan.matches] == [(1, 2, "bottle")]
    assert plan.start == [0]  # a person exactly over the cup is another object
    same_class = plan_for([det(0, 0, 100, 100, "cup")], [cup])
    assert same_class.matches[0].adopt_label is None


def test_classes_not_allowed_are_ignored():
    plan = plan_for(
        [det(0, 0, 100, 100, "person"), det(200, 0, 300, 100, "cup")],
        [],
        classes=frozenset({"cup"}),
    )
    assert plan.start == [1] and plan.dropped == {IGNORED_CLASS: 1}


@pytest.mark.parametrize(
    ("last_prompted", "score", "recondition"),
    [
        (None, 0.9, True),  # a clicked object, never prompted by a detection
        (FRAME - 16, 0.9, True),
        (FRAME - 15, 0.9, False),  # prompted 15 frames ago: wait for the 16th
        (None, 0.4, False),  # not confident
    ],
)
def test_disagreeing_boxes_recondition_at_most_every_n_frames(last_prompted, score, recondition):
    drifted = obj(1, (0, 0, 100, 100), last_prompted=last_prompted)
    plan = plan_for([det(0, 0, 100, 60, score=score)], [drifted], recondition_frames=16)
    (match,) = plan.matches  # IoU 0.6: paired, below recondition_iou 0.7
    assert match.iou == pytest.approx(0.6) and match.recondition is recondition
    assert [m.object_id for m in plan.reconditioned] == ([1] if recondition else [])


def test_agreeing_boxes_are_not_reconditioned():
    plan = plan_for([det(0, 0, 100, 90)], [obj(1, (0, 0, 100, 100))])
    assert plan.matches[0].iou == pytest.approx(0.9) and not plan.matches[0].recondition


def test_detector_objects_are_forgotten_after_unmatched_messages_and_clicked_ones_never():
    objects = [
        obj(1, (0, 0, 100, 100), "cup", from_detections=True, unmatched=2),
        obj(2, (200, 0, 300, 100), "cup", from_detections=True, unmatched=2),
        obj(3, (400, 0, 500, 100), "cup", from_detections=False, unmatched=0),
        obj(4, None, "cup", from_detections=True, unmatched=0),  # empty mask on this frame
    ]
    plan = plan_for([det(200, 0, 300, 100)], objects, forget_after=3)
    assert plan.forget == [1]
    assert plan.unmatched == {1: 3, 2: 0, 4: 1}
    assert plan_for([], objects, forget_after=0).forget == []


def test_max_objects_skips_starts_and_forgetting_makes_room():
    detections = [det(0, 0, 50, 50), det(100, 0, 150, 50), det(200, 0, 250, 50)]
    tracked = [obj(1, (400, 400, 450, 450))]
    plan = plan_for(detections, tracked, max_objects=3)
    assert plan.start == [0, 1] and plan.dropped == {SKIPPED_MAX_OBJECTS: 1}
    settings = AssociationSettings(max_objects=3)
    full = associate(detections, tracked, FRAME, IMAGE, settings, object_count=3)
    assert full.start == [] and full.dropped == {SKIPPED_MAX_OBJECTS: 3}
    stale = [obj(1, (400, 400, 450, 450), from_detections=True, unmatched=29)]
    plan = associate(detections, stale, FRAME, IMAGE, settings, object_count=3)
    assert plan.forget == [1] and plan.start == [0]


@pytest.mark.parametrize(
    ("detection", "reason"),
    [
        (Detection(math.nan, 10, 20, 20, "cup", 0.9), REFUSED_NOT_FINITE),
        (Detection(10, 10, math.inf, 20, "cup", 0.9), REFUSED_NOT_FINITE),
        (Detection(10, 10, 20, 20, "cup", math.nan), REFUSED_NOT_FINITE),
        (Detection(10, 10, 0, 20, "cup", 0.9), REFUSED_NO_AREA),
        (Detection(10, 10, 20, -5, "cup", 0.9), REFUSED_NO_AREA),
        (Detection(10, 10, 5e-324, 5e-324, "cup", 0.9), REFUSED_NO_AREA),
        (Detection(700, 10, 20, 20, "cup", 0.9), REFUSED_OFF_IMAGE),
        (Detection(-30, 10, 20, 20, "cup", 0.9), REFUSED_OFF_IMAGE),
        (Detection(10, 10, 20, 20, "cup", 0.9, theta=0.3), REFUSED_ROTATED),
        (Detection(10, 10, 20, 20, None, 0.0), REFUSED_NO_CLASS),
    ],
)
def test_unusable_boxes_are_refused_with_the_reason(detection, reason):
    objects = [obj(1, (0, 0, 20, 20))]
    plan = plan_for([detection, det(0, 0, 20, 20)], objects)
    assert plan.refused == [(0, reason)] and plan.dropped == {reason: 1}
    assert [(m.detection, m.object_id) for m in plan.matches] == [(1, 1)]
