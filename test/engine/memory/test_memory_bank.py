"""The memory bank keeps exactly what SAM 2 can attend to, so tracking runs in constant memory."""

from __future__ import annotations

import pytest
import torch

from sam2_ros.engine import MemoryBank, StreamingPredictor
from sam2_ros.engine.memory.bank import FrameMemory


def _memory(value: float) -> FrameMemory:
    return FrameMemory(torch.full((1, 2, 2, 2), value), torch.full((1, 4), value))


def test_bank_releases_frames_beyond_sam2_window():
    bank = MemoryBank(num_maskmem=7, memory_stride=1, max_obj_ptrs=16, max_conditioning_frames=8)
    bank.store(1, 0, _memory(0), conditioning=True)
    for frame in range(1, 40):
        bank.store(1, frame, _memory(frame), conditioning=False)
        bank.release_unreachable(frame)
    layout = bank.output_dict([1])
    assert list(layout["cond_frame_outputs"]) == [0]
    recent = layout["non_cond_frame_outputs"]
    # pointers of the 15 previous frames plus the current one; spatial memory of the last 7
    assert list(recent) == list(range(24, 40))
    with_features = [t for t, out in recent.items() if out["maskmem_features"] is not None]
    assert with_features == list(range(33, 40))


def test_bank_caps_conditioning_frames_keeping_the_first():
    bank = MemoryBank(num_maskmem=7, memory_stride=1, max_obj_ptrs=16, max_conditioning_frames=3)
    for frame in [0, 5, 9, 12, 20]:
        bank.store(1, frame, _memory(frame), conditioning=True)
    assert bank.conditioning_frames(1) == [0, 12, 20]


def test_bank_batches_objects_with_the_same_layout():
    bank = MemoryBank(num_maskmem=7, memory_stride=1, max_obj_ptrs=16, max_conditioning_frames=8)
    bank.store(1, 0, _memory(1), conditioning=True)
    bank.store(2, 0, _memory(2), conditioning=True)
    bank.store(3, 1, _memory(3), conditioning=True)
    assert bank.groups([1, 2, 3]) == [[1, 2], [3]]
    batched = bank.output_dict([1, 2])["cond_frame_outputs"][0]
    assert batched["obj_ptr"].shape == (2, 4)
    assert batched["maskmem_features"][:, 0, 0, 0].tolist() == [1.0, 2.0]


def test_conditioning_cap_must_be_positive():
    with pytest.raises(ValueError, match="max_conditioning_frames"):
        MemoryBank(num_maskmem=7, memory_stride=1, max_obj_ptrs=16, max_conditioning_frames=0)


@pytest.mark.parametrize(
    ("history_frames", "selection", "full_after"),
    [(0, {}, 20), (10, {}, 30), (0, {"memory_selection": "samurai"}, 31)],
)
def test_memory_stops_growing_once_the_window_is_full(
    small_model, scene, history_frames, selection, full_after
):
    predictor = StreamingPredictor(model=small_model, history_frames=history_frames, **selection)
    predictor.track(scene.frame(0))
    for name in ("ball", "pillar", "crate"):
        predictor.add_prompt(points=[scene.center(name, 0)], labels=[1])
    sizes = []
    for index in range(1, 41):
        result = predictor.track(scene.frame(index))
        assert result.object_ids == [1, 2, 3]
        sizes.append(predictor.memory_bytes())
    # SAM 2 reads 16 frames of pointers back, SAMURAI's selection scans 30 frames of memories;
    # the history holds its frames and what each object's memory held on them: after that every
    # frame holds the same amount.
    assert len(set(sizes[full_after:])) == 1, sizes[full_after - 5 :]
    assert sizes[full_after] > sizes[0]


def test_reprompting_keeps_at_most_max_conditioning_frames(small_model, scene):
    predictor = StreamingPredictor(model=small_model, max_conditioning_frames=8)
    predictor.track(scene.frame(0))
    object_id = predictor.add_prompt(points=[scene.center("ball", 0)], labels=[1]).object_id
    for index in range(1, 21):
        predictor.track(scene.frame(index))
        predictor.add_prompt(object_id, points=[scene.center("ball", index)], labels=[1])
    predictor.track(scene.frame(21))
    frames = predictor.conditioning_frames(object_id)
    assert len(frames) == 8
    assert frames[0] == 0 and frames[1:] == list(range(14, 21))
