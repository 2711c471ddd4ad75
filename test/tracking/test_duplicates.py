"""Two objects on one region: published pairs removed after their streak (the detector's, else
the younger; clicked ones never), tentative ones at once."""

from __future__ import annotations

import numpy as np
import pytest

from sam2_ros.tracking.duplicates import (
    Duplicate,
    DuplicateSettings,
    duplicate_text,
    find_duplicates,
    mask_ious,
)

SETTINGS = DuplicateSettings(iou=0.7, frames=3)


def squares(*corners, size=100) -> np.ndarray:
    masks = np.zeros((len(corners), 240, 320), bool)
    for k, (x, y) in enumerate(corners):
        masks[k, y : y + size, x : x + size] = True
    return masks


def run(ids, masks, from_detections, frames, tentative=frozenset(), settings=SETTINGS):
    """``frames`` frames of the same masks; every plan."""
    streaks, plans = {}, []
    for _ in range(frames):
        plan = find_duplicates(ids, masks, set(from_detections), set(tentative), streaks, settings)
        streaks = plan.streaks
        plans.append(plan)
    return plans


def test_mask_ious_are_measured_on_a_subsample():
    masks = squares((0, 0), (10, 0), (200, 100))
    ious = mask_ious(masks)
    assert ious[0, 1] == pytest.approx(90 / 110, abs=0.01) and ious[0, 2] == 0.0
    assert ious[0, 0] == 1.0 and mask_ious(np.zeros((2, 10, 10), bool))[0, 1] == 0.0


def test_two_objects_on_one_region_end_as_one_and_the_clicked_one_stays():
    masks = squares((0, 0), (4, 0))  # IoU 0.92
    plans = run([1, 2], masks, from_detections={2}, frames=3)
    assert [p.remove for p in plans[:2]] == [[], []]
    (removed,) = plans[2].remove
    assert (removed.removed, removed.kept, removed.frames) == (2, 1, 3)
    assert removed.iou == pytest.approx(0.92, abs=0.02) and plans[2].streaks == {}
    # the clicked one is the younger: the detector's still goes
    assert run([1, 2], masks, from_detections={1}, frames=3)[2].remove[0].removed == 1
    # two detector objects: the younger goes; two clicked ones: both stay
    assert run([1, 2], masks, from_detections={1, 2}, frames=3)[2].remove[0].removed == 2
    assert all(p.remove == [] for p in run([1, 2], masks, from_detections=set(), frames=5))


def test_an_interrupted_overlap_starts_its_streak_again():
    together, apart = squares((0, 0), (4, 0)), squares((0, 0), (150, 100))
    streaks = {}
    for masks in (together, together, apart, together, together):
        plan = find_duplicates([1, 2], masks, {2}, set(), streaks, SETTINGS)
        streaks = plan.streaks
        assert plan.remove == []
    assert streaks == {(1, 2): 2}


def test_a_tentative_object_on_a_published_one_goes_at_once_and_the_rule_can_be_off():
    masks = squares((0, 0), (4, 0), (8, 0))
    (plan,) = run([1, 2, 3], masks, from_detections={2, 3}, frames=1, tentative={2, 3})
    assert [(d.removed, d.kept, d.frames) for d in plan.remove] == [(2, 1, 0), (3, 1, 0)]
    assert "before publishing it" in duplicate_text(plan.remove[0])
    assert "on 3 consecutive frames" in duplicate_text(Duplicate(2, 1, 0.9, 3))
    off = DuplicateSettings(frames=0)
    assert run([1, 2], masks[:2], {2}, frames=5, tentative={2}, settings=off)[-1].remove == []
