"""The motion model of SAMURAI's selection: the box filter equals SAMURAI's own on a recorded
trajectory (``data/samurai/kalman.json``, made by running SAMURAI's ``KalmanFilter``), boxes come
from positive pixels, and the motion decides among candidate masks on constructed masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sam2_ros.engine.memory.motion import EMPTY_BOX, MotionState, box_iou, mask_boxes
from sam2_ros.engine.memory.samurai import SamuraiSelection, SamuraiSettings

KALMAN = json.loads((Path(__file__).parent / "data" / "samurai" / "kalman.json").read_text())


def test_filter_follows_samurais_on_a_recorded_trajectory():
    state = None
    checked = 0
    for step in KALMAN["steps"]:
        if step["op"] == "initiate":
            state = MotionState.start(tuple(step["box"]))
        elif step["op"] == "predict":
            state = state.predicted()
            np.testing.assert_allclose(state.box(), step["predicted_box"], rtol=1e-12)
        elif step["op"] == "update":
            state = state.corrected(tuple(step["box"]))
        if step["op"] == "iou":
            ious = [box_iou(state.box(), tuple(box)) for box in step["candidates"]]
            np.testing.assert_allclose(ious, step["ious"], rtol=1e-12, atol=1e-15)
        else:
            np.testing.assert_allclose(state.mean, step["mean"], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(state.covariance, step["covariance"], rtol=1e-12, atol=1e-12)
        checked += 1
    assert checked == len(KALMAN["steps"]) >= 20
    assert {"[0, 0, 0, 0]"} <= {json.dumps(s.get("box")) for s in KALMAN["steps"]}


def test_state_survives_a_round_trip():
    state = MotionState.start((10, 20, 50, 80)).predicted().corrected((12, 22, 52, 83))
    again = MotionState.from_list(state.as_list())
    np.testing.assert_array_equal(again.mean, state.mean)
    np.testing.assert_array_equal(again.covariance, state.covariance)
    assert again.stable_frames == state.stable_frames
    with pytest.raises(ValueError, match="73 values"):
        MotionState.from_list([1.0, 2.0])


def _logits(*boxes: tuple[int, int, int, int] | None, size: int = 64) -> torch.Tensor:
    """(1, M, size, size) logits, positive inside each box (inclusive; None: empty)."""
    masks = torch.full((1, len(boxes), size, size), -5.0)
    for m, box in enumerate(boxes):
        if box is not None:
            x0, y0, x1, y1 = box
            masks[0, m, y0 : y1 + 1, x0 : x1 + 1] = 5.0
    return masks


def test_boxes_are_the_extent_of_positive_pixels():
    masks = _logits((3, 4, 10, 20), None, (0, 0, 63, 63))
    masks[0, 0, 30, 40] = 1.0  # a stray positive pixel widens the box, as argwhere's extent
    assert mask_boxes(masks) == [[(3, 4, 40, 30), EMPTY_BOX, (0, 0, 63, 63)]]


def _choose(settings, ious, boxes, motion):
    selection = SamuraiSelection(settings)
    choices, motions, motion_ious = selection._choose(
        torch.tensor([ious], dtype=torch.float32), _logits(*boxes), [motion]
    )
    return choices[0], motions[0], motion_ious[0]


def test_motion_picks_the_candidate_where_the_object_is_going():
    settings = SamuraiSettings(stable_frames_threshold=2)
    here, elsewhere = (20, 20, 30, 30), (40, 5, 60, 15)
    start = MotionState.start(here)
    # A new object: the filter starts on the top-scored mask, no motion score yet.
    choice, motion, motion_iou = _choose(settings, [0.9, 0.8, 0.1], [elsewhere, here, None], None)
    assert (choice, motion.stable_frames, motion_iou) == (0, 1, None)
    # Not yet stable: still the top score; the count goes on (confident) or restarts.
    choice, motion, _ = _choose(settings, [0.9, 0.8, 0.1], [elsewhere, here, None], start)
    assert (choice, motion.stable_frames) == (0, 2)
    choice, motion, _ = _choose(settings, [0.2, 0.1, 0.1], [elsewhere, here, None], start)
    assert (choice, motion.stable_frames) == (0, 0)
    # Stable: the motion IoU outweighs a small lead in predicted IoU.
    stable = start.counted(2)
    choice, motion, motion_iou = _choose(settings, [0.9, 0.8, 0.1], [elsewhere, here, None], stable)
    assert choice == 1 and motion_iou == pytest.approx(1.0, abs=0.05)
    assert motion.stable_frames == 2
    # ... but not a large one, and a weak chosen mask makes the filter restart.
    choice, _, motion_iou = _choose(settings, [0.99, 0.2, 0.1], [elsewhere, here, None], stable)
    assert (choice, motion_iou) == (0, 0.0)
    _, motion, _ = _choose(settings, [0.25, 0.2, 0.1], [elsewhere, here, None], stable)
    assert motion.stable_frames == 0
