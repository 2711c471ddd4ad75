"""A late prompt that fails while its object is tracked again puts the object back as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam2_ros.engine import StreamingPredictor
from sam2_ros.engine.streaming.steps import FrameSteps

FRAMES = 4


def _assert_same_objects(a: StreamingPredictor, b: StreamingPredictor) -> None:
    assert a.object_ids == b.object_ids
    assert a.memory_bytes() == b.memory_bytes() and a.history_bytes() == b.history_bytes()
    for frame_index in range(FRAMES):
        ours, theirs = a.result(frame_index), b.result(frame_index)
        assert ours.object_ids == theirs.object_ids
        np.testing.assert_array_equal(ours.mask_logits, theirs.mask_logits)
        np.testing.assert_array_equal(ours.object_pointers, theirs.object_pointers)
    for object_id in a.object_ids:
        ours, theirs = a.object_memory(object_id), b.object_memory(object_id)
        for kind in ("conditioning", "recent"):
            mine, other = getattr(ours, kind), getattr(theirs, kind)
            assert list(mine) == list(other), (object_id, kind)
            for frame in mine:
                assert torch.equal(mine[frame].obj_ptr, other[frame].obj_ptr)


def test_a_failed_late_prompt_leaves_every_object_as_it_was(small_model, scene, monkeypatch):
    """The failure comes on the second frame tracked again: the object's output, memory, states
    and answers on the held frames, and the objects' order, are those of a twin that never got
    the prompt, and both track the next frame alike."""
    failing, twin = (StreamingPredictor(model=small_model, history_frames=FRAMES) for _ in "ab")
    for index in range(FRAMES):
        for predictor in (failing, twin):
            predictor.track(scene.frame(index))
            if index == 0:
                for name in ("ball", "crate"):
                    predictor.add_prompt(points=[scene.center(name, 0)], labels=[1])
    tracked_again = []
    track_objects = FrameSteps.track_objects

    def failing_on_the_second_frame(steps, frame, object_ids):
        tracked_again.append(frame.index)
        if len(tracked_again) == 2:
            raise RuntimeError("device lost")
        return track_objects(steps, frame, object_ids)

    monkeypatch.setattr(FrameSteps, "track_objects", failing_on_the_second_frame)
    with pytest.raises(RuntimeError, match="device lost"):
        failing.add_prompt(1, points=[scene.center("ball", 1)], labels=[1], frame_index=1)
    monkeypatch.undo()
    assert tracked_again == [2, 3]
    _assert_same_objects(failing, twin)
    ours, theirs = (p.track(scene.frame(FRAMES)) for p in (failing, twin))
    np.testing.assert_array_equal(ours.mask_logits, theirs.mask_logits)
