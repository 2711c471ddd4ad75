"""Validating point/box prompts and turning them into SAM 2 point inputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sam2.utils.misc import concat_points

# SAM 2 encodes a box as two corner points with these labels, placed before the clicks.
BOX_TOP_LEFT_LABEL = 2
BOX_BOTTOM_RIGHT_LABEL = 3


class PromptError(ValueError):
    """A prompt that cannot be applied (malformed, out of the image, unknown object, ...)."""


@dataclass(frozen=True)
class Prompt:
    """Clicks and an optional box in source-image pixels, validated."""

    points: np.ndarray  # (P, 2) float32, x right, y down
    labels: np.ndarray  # (P,) int32, 1 foreground / 0 background
    box: np.ndarray | None  # (4,) float32 x_min, y_min, x_max, y_max, clipped to the image


def make_prompt(
    points: Sequence[Sequence[float]] | np.ndarray | None,
    labels: Sequence[int] | np.ndarray | None,
    box: Sequence[float] | np.ndarray | None,
    width: int,
    height: int,
) -> Prompt:
    """Check a prompt against an image of ``width`` x ``height`` pixels.

    Points must be finite and inside the image (``0 <= x <= width``, ``0 <= y <= height``), with
    exactly one label (0 or 1) each. A box must be finite, non-degenerate and overlap the image;
    it is clipped to the image bounds.
    """
    if points is None and labels is not None and len(labels) > 0:
        raise PromptError(f"{len(labels)} labels given without points")
    pts = _as_array(points if points is not None else [], np.float32, "points").reshape(-1, 2)
    lbl = _as_array(labels if labels is not None else [], np.int32, "labels").reshape(-1)
    if len(pts) != len(lbl):
        raise PromptError(f"got {len(pts)} points but {len(lbl)} labels: give one label per point")
    if not np.all(np.isfinite(pts)):
        raise PromptError(f"points contain NaN or infinity: {pts.tolist()}")
    outside = (pts[:, 0] < 0) | (pts[:, 0] > width) | (pts[:, 1] < 0) | (pts[:, 1] > height)
    if np.any(outside):
        raise PromptError(f"points {pts[outside].tolist()} lie outside the {width}x{height} image")
    if np.any((lbl != 0) & (lbl != 1)):
        raise PromptError(f"labels must be 1 (foreground) or 0 (background), got {lbl.tolist()}")
    clipped_box = None if box is None else _check_box(box, width, height)
    if clipped_box is None and len(pts) == 0:
        raise PromptError("empty prompt: give at least one point or a box")
    return Prompt(points=pts, labels=lbl, box=clipped_box)


def _as_array(values: object, dtype: type, name: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise PromptError(f"{name} are not numeric: {err}") from err


def _check_box(box: Sequence[float] | np.ndarray, width: int, height: int) -> np.ndarray:
    arr = _as_array(box, np.float32, "box").reshape(-1)
    if arr.shape != (4,):
        raise PromptError(f"box must have 4 values (x_min, y_min, x_max, y_max), got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise PromptError(f"box contains NaN or infinity: {arr.tolist()}")
    x0, y0, x1, y1 = arr.tolist()
    if x1 <= x0 or y1 <= y0:
        raise PromptError(f"box {arr.tolist()} is degenerate: need x_min < x_max and y_min < y_max")
    clipped = np.array(
        [max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height))], np.float32
    )
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise PromptError(f"box {arr.tolist()} lies outside the {width}x{height} image")
    return clipped


def to_point_inputs(
    prompt: Prompt,
    earlier: dict[str, torch.Tensor] | None,
    width: int,
    height: int,
    image_size: int,
    device: torch.device,
) -> dict[str, torch.Tensor]:
    """SAM 2 ``point_inputs`` in model pixels, appended to ``earlier`` clicks on the same frame.

    A box becomes two corner points (labels 2, 3) placed before the clicks, as SAM 2 was trained.
    """
    coords, labels = prompt.points, prompt.labels
    if prompt.box is not None:
        coords = np.concatenate([prompt.box.reshape(2, 2), coords], axis=0)
        corner_labels = np.array([BOX_TOP_LEFT_LABEL, BOX_BOTTOM_RIGHT_LABEL], np.int32)
        labels = np.concatenate([corner_labels, labels])
    scaled = torch.from_numpy(coords) / torch.tensor([width, height], dtype=torch.float32)
    return concat_points(
        earlier,
        (scaled * image_size).unsqueeze(0).to(device),
        torch.from_numpy(labels).unsqueeze(0).to(device),
    )
