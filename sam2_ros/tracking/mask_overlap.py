"""How much of a detection's box an object's mask fills, and how far two objects' masks overlap,
at a cost that does not grow with the image size.

Pairing a detection with an object by its *mask* (not the mask's bounding box) keeps a mask with a
thin leak paired with its detection: the leak adds a few pixels outside the box, while it moves
the mask's bounding box far away. Masks are summarised once per tracked frame as the number of
mask pixels in each cell of a coarse grid (:func:`mask_grid`); a box is then measured against a
mask with four look-ups in the grid's integral, exactly where the mask is uniform inside a cell
(every cell the box covers whole, and boxes on cell borders), and within one cell's share at the
box's edges otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Cells along the image's longer side (a cell is 4 pixels at 640x480, 8 at 1280x720).
CELLS = 160
#: Largest cell side: a cell's pixel count must fit the uint8 grid resize below (15 x 15 < 256).
MAX_CELL = 15


@dataclass(frozen=True)
class MaskGrid:
    """Objects' masks on one frame, summarised on a grid of ``cell`` x ``cell`` pixel cells:
    ``integral[i]`` holds, for every grid corner (row-major, ``(rows + 1) x (cols + 1)``), the
    number of object ``i``'s mask pixels above and left of it; ``areas[i]`` its mask's pixels."""

    size: tuple[int, int]  # image width, height
    cell: int
    shape: tuple[int, int]  # grid rows, cols
    integral: np.ndarray  # (objects, (rows + 1) * (cols + 1)) float64
    areas: np.ndarray  # (objects,) float64

    def select(self, rows: list[int]) -> MaskGrid:
        """The grid of some of the objects (in that order)."""
        keep = np.array(rows, dtype=np.intp)
        return MaskGrid(self.size, self.cell, self.shape, self.integral[keep], self.areas[keep])

    def box_ious(self, boxes: np.ndarray) -> np.ndarray:
        """``(boxes, objects)``: IoU of each box ``(x_min, y_min, x_max, y_max)`` (pixels; the
        part inside the image counts) with each object's mask."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        objects = self.integral.shape[0]
        if boxes.shape[0] == 0 or objects == 0:
            return np.zeros((boxes.shape[0], objects))
        width, height = self.size
        x0, x1 = (np.clip(boxes[:, i], 0.0, width) for i in (0, 2))
        y0, y1 = (np.clip(boxes[:, i], 0.0, height) for i in (1, 3))
        inside = self._mass(x1, y1) - self._mass(x0, y1) - self._mass(x1, y0) + self._mass(x0, y0)
        box_area = (np.maximum(x1 - x0, 0.0) * np.maximum(y1 - y0, 0.0))[:, None]
        union = box_area + self.areas[None, :] - inside
        return np.where(union > 0.0, inside / np.maximum(union, 1e-12), 0.0)

    def _mass(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``(boxes, objects)``: mask pixels in ``[0, x) x [0, y)``, the density uniform within
        a cell (bilinear in the integral between its corners)."""
        rows, cols = self.shape
        u, v = np.minimum(x / self.cell, cols), np.minimum(y / self.cell, rows)
        c0 = np.minimum(np.floor(u).astype(int), cols - 1)
        r0 = np.minimum(np.floor(v).astype(int), rows - 1)
        corner = r0 * (cols + 1) + c0  # each box's top-left grid corner
        near = [corner, corner + 1, corner + cols + 1, corner + cols + 2]
        values = np.take(self.integral, near, axis=1)  # (objects, 4, boxes)
        fu, fv = (u - c0)[None, :], (v - r0)[None, :]
        top = values[:, 0] + fu * (values[:, 1] - values[:, 0])
        bottom = values[:, 2] + fu * (values[:, 3] - values[:, 2])
        return (top + fv * (bottom - top)).T


def cell_size(width: int, height: int) -> int:
    """The grid's cell side in pixels for an image of this size."""
    return int(min(max(math.ceil(max(width, height) / CELLS), 1), MAX_CELL))


def mask_grid(masks: np.ndarray) -> MaskGrid:
    """Summarise ``(objects, H, W)`` boolean masks on a grid (OpenCV's area resize of each mask
    with ``cell**2`` per pixel: each cell's mean is its exact pixel count; then its integral)."""
    objects, height, width = masks.shape
    cell = cell_size(width, height)
    rows, cols = math.ceil(height / cell), math.ceil(width / cell)
    integral = np.zeros((objects, (rows + 1) * (cols + 1)))
    for index, mask in enumerate(masks):
        pixels = mask.view(np.uint8) * np.uint8(cell * cell)
        if (rows * cell, cols * cell) != (height, width):
            pixels = np.pad(pixels, ((0, rows * cell - height), (0, cols * cell - width)))
        counts = cv2.resize(pixels, (cols, rows), interpolation=cv2.INTER_AREA)
        integral[index] = cv2.integral(counts, sdepth=cv2.CV_64F).reshape(-1)
    areas = integral[:, -1].copy()  # the bottom-right corner: every pixel
    return MaskGrid((width, height), cell, (rows, cols), integral, areas)
