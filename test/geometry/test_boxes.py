"""Image-plane boxes: a mask's box and the IoU of boxes."""

from __future__ import annotations

import numpy as np

from sam2_ros.geometry.boxes import box_iou, mask_box


def test_mask_box_covers_the_pixels():
    mask = np.zeros((6, 8), bool)
    mask[1:3, 2:5] = True
    assert mask_box(mask) == (2.0, 1.0, 5.0, 3.0)
    assert mask_box(np.zeros((4, 4), bool)) is None


def test_iou_of_boxes():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], float)
    iou = box_iou(boxes, np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float))
    np.testing.assert_allclose(iou, [[1.0, 0.0], [1 / 3, 0.0]])
    assert box_iou(np.zeros((1, 4)), np.zeros((1, 4)))[0, 0] == 0.0
