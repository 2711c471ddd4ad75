"""The suite's own evidence: the liveness check that every comparison of outputs makes first
fails on weights that score every object absent (as SAM 2's random weights do with some seeds),
where any two runs would compare equal whatever the code did; and an IoU of two empty masks is
no pass."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import IMAGE_SIZE, assert_live, bedroom_frames, mask_iou

from sam2_ros.engine import StreamingPredictor, load_model

#: A seed whose random weights score every object absent at 256 px (see ENVIRONMENT.md).
DEAD_SEED = 7


def test_liveness_check_fails_on_weights_that_score_objects_absent(tmp_path_factory):
    frames = bedroom_frames(tmp_path_factory, 2)[1]
    model = load_model(
        image_size=IMAGE_SIZE,
        allow_random_weights=True,
        seed=DEAD_SEED,
        device="cpu",
        precision="fp32",
    )
    predictor = StreamingPredictor(model=model)
    predictor.track(frames[0])
    predictor.add_prompt(points=[(480, 300)], labels=[1])
    result = predictor.track(frames[1])
    assert result.object_ids == [1]
    assert np.all(result.mask_logits == result.mask_logits.flat[0])  # every logit the same
    with pytest.raises(AssertionError, match="empty or full"):
        assert_live(result)
    with pytest.raises(AssertionError, match="no object tracked"):
        assert_live(StreamingPredictor(model=model).track(frames[0]))


def test_iou_of_two_empty_masks_is_no_pass():
    empty = np.zeros((4, 4), bool)
    with pytest.raises(AssertionError, match="both masks are empty"):
        mask_iou(empty, empty)
    assert mask_iou(empty, np.eye(4, dtype=bool)) == 0.0
