"""An object's motion as SAMURAI models it: a Kalman filter on its mask's bounding box.

The state is the box's centre, aspect ratio and height with their velocities (``x, y, a, h`` and
their rates), under a constant-velocity model whose noise scales with the box height (the model
SORT-family trackers use). Boxes are ``(x_min, y_min, x_max, y_max)`` in pixels at the model's
resolution, from the mask's positive pixels; an empty mask gives ``(0, 0, 0, 0)``. Everything is
float64 numpy, as in SAMURAI.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch

Box = tuple[float, float, float, float]

EMPTY_BOX: Box = (0, 0, 0, 0)
# Noise of position and velocity, relative to the box height.
_POSITION_WEIGHT = 1.0 / 20
_VELOCITY_WEIGHT = 1.0 / 160


@functools.cache
def _motion() -> np.ndarray:
    """The constant-velocity transition: each of x, y, a, h moves by its velocity per frame
    (made on first use, so that importing the module computes nothing)."""
    return np.eye(8) + np.eye(8, k=4)


@functools.cache
def _observe() -> np.ndarray:
    """What is measured of the state: x, y, a, h."""
    return np.eye(4, 8)


def mask_boxes(masks: torch.Tensor) -> list[list[Box]]:
    """Boxes of the positive pixels of ``(N, M, H, W)`` mask logits: N lists of M boxes."""
    positive = masks > 0
    rows, cols = positive.any(dim=3), positive.any(dim=2)  # (N, M, H), (N, M, W)
    height, width = rows.shape[-1], cols.shape[-1]
    y = torch.arange(height, device=masks.device)
    x = torch.arange(width, device=masks.device)
    edges = torch.stack(
        [
            torch.where(cols, x, width).amin(dim=-1),
            torch.where(rows, y, height).amin(dim=-1),
            torch.where(cols, x, -1).amax(dim=-1),
            torch.where(rows, y, -1).amax(dim=-1),
        ],
        dim=-1,
    ).tolist()
    return [[EMPTY_BOX if box[2] < 0 else tuple(box) for box in candidates] for candidates in edges]


def to_xyah(box: Box) -> np.ndarray:
    """Centre, aspect ratio (width / height) and height of a box (a zero height counts as 1)."""
    x_min, y_min, x_max, y_max = box
    height = (y_max - y_min) or 1
    return np.array(
        [(x_min + x_max) / 2, (y_min + y_max) / 2, (x_max - x_min) / height, height],
        dtype=np.float64,
    )


def to_box(xyah: np.ndarray) -> Box:
    """The box of a centre, aspect ratio and height."""
    x, y, aspect, height = (float(v) for v in xyah[:4])
    return (x - aspect * height / 2, y - height / 2, x + aspect * height / 2, y + height / 2)


def box_iou(predicted: Box, box: Box) -> float:
    """IoU of a predicted box with a mask's box; 0 for an empty mask or a degenerate union."""
    if tuple(box) == EMPTY_BOX:
        return 0.0
    overlap_x = max(0.0, min(predicted[2], box[2]) - max(predicted[0], box[0]))
    overlap_y = max(0.0, min(predicted[3], box[3]) - max(predicted[1], box[1]))
    overlap = overlap_x * overlap_y
    union = (
        (predicted[2] - predicted[0]) * (predicted[3] - predicted[1])
        + (box[2] - box[0]) * (box[3] - box[1])
        - overlap
    )
    return float(overlap / union) if union else 0.0


@dataclass(frozen=True)
class MotionState:
    """One object's filter (mean and covariance of ``x, y, a, h`` and rates) and how many
    consecutive steps its masks have been confident enough to feed it."""

    mean: np.ndarray  # (8,) float64
    covariance: np.ndarray  # (8, 8) float64
    stable_frames: int

    @classmethod
    def start(cls, box: Box) -> MotionState:
        """A filter at a first box, at rest, with one stable frame."""
        measured = to_xyah(box)
        height = measured[3]
        std = np.array(
            [2 * _POSITION_WEIGHT * height] * 2
            + [1e-2, 2 * _POSITION_WEIGHT * height]
            + [10 * _VELOCITY_WEIGHT * height] * 2
            + [1e-5, 10 * _VELOCITY_WEIGHT * height]
        )
        return cls(np.r_[measured, np.zeros(4)], np.diag(np.square(std)), 1)

    def predicted(self) -> MotionState:
        """The state one frame later under constant velocity."""
        height = self.mean[3]
        std = np.array(
            [_POSITION_WEIGHT * height] * 2
            + [1e-2, _POSITION_WEIGHT * height]
            + [_VELOCITY_WEIGHT * height] * 2
            + [1e-5, _VELOCITY_WEIGHT * height]
        )
        motion = _motion()
        covariance = motion @ self.covariance @ motion.T + np.diag(np.square(std))
        return MotionState(self.mean @ motion.T, covariance, self.stable_frames)

    def corrected(self, box: Box) -> MotionState:
        """The state after observing ``box``."""
        height = self.mean[3]
        std = np.array([_POSITION_WEIGHT * height] * 2 + [1e-1, _POSITION_WEIGHT * height])
        observe = _observe()
        projected_mean = observe @ self.mean
        projected = observe @ self.covariance @ observe.T + np.diag(np.square(std))
        factor = scipy.linalg.cho_factor(projected, lower=True, check_finite=False)
        gain = scipy.linalg.cho_solve(factor, (self.covariance @ observe.T).T, check_finite=False).T
        mean = self.mean + (to_xyah(box) - projected_mean) @ gain.T
        covariance = self.covariance - gain @ projected @ gain.T
        return MotionState(mean, covariance, self.stable_frames)

    def counted(self, stable_frames: int) -> MotionState:
        """The same estimate with another stable count (0: the filter restarts next step)."""
        return MotionState(self.mean, self.covariance, stable_frames)

    def box(self) -> Box:
        """The estimated box."""
        return to_box(self.mean)

    def as_list(self) -> list[float]:
        """Mean, covariance and stable count flattened (for a file's metadata)."""
        return [*self.mean.tolist(), *self.covariance.ravel().tolist(), float(self.stable_frames)]

    @classmethod
    def from_list(cls, values: list[float]) -> MotionState:
        """The inverse of :meth:`as_list`."""
        if len(values) != 8 + 64 + 1:
            raise ValueError(f"a motion state has 73 values, got {len(values)}")
        array = np.asarray(values, dtype=np.float64)
        return cls(array[:8], array[8:72].reshape(8, 8), int(array[72]))
