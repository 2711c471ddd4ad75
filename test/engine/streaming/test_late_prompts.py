"""A prompt that arrives late lands on the frame it was made on: the result equals the run where
it arrived right after that frame was tracked, and Meta's predictor given it on that frame.

Real footage (``../shared/data/bedroom``), 256 px, two objects tracked from frame 0 (a point and a
box); the prompt is made on frame ``K`` and arrives ``d`` frames later.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_live, bedroom_frames, mask_iou
from test_engine_equivalence import run_official

from sam2_ros.engine import PromptError, StreamingPredictor

pytestmark = pytest.mark.slow

HISTORY = 8
K = 2
LATENESS = (1, 5, HISTORY - 1)
AFTER = 2  # frames tracked after the late prompt arrived
BF16_STEP = 2.0**-7  # relative spacing of bfloat16 values
FIRST = {1: {"points": [[300.0, 250.0]], "labels": [1]}, 2: {"box": [520.0, 80.0, 700.0, 480.0]}}
KINDS = {
    "new point object": (None, {"points": [[800.0, 300.0]], "labels": [1]}),
    "new box object": (None, {"box": [80.0, 60.0, 300.0, 420.0]}),
    "positive refinement": (1, {"points": [[330.0, 280.0]], "labels": [1]}),
    "negative click": (1, {"points": [[260.0, 180.0]], "labels": [0]}),
}


@pytest.fixture(scope="module")
def bedroom(tmp_path_factory):
    """The first frames of the bedroom video as a JPEG folder and decoded RGB arrays."""
    return bedroom_frames(tmp_path_factory, K + max(LATENESS) + AFTER + 1)


def run(model, frames, kind: str, arrives_after: int) -> dict:
    """Track ``frames``; the prompt of ``kind`` on frame K arrives after frame ``arrives_after``.
    Returns the answer, every frame's result, the prompted object's result and memory right
    after the prompt arrived, and the results of frames K to then as they stand after it."""
    object_id, prompt = KINDS[kind]
    predictor = StreamingPredictor(model=model, history_frames=HISTORY)
    results = {0: predictor.track(frames[0])}
    for first in FIRST.values():
        predictor.add_prompt(**first)
    run = {"results": results, "memories": {}}
    for index in range(1, len(frames)):
        results[index] = predictor.track(frames[index])
        if index > arrives_after:
            run["memories"][index] = predictor.object_memory(run["answer"].object_id)
        if index == arrives_after:
            run["answer"] = predictor.add_prompt(object_id=object_id, frame_index=K, **prompt)
            run["now"] = predictor.result()
            run["memory"] = predictor.object_memory(run["answer"].object_id)
            run["held"] = {k: predictor.result(k) for k in range(K, index + 1)}
    return run


def _rows(result, object_id: int) -> int:
    return result.object_ids.index(object_id)


def _assert_same_object(a, b, object_id: int, logits: float, pointers: float) -> None:
    row_a, row_b = _rows(a, object_id), _rows(b, object_id)
    assert_live(b, f"(object {object_id})")
    np.testing.assert_allclose(a.mask_logits[row_a], b.mask_logits[row_b], atol=logits, rtol=0)
    np.testing.assert_allclose(
        a.object_pointers[row_a], b.object_pointers[row_b], atol=pointers, rtol=0
    )


def _assert_same_memory(a, b) -> None:
    for kind in ("conditioning", "recent"):
        frames_a, frames_b = getattr(a, kind), getattr(b, kind)
        assert list(frames_a) == list(frames_b), kind
        for index, memory in frames_a.items():
            other = frames_b[index]
            np.testing.assert_allclose(
                memory.obj_ptr.float().numpy(), other.obj_ptr.float().numpy(), atol=1e-5, rtol=0
            )
            assert (memory.maskmem_features is None) == (other.maskmem_features is None)
            if memory.maskmem_features is not None:  # stored in bf16, as SAM 2 stores them:
                np.testing.assert_allclose(  # batching may round a value one bf16 step apart
                    memory.maskmem_features.float().numpy(),
                    other.maskmem_features.float().numpy(),
                    atol=1e-4,
                    rtol=BF16_STEP,
                )


@pytest.mark.parametrize("kind", list(KINDS))
def test_late_prompt_equals_timely_prompt(sam_model, bedroom, kind):
    _, frames = bedroom
    timely = run(sam_model, frames, kind, arrives_after=K)
    object_id = timely["answer"].object_id
    others = [i for i in timely["results"][len(frames) - 1].object_ids if i != object_id]
    for lateness in LATENESS:
        late = run(sam_model, frames, kind, arrives_after=K + lateness)
        answer = late["answer"]
        assert (answer.object_id, answer.frame_index) == (object_id, K)
        np.testing.assert_array_equal(answer.mask, timely["answer"].mask)
        assert answer.score == pytest.approx(timely["answer"].score, abs=1e-4)
        arrived = K + lateness
        _assert_same_object(late["now"], timely["results"][arrived], object_id, 1e-4, 1e-5)
        _assert_same_memory(late["memory"], timely["memories"][arrived])
        for index, held in late["held"].items():  # frames since K, as re-tracked
            reference = timely["now"] if index == K else timely["results"][index]
            assert held.frame_index == index and held.object_ids == reference.object_ids
            _assert_same_object(held, reference, object_id, 1e-4, 1e-5)
            for other in others:
                _assert_same_object(held, reference, other, 1e-5, 1e-5)
        for index in range(arrived + 1, len(frames)):
            ours, reference = late["results"][index], timely["results"][index]
            assert ours.object_ids == reference.object_ids
            _assert_same_object(ours, reference, object_id, 1e-4, 1e-5)
            _assert_same_memory(late["memories"][index], timely["memories"][index])
            for other in others:
                _assert_same_object(ours, reference, other, 1e-5, 1e-5)
        for index in range(1, arrived + 1):  # returned before the prompt arrived: other objects
            for other in others:
                _assert_same_object(
                    late["results"][index], timely["results"][index], other, 1e-5, 1e-5
                )


def test_late_prompt_gives_meta_predictors_masks(sam_model, checkpoint_path, bedroom):
    folder, frames = bedroom
    lateness = max(LATENESS)
    late = run(sam_model, frames, "new point object", arrives_after=K + lateness)
    prompts = {0: list(FIRST.items()), K: [(3, KINDS["new point object"][1])]}
    _, official = run_official(checkpoint_path, folder, frames, prompts, True, same_input=False)
    ious = [
        mask_iou(result.masks[row], official[index][object_id])
        for index, result in late["results"].items()
        if index > K + lateness
        for row, object_id in enumerate(result.object_ids)
    ]
    answer = late["answer"]
    ious.append(mask_iou(answer.mask, official[K][answer.object_id]))
    ious.append(mask_iou(late["now"].masks[-1], official[K + lateness][answer.object_id]))
    assert min(ious) >= 0.98, ious


def test_prompts_outside_the_history_are_refused(small_model, scene):
    predictor = StreamingPredictor(model=small_model, history_frames=3)
    for index in range(5):
        predictor.track(scene.frame(index))
    object_id = predictor.add_prompt(points=[scene.center("ball", 4)], labels=[1]).object_id
    before = predictor.memory_bytes()
    for frame_index, held in ((1, "frames 2 to 4"), (5, "frames 2 to 4"), (-1, "frames 2 to 4")):
        with pytest.raises(PromptError, match=f"frame {frame_index} is not in the prompt history"):
            predictor.add_prompt(points=[(5, 5)], labels=[1], frame_index=frame_index)
        with pytest.raises(PromptError, match=held):
            predictor.add_prompt(object_id, points=[(5, 5)], labels=[1], frame_index=frame_index)
    with pytest.raises(PromptError, match=f"object {object_id} was not tracked yet on frame 2"):
        predictor.add_prompt(object_id, points=[(5, 5)], labels=[1], frame_index=2)
    assert predictor.memory_bytes() == before and predictor.object_ids == [object_id]
    with pytest.raises(PromptError, match="frame 1 is not in the prompt history"):
        predictor.result(1)
    assert predictor.result(2).object_ids == [] and predictor.result(4).object_ids == [object_id]
    without = StreamingPredictor(model=small_model, history_frames=0)
    without.track(scene.frame(0))
    without.track(scene.frame(1))
    with pytest.raises(PromptError, match="no frames are held, history_frames=0"):
        without.add_prompt(points=[(5, 5)], labels=[1], frame_index=0)
    assert without.add_prompt(points=[(5, 5)], labels=[1], frame_index=1).frame_index == 1


def test_removing_an_object_and_reset_clear_the_history(small_model, scene):
    predictor = StreamingPredictor(model=small_model, history_frames=4)
    predictor.track(scene.frame(0))
    kept = predictor.add_prompt(points=[scene.center("ball", 0)], labels=[1]).object_id
    dropped = predictor.add_prompt(points=[scene.center("crate", 0)], labels=[1]).object_id
    for index in range(1, 4):
        predictor.track(scene.frame(index))
    with_both = predictor.memory_bytes()
    predictor.remove_object(dropped)
    assert predictor.memory_bytes() < with_both
    answer = predictor.add_prompt(kept, points=[scene.center("ball", 1)], labels=[1], frame_index=1)
    assert answer.frame_index == 1 and predictor.object_ids == [kept]
    predictor.reset()
    assert predictor.memory_bytes() == 0 and predictor.frame_index == -1
