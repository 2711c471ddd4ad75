"""Boxes against masks on the coarse grid: exact where the mask is uniform within cells, close
elsewhere, at any image size."""

from __future__ import annotations

import numpy as np
import pytest

from sam2_ros.tracking.mask_overlap import cell_size, mask_grid


def exact_ious(boxes, masks) -> np.ndarray:
    """Box-with-mask IoU counted pixel by pixel (boxes with whole-pixel corners)."""
    out = np.zeros((len(boxes), len(masks)))
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        box = np.zeros(masks.shape[1:], bool)
        box[int(y0) : int(y1), int(x0) : int(x1)] = True
        for j, mask in enumerate(masks):
            union = (box | mask).sum()
            out[i, j] = (box & mask).sum() / union if union else 0.0
    return out


@pytest.mark.parametrize(("width", "height"), [(640, 480), (1280, 720), (333, 201)])
def test_box_ious_match_pixel_counts(width, height):
    rng = np.random.default_rng(0)
    yy, xx = np.ogrid[:height, :width]
    masks = np.zeros((5, height, width), bool)
    for k in range(5):
        cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
        rx, ry = rng.uniform(0.05, 0.2) * width, rng.uniform(0.05, 0.2) * height
        masks[k] = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
    corners = rng.integers(0, min(width, height) // 2, (20, 2))
    sizes = rng.integers(10, min(width, height) // 2, (20, 2))
    boxes = np.hstack([corners, corners + sizes]).astype(float)
    grid = mask_grid(masks)
    assert grid.cell == cell_size(width, height)
    assert grid.areas.tolist() == masks.sum(axis=(1, 2)).tolist()  # cell counts are exact
    np.testing.assert_allclose(grid.box_ious(boxes), exact_ious(boxes, masks), atol=0.02)
    keep = grid.select([3, 1])
    np.testing.assert_allclose(keep.box_ious(boxes), grid.box_ious(boxes)[:, [3, 1]])


def test_boxes_off_or_partly_off_the_image_count_their_part_inside():
    mask = np.zeros((1, 480, 640), bool)
    mask[0, :100, :100] = True
    grid = mask_grid(mask)
    ious = grid.box_ious(np.array([[-100.0, -100.0, 100.0, 100.0], [700.0, 0.0, 800.0, 50.0]]))
    assert ious[0, 0] == pytest.approx(1.0) and ious[1, 0] == 0.0
    assert mask_grid(np.zeros((0, 480, 640), bool)).box_ious(np.zeros((3, 4))).shape == (3, 0)
