"""Detections against tracked objects on constructed masks: optimal pairing, thresholds, class
rules, re-prompting rate, forgetting, max_objects, refused boxes; pairing against masks (a thin
leak, a box over another object, a mask over the whole frame) and confirmed births."""

from __future__ import annotations

import math

import numpy as np
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
    Birth,
    Detection,
    TrackedObject,
    associate,
)
from sam2_ros.tracking.mask_overlap import MaskGrid, mask_grid

IMAGE = (640, 480)
FRAME = 40


def det(x0, y0, x1, y1, class_id="cup", score=0.9) -> Detection:
    return Detection.from_box((x0, y0, x1, y1), class_id, score)


def obj(
    object_id, box, label="", from_detections=False, unmatched=0, last_prompted=None, birth=None
):
    return TrackedObject(object_id, box, label, from_detections, unmatched, last_prompted, birth)


def rectangle(box) -> np.ndarray:
    """The mask filling a box on the image (empty for None)."""
    mask = np.zeros(IMAGE[::-1], bool)
    if box is not None:
        x0, y0, x1, y1 = (int(v) for v in box)
        mask[y0:y1, x0:x1] = True
    return mask


def grid_of(objects, masks=None) -> MaskGrid:
    """The objects' masks (rectangles filling their boxes unless given) on the image."""
    masks = [rectangle(o.box) for o in objects] if masks is None else masks
    return mask_grid(np.array(masks, bool).reshape(len(objects), *IMAGE[::-1]))


def plan_for(detections, objects, masks=None, **settings):
    settings = AssociationSettings(**settings)
    return associate(detections, objects, grid_of(objects, masks), FRAME, settings)


def test_pairing_maximises_total_iou_where_greedy_does_not():
    """Greedy takes the best pair (A, 1: IoU 1.0) first and leaves B without an object (its IoU
    with 2 is below the threshold): total 1.0. The optimum pairs A with 2 (0.67) and B with 1
    (0.82): total 1.48."""
    objects = [obj(1, (40, 0, 80, 40)), obj(2, (48, 0, 88, 40))]
    detections = [det(40, 0, 80, 40), det(36, 0, 76, 40)]
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
    full = associate(detections, tracked, grid_of(tracked), FRAME, settings, object_count=3)
    assert full.start == [] and full.dropped == {SKIPPED_MAX_OBJECTS: 3}
    stale = [obj(1, (400, 400, 450, 450), from_detections=True, unmatched=29)]
    plan = associate(detections, stale, grid_of(stale), FRAME, settings, object_count=3)
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


def ellipse(box, leak_to=None) -> np.ndarray:
    """The ellipse filling a box, with a 3-pixel strip from its centre to ``leak_to`` (x, y)."""
    x0, y0, x1, y1 = box
    yy, xx = np.ogrid[: IMAGE[1], : IMAGE[0]]
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    mask = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
    if leak_to is not None:
        tx, ty = leak_to
        for t in np.linspace(0.0, 1.0, 400):
            x, y = round(cx + t * (tx - cx)), round(cy + t * (ty - cy))
            mask[y - 1 : y + 2, x] = True
    return mask


def test_a_mask_with_a_thin_leak_pairs_with_its_detection_and_is_reconditioned():
    """The leak onto a neighbouring surface moves the mask's box to (200, 200, 500, 300): box
    against mask box IoU 0.33 (today's pairing starts a duplicate), box against mask 0.73."""
    leaking = obj(1, (200, 200, 500, 300), from_detections=True)
    masks = [ellipse((200, 200, 300, 300), leak_to=(500, 250))]
    detection = det(200, 200, 300, 300)
    plan = plan_for([detection], [leaking], masks)
    (match,) = plan.matches
    assert match.iou == pytest.approx(0.73, abs=0.02) and match.recondition
    assert plan.start == [] and plan.forget == []
    by_box = plan_for([detection], [leaking], masks, match_on="box")
    assert by_box.matches == [] and by_box.start == [0]


def test_a_box_over_another_object_does_not_pair_with_a_leaking_mask():
    """Object 1's mask leaks a thin strip into the region of an object nobody tracks yet: that
    object's detection overlaps the strip, not the mask, and starts an object."""
    leaking = obj(1, (100, 100, 380, 200))
    masks = [ellipse((100, 100, 200, 200), leak_to=(380, 150))]
    plan = plan_for([det(300, 100, 400, 200)], [leaking], masks)
    assert plan.matches == [] and plan.start == [0]


def test_a_mask_over_the_whole_frame_pairs_with_no_box_inside_it():
    """Why IoU and not intersection over the smaller area: a mask that spread over the frame
    contains every box (intersection over the box: 1.0) but shares little with any (IoU 0.03)."""
    everywhere = obj(1, (0, 0, *IMAGE))
    plan = plan_for([det(100, 100, 200, 200)], [everywhere], [np.ones(IMAGE[::-1], bool)])
    assert plan.matches == [] and plan.start == [0]


def test_a_new_object_is_confirmed_by_agreeing_detections_within_its_window():
    box = (100, 100, 200, 200)
    young = obj(5, box, from_detections=True, birth=Birth(hits=2, messages=3))
    confirmed = plan_for([det(*box)], [young], confirm_hits=3, confirm_window=5)
    assert confirmed.confirm == [5] and confirmed.births == {}
    missed = plan_for([], [young], confirm_hits=3, confirm_window=5)
    assert missed.births == {5: Birth(hits=2, messages=4)} and missed.reject == []
    last = obj(5, box, from_detections=True, birth=Birth(hits=2, messages=4))
    rejected = plan_for([], [last], confirm_hits=3, confirm_window=5)
    assert rejected.reject == [5] and rejected.forget == [] and 5 not in rejected.unmatched
    # a box of something passing over it pairs (IoU 0.5 with the mask), but confirms nothing
    passing = plan_for([det(100, 100, 200, 300)], [young], confirm_hits=3, confirm_window=5)
    assert passing.matches and passing.confirm == []
    assert passing.births == {5: Birth(hits=2, messages=4)}


def test_a_rejected_object_makes_room_for_a_start():
    last = obj(5, (0, 0, 40, 40), from_detections=True, birth=Birth(hits=1, messages=4))
    plan = plan_for([det(300, 300, 360, 360)], [last], max_objects=1, confirm_window=5)
    assert plan.reject == [5] and plan.start == [0]
