"""Axis-aligned boxes in the image plane, ``(x_min, y_min, x_max, y_max)`` in pixels: the box of a
mask (pixel ``(x, y)`` covers ``[x, x + 1) x [y, y + 1)``) and the IoU of boxes."""

from __future__ import annotations

import numpy as np

Box = tuple[float, float, float, float]


def mask_box(mask: np.ndarray) -> Box | None:
    """The tightest box around a boolean ``(H, W)`` mask's pixels (None for an empty mask)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)


def box_iou(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of every row of ``boxes`` with every row of ``others`` (rows are boxes): an array of
    ``(len(boxes), len(others))``; 0 where both boxes have no area."""
    x0 = np.maximum(boxes[:, None, 0], others[None, :, 0])
    y0 = np.maximum(boxes[:, None, 1], others[None, :, 1])
    x1 = np.minimum(boxes[:, None, 2], others[None, :, 2])
    y1 = np.minimum(boxes[:, None, 3], others[None, :, 3])
    overlap = np.clip(x1 - x0, 0.0, None) * np.clip(y1 - y0, 0.0, None)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    other_area = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area[:, None] + other_area[None, :] - overlap
    return np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0.0)
