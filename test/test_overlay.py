"""Drawing tracking results over the camera image."""

from __future__ import annotations

import numpy as np
from conftest import small_result

from sam2_ros.engine import TrackResult
from sam2_ros.overlay import draw_overlay


def test_overlay_colours_the_objects():
    small = small_result()
    masks = np.kron(small.masks, np.ones((40, 40), bool))  # 240x320, objects top right
    result = TrackResult(**{**small.__dict__, "masks": masks})
    overlay = draw_overlay(np.zeros((240, 320, 3), np.uint8), result, {4: "cup"})
    assert overlay.shape == (240, 320, 3)
    for mask in masks:  # tinted (labels are drawn on top, with a dark outline)
        assert overlay[mask].any(axis=1).mean() > 0.9
    assert not overlay[200:, :100].any()  # far from both objects nothing is drawn
