"""Drawing tracking results over the camera image (node overlay topic, demo, bag tool)."""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

from sam2_ros.engine import TrackResult

ALPHA = 0.5


def object_color(object_id: int) -> tuple[int, int, int]:
    """A stable, distinct BGR colour per object id (golden-ratio hues)."""
    hue = (object_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


def draw_overlay(
    rgb: np.ndarray,
    result: TrackResult,
    labels: dict[int, str] | None = None,
    occlusion_threshold: float = 0.5,
) -> np.ndarray:
    """A BGR image: masks blended in each object's colour, outlined, with id, label and
    occlusion state written at the object (or in the corner list when it is not visible)."""
    canvas = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    tint = canvas.copy()
    scale = max(canvas.shape[0], canvas.shape[1]) / 1000.0
    font_scale, thickness = max(0.4, 0.6 * scale), max(1, round(2 * scale))
    for row, object_id in enumerate(result.object_ids):
        mask = result.masks[row]
        color = object_color(object_id)
        tint[mask] = color
        contours, _ = cv2.findContours(
            mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
        )
        cv2.drawContours(canvas, contours, -1, color, thickness)
    blended = cv2.addWeighted(tint, ALPHA, canvas, 1.0 - ALPHA, 0.0)
    for row, object_id in enumerate(result.object_ids):
        occlusion = float(result.occlusion_scores[row])
        state = "occluded" if occlusion > occlusion_threshold else "visible"
        name = (labels or {}).get(object_id, "")
        text = f"#{object_id} {name} {state} {occlusion:.2f}".replace("  ", " ")
        ys, xs = np.nonzero(result.masks[row])
        if len(xs):
            anchor = (int(xs.mean()), int(ys.mean()))
        else:
            anchor = (10, int(30 * scale * (row + 1)) + 10)
        _draw_text(blended, text, anchor, object_color(object_id), font_scale, thickness)
    return blended


def _draw_text(
    image: np.ndarray,
    text: str,
    origin: tuple[int, int],
    color: tuple[int, int, int],
    font_scale: float,
    thickness: int,
) -> None:
    """Text with a dark outline so it reads on any background."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(image, text, origin, font, font_scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(image, text, origin, font, font_scale, color, thickness, cv2.LINE_AA)
