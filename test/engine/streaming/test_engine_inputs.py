"""Bad input raises a clear error and leaves the engine exactly as it was."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tracking_pair

from sam2_ros.engine import FrameError, PromptError, StreamingPredictor


@pytest.fixture(scope="module")
def twins(small_model, scene):
    """Two predictors fed the same stream; only one of them receives the bad calls. Every test
    leaves them identical (that is what it checks), so they can be shared."""
    return tracking_pair(small_model, scene, "ball", max_objects=2)


def _assert_still_identical(twins, scene):
    bad, good = twins
    assert bad.memory_bytes() == good.memory_bytes()
    assert bad.object_ids == good.object_ids
    index = good.frame_index + 1
    a, b = bad.track(scene.frame(index)), good.track(scene.frame(index))
    assert a.object_ids == b.object_ids == [1]
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(a.object_pointers, b.object_pointers)


BAD_FRAMES = [
    (np.zeros((24, 32, 3), np.float32), "uint8"),
    (np.zeros((24, 32), np.uint8), r"shape \(H, W, 3\)"),
    (np.zeros((24, 32, 4), np.uint8), r"shape \(H, W, 3\)"),
    (np.zeros((0, 32, 3), np.uint8), "empty"),
    ("not an image", "numpy array"),
]


@pytest.mark.parametrize(("frame", "message"), BAD_FRAMES)
def test_bad_frames(twins, scene, frame, message):
    with pytest.raises(FrameError, match=message):
        twins[0].track(frame)
    _assert_still_identical(twins, scene)


BAD_PROMPTS = [
    ({"points": [[float("nan"), 10.0]], "labels": [1]}, "NaN or infinity"),
    ({"points": [[float("inf"), 10.0]], "labels": [1]}, "NaN or infinity"),
    ({"points": [[400.0, 10.0]], "labels": [1]}, "outside the 320x240 image"),
    ({"points": [[-1.0, 10.0]], "labels": [1]}, "outside the 320x240 image"),
    ({"points": [[10.0, 10.0], [20.0, 20.0]], "labels": [1]}, "2 points but 1 labels"),
    ({"points": [[10.0, 10.0]], "labels": [2]}, "labels must be 1"),
    ({"labels": [1]}, "labels given without points"),
    ({"box": [50.0, 50.0, 50.0, 90.0]}, "degenerate"),
    ({"box": [90.0, 50.0, 10.0, 90.0]}, "degenerate"),
    ({"box": [400.0, 300.0, 500.0, 400.0]}, "outside the 320x240 image"),
    ({"box": [1.0, 2.0, 3.0]}, "4 values"),
    ({"box": [float("nan"), 2.0, 3.0, 4.0]}, "NaN or infinity"),
    ({}, "empty prompt"),
    ({"object_id": 99, "points": [[10.0, 10.0]], "labels": [1]}, "unknown object id 99"),
]


@pytest.mark.parametrize(("prompt", "message"), BAD_PROMPTS)
def test_bad_prompts(twins, scene, prompt, message):
    with pytest.raises(PromptError, match=message):
        twins[0].add_prompt(**prompt)
    _assert_still_identical(twins, scene)


def test_too_many_objects(small_model, scene):
    predictor = StreamingPredictor(model=small_model, max_objects=2)
    predictor.track(scene.frame(0))
    for name in ("ball", "crate"):
        predictor.add_prompt(points=[scene.center(name, 0)], labels=[1])
    before = predictor.memory_bytes()
    with pytest.raises(PromptError, match=r"already tracking 2 \(max_objects=2\)"):
        predictor.add_prompt(points=[scene.center("pillar", 0)], labels=[1])
    assert predictor.memory_bytes() == before
    assert predictor.track(scene.frame(1)).object_ids == [1, 2]


def test_unknown_object_removal(twins, scene):
    with pytest.raises(PromptError, match="unknown object id 7; tracked objects: \\[1\\]"):
        twins[0].remove_object(7)
    _assert_still_identical(twins, scene)


def test_prompt_before_any_frame(small_model, scene):
    predictor = StreamingPredictor(model=small_model)
    with pytest.raises(PromptError, match="no frame tracked yet"):
        predictor.add_prompt(points=[[10.0, 10.0]], labels=[1])
    predictor.track(scene.frame(0))
    assert predictor.add_prompt(points=[scene.center("ball", 0)], labels=[1]).object_id == 1


def test_partially_outside_box_is_clipped(small_model, scene):
    predictor = StreamingPredictor(model=small_model)
    predictor.track(scene.frame(0))
    answer = predictor.add_prompt(box=[-20.0, -10.0, 100.0, 120.0])
    assert answer.object_id == 1
    assert answer.mask.shape == (240, 320)


def test_removing_and_resetting(small_model, scene):
    predictor = StreamingPredictor(model=small_model)
    predictor.track(scene.frame(0))
    first = predictor.add_prompt(points=[scene.center("ball", 0)], labels=[1]).object_id
    second = predictor.add_prompt(box=scene.box("crate", 0)).object_id
    tracked = predictor.track(scene.frame(1))
    assert tracked.object_ids == [first, second]
    assert tracked.masks.shape == (2, 240, 320) and tracked.object_pointers.shape == (2, 256)
    assert tracked.scores.shape == tracked.occlusion_scores.shape == (2,)
    predictor.remove_object(first)
    assert predictor.track(scene.frame(2)).object_ids == [second]
    predictor.reset()
    assert predictor.object_ids == [] and predictor.memory_bytes() == 0
    empty = predictor.track(scene.frame(3))
    assert empty.object_ids == [] and empty.masks.shape == (0, 240, 320)
    # ids are never reused, so downstream consumers cannot confuse objects
    assert predictor.add_prompt(points=[scene.center("ball", 3)], labels=[1]).object_id == 3
